"""Long polling through a durable inbox, so no update Telegram considers delivered is ever lost.

PTB's stock Updater confirms updates (moves the offset) as soon as they are queued in memory. Here
the poller writes each batch to the `inbox` table and commits *before* the next getUpdates call
confirms it; the consumer feeds unhandled rows, in order, to `Application.process_update`, and the
engine marks each row handled in the same transaction as the answer it saved. A repeat delivery of
an update already stored is ignored (INSERT OR IGNORE on update_id).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from aiolimiter import AsyncLimiter
from telegram import Update
from telegram.constants import ParseMode
from telegram.error import (
    Conflict,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot import health, logs
from bot.delivery import flush_outbox, sweep
from bot.telegram_bot import ALLOWED_UPDATES, SWEEP_EVERY, TelegramApp, menus
from flows.app import App
from flows.store.core import StartupProblem, Store

log = logging.getLogger(__name__)
CONCURRENT_PEOPLE = 64  # updates being handled at once (each chat's strictly one at a time)
IN_HAND = 2000  # rows taken from the inbox into memory at most; the rest wait there
# A chat's input allowance: this many updates at once, then one a second. Past it, with a backlog,
# a person waits their turn (told once, kindly; a group silently); everything is kept, in order.
INPUT_RATE = (20.0, 20.0)
BACKLOG = 3  # updates waiting in a chat's chain beyond which its allowance is enforced
RETRY_AFTER = 2.0  # seconds before an update left unhandled (a failed download) is tried again
SHUTDOWN_GRACE = 7.0  # seconds to finish what is in hand after SIGTERM, so a stop takes < 10 s


class InboxRunner:
    def __init__(
        self,
        app: TelegramApp,
        service: App,
        poll_timeout: int = 30,
        receive: Callable[[], Coroutine[Any, Any, None]] | None = None,
        input_rate: tuple[float, float] = INPUT_RATE,
    ) -> None:
        """`receive`, if given, brings updates into the inbox instead of long polling (webhook
        mode: bot/webhook.py); it runs until cancelled and calls `wake()` after each store.
        `input_rate` is a person's allowance: (messages, seconds) handled at once, then paced."""
        self.app = app
        self.receive = receive
        self.service = service
        self.store: Store = service.store
        self.poll_timeout = poll_timeout
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._slots = asyncio.Semaphore(CONCURRENT_PEOPLE)
        self.input_rate = input_rate
        self._queued: set[int] = set()  # update ids taken from the inbox and not yet handled
        self._waiting: dict[int, collections.deque[tuple[int, dict[str, Any]]]] = {}
        self._chains: dict[int, asyncio.Task[None]] = {}  # a running chain per chat
        self._input: dict[int, AsyncLimiter] = {}  # each person's input allowance
        self._told: set[int] = set()  # people told "I'm catching up" in this backlog
        self._flushing: asyncio.Task[None] | None = None
        self._later: dict[int, float] = {}  # update id → when to try it again (a failed download)

    async def _sweep(self, context: Any) -> None:
        """Expired shares end on time even when nobody is talking to the bot; anything due
        that the nudge alarm somehow missed (a clock jump) goes too."""
        try:
            await sweep(self.app.bot, self.service)
        except Exception as exc:  # a failed sweep is tried again next minute
            log.warning("share expiry sweep failed: %s", type(exc).__name__)
        if not self.app.bot_data.alarm.busy:  # 10,000 reminders going out: upkeep goes on
            await self.app.bot_data.alarm.run_due()
        await self._leave_strays()

    async def _leave_strays(self) -> None:
        """Leave groups the bot was added to that nobody registered within an hour."""
        try:
            chats = await self.service.strays()
        except Exception as exc:
            log.warning("could not look for groups to leave: %s", type(exc).__name__)
            return
        for chat in chats:
            try:
                await self.app.bot.leave_chat(chat_id=chat)
            except TelegramError as exc:  # already gone, most likely: nothing more to do
                log.info("could not leave a group: %s", type(exc).__name__)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        """New rows are in the inbox: the consumer looks at once."""
        self._wake.set()

    async def run(self) -> None:
        """Start, poll and consume until `stop()`; then finish the update in hand and shut down."""
        await self._initialize()
        if self._stop.is_set():
            return
        for language, commands in menus(self.service):
            await self.app.bot.set_my_commands(commands, language_code=language)
        if self.receive is None:
            await self.app.bot.delete_webhook()  # getUpdates is refused while a webhook is set
        await self.store.inbox_prune()
        await self.app.start()
        if self.app.job_queue is not None:
            self.app.job_queue.run_repeating(self._sweep, interval=SWEEP_EVERY, first=5)
        # Nudges that fell due while the bot was down go now if still useful (the rest are
        # dropped with a log line); then the alarm is set for the next one.
        catch_up = asyncio.create_task(self.app.bot_data.alarm.run_due(), name="nudges")
        consumer = asyncio.create_task(self._consume(), name="inbox-consumer")
        poller = asyncio.create_task(
            self.receive() if self.receive is not None else self._poll(), name="inbox-receiver"
        )
        stopping = asyncio.create_task(self._stop.wait())
        failure: BaseException | None = None
        try:
            await asyncio.wait({stopping, poller}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            poller.cancel()
            try:
                await poller
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # the receiver could not run (a port in use, say)
                failure = exc
                self._stop.set()
            self._wake.set()
            try:
                # Whatever is cut short here is safe: a unit of work either committed (its
                # replies wait in the outbox for the next start) or never began (its update
                # is still unhandled in the inbox).
                await asyncio.wait_for(consumer, SHUTDOWN_GRACE)
            except TimeoutError:
                log.warning("stopped mid-batch; the rest is kept for the next start")
            catch_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await catch_up
            await self.app.stop()
            await self.app.shutdown()
        if failure is not None:
            raise StartupProblem(f"Updates cannot be received: {failure}") from failure

    async def _initialize(self) -> None:
        """Reach Telegram (getMe); keep trying while the network is down, fail on a bad token."""
        delay = 1.0
        while not self._stop.is_set():
            try:
                await self.app.initialize()
                return
            except InvalidToken as exc:
                raise StartupProblem(
                    "Telegram did not accept TELEGRAM_BOT_TOKEN; check it with @BotFather."
                ) from exc
            except (TimedOut, NetworkError) as exc:
                log.warning(
                    "cannot reach Telegram yet (%s); retrying in %.0f s", type(exc).__name__, delay
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                delay = min(delay * 2, 30.0)

    async def _poll(self) -> None:
        offset = await self.store.inbox_next_offset()
        delay = 1.0
        while not self._stop.is_set():
            try:
                updates = await self.app.bot.get_updates(
                    offset=offset,
                    timeout=self.poll_timeout,
                    allowed_updates=ALLOWED_UPDATES,
                    read_timeout=self.poll_timeout + 10,
                )
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
                continue
            except (TimedOut, NetworkError, Conflict) as exc:
                log.warning(
                    "getUpdates failed (%s); trying again in %.0f s", type(exc).__name__, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = 1.0
            if not updates:
                continue
            await self.store.inbox_add(
                [(u.update_id, json.dumps(u.to_dict()).encode("utf-8")) for u in updates]
            )
            # Only now, with the batch committed, may the next call confirm it.
            offset = max(u.update_id for u in updates) + 1
            self._wake.set()

    async def _consume(self) -> None:
        """Take unhandled rows from the inbox and hand each to its chat's chain; never wait for
        any one chat. Each chat's rows run strictly in order, one chain per chat, so a chat
        waiting on Telegram (a group's 20 a minute, a person's own pace) holds up only itself.

        Replies left in the outbox by the last run go first, before any new update is taken (so
        each chat hears them in order); later leftovers (a network failure) go beside it.
        """
        await self._flush()
        while not self._stop.is_set():
            self._flush_in_background()
            rows: list[tuple[int, bytes]] = []
            if len(self._queued) < IN_HAND:
                now = asyncio.get_running_loop().time()
                self._later = {u: at for u, at in self._later.items() if at > now}
                skip = self._queued | self._later.keys()
                rows = await self.store.inbox_unhandled(limit=100, skip=skip)
                self._dispatch(rows)
            if len(rows) == 100 and len(self._queued) < IN_HAND:
                continue  # more may be waiting
            if not self._chains:
                await self.store.flush_sent()  # the inbox is empty: sent rows leave at once
            await self._wake.wait()
            self._wake.clear()
        # Stopping: finish what each chain has in hand (it takes nothing new), then go.
        await asyncio.gather(*self._chains.values(), return_exceptions=True)
        if self._flushing is not None:
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing
        await self.store.flush_sent()

    def _flush_in_background(self) -> None:
        """Send what was saved but not sent (after a crash or a network failure), beside the
        consumer rather than in front of it: one slow chat's leftovers never hold up the inbox."""
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush(), name="outbox-flush")

    async def _flush(self) -> None:
        try:
            await flush_outbox(self.app.bot, self.service)
        except (TimedOut, NetworkError) as exc:
            log.warning("could not send saved replies yet (%s)", type(exc).__name__)

    def _dispatch(self, rows: list[tuple[int, bytes]]) -> list[asyncio.Task[None]]:
        """Queue each row on its chat's chain, starting the chain if it is not running."""
        touched: dict[int, asyncio.Task[None]] = {}
        for update_id, raw in rows:
            if update_id in self._queued:
                continue
            data = json.loads(raw)
            key = _chat_key(data)
            self._queued.add(update_id)
            self._waiting.setdefault(key, collections.deque()).append((update_id, data))
            chain = self._chains.get(key)
            if chain is None:
                chain = asyncio.create_task(self._chain(key), name="inbox-chain")
                self._chains[key] = chain
            touched[key] = chain
        return list(touched.values())

    async def process_batch(self, rows: list[tuple[int, bytes]]) -> None:
        """Hand these rows to their chains and wait until they are handled (tests, benchmarks)."""
        await asyncio.gather(*self._dispatch(rows))

    async def _chain(self, key: int) -> None:
        """One chat's rows, in order, until none are left (or the bot is stopping)."""
        waiting = self._waiting[key]
        try:
            while waiting and not self._stop.is_set():
                update_id, data = waiting[0]
                if key != 0 and not await self._paced(key, data, backlog=len(waiting) > BACKLOG):
                    break  # stopping while this person waited their turn: kept for next start
                async with self._slots:
                    await self.handle_row(update_id, data)
                if update_id in self.app.bot_data.later:
                    # It could not begin (a voice note's download failed): it stays in the
                    # inbox, and the consumer takes it again once the network has had a moment.
                    self.app.bot_data.later.discard(update_id)
                    loop = asyncio.get_running_loop()
                    self._later[update_id] = loop.time() + RETRY_AFTER
                    loop.call_later(RETRY_AFTER, self._wake.set)
                waiting.popleft()
                self._queued.discard(update_id)
                if len(self._queued) == IN_HAND - 1:
                    self._wake.set()  # room again: the consumer may take more
        finally:
            for update_id, _ in waiting:
                self._queued.discard(update_id)
            del self._waiting[key]
            del self._chains[key]
            self._told.discard(key)
            if not self._chains:
                self._wake.set()  # all quiet: the consumer commits what was sent

    async def _paced(self, key: int, data: dict[str, Any], backlog: bool) -> bool:
        """A chat's fair share. Every update it sends counts against its `input_rate`; only
        when it has a backlog (more than BACKLOG updates waiting: a flood, not a conversation)
        and is past its allowance does it wait its turn, a person told once ("I'm catching up –
        everything you send is kept"). Nothing is dropped. False if the bot began stopping
        while they waited."""
        limiter = self._input.get(key)
        if limiter is None:
            if len(self._input) > 4 * IN_HAND:  # forget people whose allowance is full again
                for person in [k for k, v in self._input.items() if v.has_capacity(v.max_rate)]:
                    del self._input[person]
            limiter = self._input[key] = AsyncLimiter(*self.input_rate)
        if limiter.has_capacity():
            await limiter.acquire()
            return True
        if not backlog:
            return True  # one message at a time, however quick: a conversation goes on
        if key > 0 and key not in self._told:  # a person (a group is not told)
            self._told.add(key)
            await self._catching_up(key, data)
        turn = asyncio.ensure_future(limiter.acquire())
        stopping = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({turn, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not turn.done():
            turn.cancel()
            return False
        return True

    async def _catching_up(self, chat_id: int, data: dict[str, Any]) -> None:
        """The one kind line to someone sending faster than their share (not a saved answer:
        if it is lost nothing is, since every message they sent is kept in the inbox)."""
        sender = next((v.get("from") for v in data.values() if isinstance(v, dict)), None) or {}
        cat = self.service.catalogue.for_language(sender.get("language_code"))
        try:
            await self.app.bot.send_message(
                chat_id=chat_id, text=cat.say("catching_up"), parse_mode=ParseMode.HTML
            )
        except TelegramError as exc:
            log.info("could not say we are catching up: %s", type(exc).__name__)

    async def handle_row(self, update_id: int, data: dict[str, Any]) -> None:
        """One stored update through the Application; marked handled here if the engine did not.

        (Updates that are not a person talking to us, or whose handling failed, are marked here:
        a failure has already been logged and apologised for, and retrying it for ever would
        stop everything behind it.)
        """
        started = time.monotonic()
        try:
            await self.app.process_update(Update.de_json(data, self.app.bot))
            health.UPDATES.inc()
            health.LATENCY.observe(time.monotonic() - started)
        except Exception as exc:  # unreadable even to PTB: log its kind, never its content
            log.error(
                "update could not be processed: %s",
                type(exc).__name__,
                extra=logs.fields(update=update_id, person=logs.person(_chat_key(data) or None)),
            )
        else:
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "update handled",
                    extra=logs.fields(
                        update=update_id,
                        kind=_kind(data),
                        person=logs.person(_chat_key(data) or None),
                    ),
                )
        if update_id in self.app.bot_data.later:  # it could not begin: its chain tries again
            pass
        elif update_id in self.store.marked:
            self.store.marked.discard(update_id)
        else:
            await self.store.inbox_mark_handled(update_id)


def _chat_key(data: dict[str, Any]) -> int:
    """Whose update this is, so each person's updates keep their order (0: not a person's)."""
    try:
        for kind in ("message", "edited_message", "my_chat_member"):
            if kind in data:
                return int(data[kind]["chat"]["id"])
        if "callback_query" in data:
            return int(data["callback_query"]["from"]["id"])
    except (KeyError, TypeError, ValueError):
        pass
    return 0


def _kind(data: dict[str, Any]) -> str:
    return next((k for k in data if k != "update_id"), "empty")


def _seconds(value: float | timedelta) -> float:
    """RetryAfter.retry_after: seconds, or a timedelta once PTB's timedelta switch is on."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
