"""Sending at the speed Telegram allows: its documented limits as leaky buckets (aiolimiter),
with replies to someone waiting ahead of reminders.

Telegram's limits (core.telegram.org/bots/faq): about 30 messages a second across all chats
(short bursts tolerated), about one a second in one chat, 20 a minute in one group. Past them it
answers 429 with a `retry_after`.

What is counted, and how (each bucket an `aiolimiter.AsyncLimiter`):
- every call that puts something in a chat (send*, copy/forward, and edits) takes a place in the
  overall bucket: 30 a second, a burst of up to OVERALL_BURST at once;
- in a group it also takes a place in that group's bucket: 20 a minute (a burst of GROUP_BURST);
- in a private chat, a new message takes a place in that chat's bucket: a burst of CHAT_BURST,
  then one a second. An edit does not (it is the answer to a press, and replaces, not adds);
- not counted at all: answerCallbackQuery (answering a press), getChatMember, deleteMessage,
  getMe, setMyCommands, webhooks and getUpdates. Telegram documents no limit for them.

Who goes first: everything sent while `bulk()` is in force (reminders, digests, expiry notices)
takes the overall bucket only when nobody else is waiting for it and it has room to spare
(RESERVE places stay free for replies), one bulk message at a time. So a reply to someone who is
waiting, and the edit of a message just pressed, never queue behind bulk traffic, while bulk
still uses whatever replies leave (at a steady 30 a second when nobody is talking).

A 429 stops everything for its `retry_after` (Telegram's limit is on the bot, not one call) and
the call is tried again, up to MAX_RETRIES times; after that it fails, and the outbox row it
came from stays for the next flush: nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from aiolimiter import AsyncLimiter
from telegram._utils.types import JSONDict
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

OVERALL_RATE = 30.0  # messages a second across all chats
# A burst below Telegram's own tolerance (about 30). We count a call when it leaves this
# limiter; Telegram counts it when it arrives. Calls held up on their way (the event loop busy,
# the machine or the network slow) arrive together with those that left after them, and the
# places between the two bursts are what absorbs that: 30 - 20 = 10 places, a third of a
# second of holding up (25 left 167 ms; bench/fair.py saw arrivals bunch past our own burst,
# and one 429 stops all sending for over a second). The steady rate is Telegram's 30 a second
# either way; only the first few of a sudden crowd of replies wait a little longer.
OVERALL_BURST = 20
GROUP_RATE = 20.0 / 60.0  # a second, in one group
GROUP_BURST = 18
CHAT_RATE = 1.0  # a second, in one private chat, after its burst
CHAT_BURST = 30
RESERVE = 3  # places in the overall bucket bulk sending leaves for replies
MAX_RETRIES = 3
_KEEP = 1024  # per-chat buckets kept before idle ones are forgotten

_bulk: contextvars.ContextVar[bool] = contextvars.ContextVar("coreflect_bulk", default=False)


@contextlib.contextmanager
def bulk() -> Iterator[None]:
    """Everything sent in this context (and tasks started from it) uses only spare capacity."""
    token = _bulk.set(True)
    try:
        yield
    finally:
        _bulk.reset(token)


def counted(endpoint: str) -> bool:
    """Does this call put something in a chat (and so count against Telegram's limits)?"""
    return endpoint.startswith(("send", "copyMessage", "forwardMessage", "editMessage"))


def _bucket(burst: float, rate: float) -> AsyncLimiter:
    """A leaky bucket letting `burst` through at once, then `rate` a second."""
    return AsyncLimiter(max_rate=burst, time_period=burst / rate)


class TelegramLimits(BaseRateLimiter[int]):
    """PTB's rate-limiter interface over Telegram's limits; `rate_limit_args` is unused."""

    def __init__(
        self,
        overall_rate: float = OVERALL_RATE,
        overall_burst: int = OVERALL_BURST,
        chat_rate: float = CHAT_RATE,
    ) -> None:
        """`chat_rate`: a private chat's pace after its burst (tests talk faster than anyone)."""
        self.overall = _bucket(overall_burst, overall_rate)
        self._chat_rate = chat_rate
        self._reserve = min(RESERVE, overall_burst - 1)
        self._tick = 1.0 / (3 * overall_rate)  # how often waiting bulk looks for room
        self.groups: dict[int | str, AsyncLimiter] = {}
        self.chats: dict[int | str, AsyncLimiter] = {}
        self._urgent = 0  # replies waiting for the overall bucket
        self._bulk_turn = asyncio.Lock()  # one bulk message waits at a time
        self._open = asyncio.Event()  # cleared while a 429's retry_after runs
        self._open.set()
        self.retried = 0  # 429s seen (for the benchmark)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        for attempt in range(MAX_RETRIES + 1):
            await self._open.wait()
            if counted(endpoint) and "chat_id" in data:
                await self._take(endpoint, data["chat_id"])
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                self.retried += 1
                if attempt == MAX_RETRIES:
                    raise
                wait = _seconds(exc.retry_after) + 0.1
                log.info("Telegram asked us to wait %.1f s", wait)
                self._open.clear()
                try:
                    await asyncio.sleep(wait)
                finally:
                    self._open.set()
        raise AssertionError("unreachable")

    async def _take(self, endpoint: str, chat: Any) -> None:
        """A place in each bucket this call counts against: its chat's, then the overall one."""
        key: int | str = chat
        with contextlib.suppress(TypeError, ValueError):
            key = int(chat)
        group = isinstance(key, str) or key < 0
        if group:
            await self._of(self.groups, key, GROUP_BURST, GROUP_RATE).acquire()
        elif not endpoint.startswith("editMessage"):
            await self._of(self.chats, key, CHAT_BURST, self._chat_rate).acquire()
        if _bulk.get():
            await self._spare()
            return
        self._urgent += 1
        try:
            await self.overall.acquire()
        finally:
            self._urgent -= 1

    async def _spare(self) -> None:
        """A place in the overall bucket that no reply wants, keeping RESERVE free."""
        async with self._bulk_turn:
            while self._urgent or not self.overall.has_capacity(1 + self._reserve):
                await asyncio.sleep(self._tick)
            await self.overall.acquire()  # at once: it has room

    @staticmethod
    def _of(
        buckets: dict[int | str, AsyncLimiter], key: int | str, burst: int, rate: float
    ) -> AsyncLimiter:
        found = buckets.get(key)
        if found is None:
            if len(buckets) > _KEEP:  # forget chats whose bucket has emptied
                for idle in [k for k, b in buckets.items() if b.has_capacity(b.max_rate)]:
                    del buckets[idle]
            found = buckets[key] = _bucket(burst, rate)
        return found


def _seconds(value: Any) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)
