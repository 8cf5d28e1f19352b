"""A fake Bot API server on 127.0.0.1, for tests that go over real HTTP.

It exercises what the in-process RecordingRequest cannot: PTB's real HTTPX
layer, form and multipart encoding, and long polling with getUpdates offsets,
so restarts and update confirmation behave as they would against Telegram.
Answers come from tests.offline.Responder so both fakes agree.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests import botapi
from tests.offline import OFFLINE_FILE, Call, Responder, drop_attached, ok, texts

_PATH = re.compile(r"^/bot([^/]+)/([A-Za-z]+)$")
# Long polls wake at least this often, so stop() never waits out a client's timeout.
_POLL_SLICE = 0.05

Predicate = Callable[[list[Call]], bool]


class FakeBotAPI:
    """Records, validates and answers Bot API calls; getUpdates serves pushed updates.

    Use as a context manager, point PTB at base_url, push() updates and inspect calls.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        duplicate_rate: float = 0.0,
        seed: int = 0,
        reject_invalid: bool = False,
        redeliver_rate: float = 0.0,
        shuffle_rate: float = 0.0,
        limits: bool = False,
    ) -> None:
        """token=None accepts any token; duplicate_rate is the chance that a
        confirmation is lost, so an update is delivered again (at-least-once);
        reject_invalid answers invalid calls with 400, as Telegram would.
        redeliver_rate: each confirmed update's chance of being delivered once more, at a
        random place in a later batch; shuffle_rate: a batch's chance of coming out of order.
        limits: answer 429 (with retry_after) past Telegram's documented limits, as Telegram
        does: 30 messages a second overall and 20 a minute in a group, each a bucket that
        tolerates a burst of its size (see TelegramLimitsModel); `refused` counts the 429s."""
        self.token = token
        self.duplicate_rate = duplicate_rate
        self.redeliver_rate = redeliver_rate
        self.shuffle_rate = shuffle_rate
        self.redelivered = 0
        self.get_updates_calls = 0
        self.shuffled = 0
        self.delivered_at: dict[int, float] = {}  # update_id -> when getUpdates first returned it
        self._redelivered_ids: set[int] = set()
        self._by_chat: dict[str, list[Sent]] = {}
        self.reject_invalid = reject_invalid
        self.limits = TelegramLimitsModel() if limits else None
        self.refused = 0
        self.confirmed_below = 0
        self.violations: list[str] = []
        self.responder = Responder()
        # Holding a method: past its first `hold_after[method]` calls, each waits (unanswered,
        # as a slow Telegram) until `release` is set; `held` counts the calls waiting so far.
        self.hold_after: dict[str, int] = {}
        self.release = threading.Event()
        self.held = 0
        self._hold_seen: dict[str, int] = {}
        # As Telegram does: deleting a message already deleted is refused ("not found").
        self.refuse_repeat_deletes = False
        self._deleted: set[tuple[str, Any]] = set()
        self._random = random.Random(seed)
        self._cond = threading.Condition()
        self._calls: list[Call] = []
        self._pending: list[dict[str, Any]] = []  # kept sorted by update_id
        self._stopping = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    def start(self) -> FakeBotAPI:
        """Listen on an OS-chosen port and serve from a daemon thread."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._stopping = False
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake long polls and shut the server down."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeBotAPI is not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """For Bot(token, base_url=...): PTB appends the token and the method."""
        return f"http://127.0.0.1:{self.port}/bot"

    # --- test-facing helpers ---

    @property
    def calls(self) -> list[Call]:
        """A snapshot of every call so far, in arrival order."""
        with self._cond:
            return list(self._calls)

    def push(self, update: dict[str, Any]) -> None:
        """Queue an incoming update; the test chooses its update_id."""
        self.push_all([update])

    def push_all(self, updates: list[dict[str, Any]]) -> None:
        """Queue several updates at once: a getUpdates call sees all of them or none."""
        with self._cond:
            for update in updates:
                ids = [u["update_id"] for u in self._pending]
                self._pending.insert(bisect.bisect_right(ids, update["update_id"]), update)
            self._cond.notify_all()

    @property
    def pending(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates offset."""
        with self._cond:
            return list(self._pending)

    def wait_for(self, predicate: Predicate, timeout: float = 5.0) -> bool:
        """Block until predicate(calls) holds; False on timeout.

        Blocks the thread, so use it when the bot runs elsewhere (another
        thread or process); from the bot's own event loop use until().
        """
        deadline = time.monotonic() + timeout
        while not predicate(self.calls):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._cond:
                self._cond.wait(min(remaining, _POLL_SLICE))
        return True

    async def until(self, predicate: Predicate, timeout: float = 5.0) -> bool:
        """wait_for for use inside an event loop that also runs the bot."""
        deadline = time.monotonic() + timeout
        while not predicate(self.calls):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def sent_texts(self, chat_id: int | str) -> list[str]:
        """Texts of sendMessage calls to chat_id, in order."""
        return texts(self.calls, chat_id)

    def assert_valid(self) -> None:
        """Fail the test with every Bot API violation seen so far."""
        problems = list(self.violations)
        assert not problems, "invalid Bot API calls:\n  " + "\n  ".join(problems)

    # --- serving ---

    def handle(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, bytes]:
        """Record and answer one call; runs on a server thread."""
        if method in self.hold_after:
            with self._cond:
                seen = self._hold_seen[method] = self._hold_seen.get(method, 0) + 1
                hold = seen > self.hold_after[method] and not self.release.is_set()
                self.held += hold
                self._cond.notify_all()
            if hold:
                self.release.wait(timeout=60)
        with self._cond:
            problems = botapi.violations(method, params)
            self._calls.append(Call(method, params))
            self.get_updates_calls += method == "getUpdates"
            self.violations += problems
            self._cond.notify_all()
            if self.token is not None and token != self.token:
                return 401, _error(401, "Unauthorized")
            if self.reject_invalid and problems:
                return 400, _error(400, f"Bad Request: {problems[0]}")
            if self.limits is not None and "chat_id" in params:
                wait = self.limits.refuse(method, params["chat_id"], time.monotonic())
                if wait:
                    self.refused += 1
                    return 429, _too_many(wait)
            if method == "deleteMessage" and self.refuse_repeat_deletes:
                deleting = (str(params.get("chat_id")), params.get("message_id"))
                if deleting in self._deleted:
                    return 400, _error(400, "Bad Request: message to delete not found")
                self._deleted.add(deleting)
            if method == "deleteWebhook" and params.get("drop_pending_updates"):
                self._pending.clear()
            if method != "getUpdates":
                result = self.responder.answer(method, params)
                if "chat_id" in params:
                    sent = Sent(time.monotonic(), method, params, result)
                    self._by_chat.setdefault(str(params["chat_id"]), []).append(sent)
                return 200, ok(result)
        return 200, ok(self._get_updates(params))

    def sent_calls(self) -> list[Sent]:
        """Every call accepted to any chat, with when it came."""
        with self._cond:
            return [s for chat in self._by_chat.values() for s in chat]

    def sent_to(self, chat_id: int | str) -> list[Sent]:
        """Every call addressed to chat_id, with when it came and what it was answered."""
        with self._cond:
            return list(self._by_chat.get(str(chat_id), []))

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """getUpdates as Telegram does it: confirm below offset, then long-poll."""
        offset, limit = params.get("offset"), params.get("limit") or 100
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        with self._cond:
            if isinstance(offset, int):
                self._confirm(offset)
            while not self._pending and not self._stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, _POLL_SLICE))
            batch = [dict(u) for u in self._pending[:limit]]
            now = time.monotonic()
            for u in batch:
                self.delivered_at.setdefault(u["update_id"], now)
            if len(batch) > 1 and self._random.random() < self.shuffle_rate:
                self._random.shuffle(batch)
                self.shuffled += 1
            return batch

    def _confirm(self, offset: int) -> None:
        if offset < 0:  # the last -offset updates stay; earlier ones are forgotten
            offset = self._pending[offset]["update_id"] if -offset <= len(self._pending) else 0
        kept = [u for u in self._pending if u["update_id"] >= offset]
        confirmed = [u for u in self._pending if u["update_id"] < offset]
        if confirmed and self._random.random() < self.duplicate_rate:
            kept.insert(0, self._random.choice(confirmed))  # this confirmation got lost
        for u in confirmed:
            if (
                self.redeliver_rate
                and u["update_id"] not in self._redelivered_ids
                and self._random.random() < self.redeliver_rate
            ):
                self._redelivered_ids.add(u["update_id"])
                self.redelivered += 1
                kept.insert(self._random.randint(0, len(kept)), u)  # delivered twice
        self._pending = kept
        self.confirmed_below = max(self.confirmed_below, offset)


@dataclass
class Sent:
    """One call to a chat as the fake saw it: when, what, and the result it answered."""

    at: float
    method: str
    params: dict[str, Any]
    result: Any

    @property
    def message_id(self) -> int | None:
        if isinstance(self.result, dict) and "message_id" in self.result:
            return int(self.result["message_id"])
        return None

    @property
    def buttons(self) -> list[tuple[str, str]]:
        markup = self.params.get("reply_markup")
        if isinstance(markup, str) and markup.startswith("{"):
            markup = json.loads(markup)
        if not isinstance(markup, dict):
            return []
        rows = markup.get("inline_keyboard") or []
        return [(b.get("text", ""), b.get("callback_data", "")) for row in rows for b in row]


class TelegramLimitsModel:
    """Telegram's documented limits as the fake enforces them: every call that puts something
    in a chat (send*, copy/forward, edits) counts against 30 a second overall, and in a group
    (a negative chat id) against 20 a minute too. Each is a bucket that fills by one a call and
    drains at its rate (a sliding count, not fixed one-second windows, which would let 60 through
    across a window's edge); a call that would overflow either is refused and not counted.

    Not modelled: Telegram's "about one message a second in one chat, with short bursts". How
    long a burst it allows is not documented, so the fake would only be checking a guess (our
    own, bot/limits.py CHAT_BURST); bench/fair.py keeps each person's messages within that burst
    instead, so it holds back neither bot there."""

    OVERALL = (30.0, 30.0)  # (size: the burst tolerated, drained a second)
    GROUP = (20.0, 20.0 / 60.0)

    def __init__(self) -> None:
        self.levels: dict[object, tuple[float, float]] = {}  # key -> (level, at)
        self.refusals: Counter[tuple[str, str]] = Counter()  # (method, "all" or "group") -> n
        self.refused_at: list[float] = []  # when each 429 was answered
        self.peak = 0.0  # the fullest the overall bucket has been (of OVERALL's size)

    def refuse(self, method: str, chat_id: Any, now: float) -> int:
        """Seconds to wait (Telegram's retry_after) if this call is over a limit, else 0."""
        if not method.startswith(("send", "copyMessage", "forwardMessage", "editMessage")):
            return 0
        keys: list[tuple[object, tuple[float, float]]] = [("all", self.OVERALL)]
        if str(chat_id).startswith("-"):
            keys.append((str(chat_id), self.GROUP))
        drained = {}
        for key, (size, rate) in keys:
            level, at = self.levels.get(key, (0.0, now))
            drained[key] = max(0.0, level - (now - at) * rate)
            if drained[key] + 1 > size:
                self.refusals[(method, "all" if key == "all" else "group")] += 1
                self.refused_at.append(now)
                return max(1, int((drained[key] + 1 - size) / rate + 0.999))
        for key, _ in keys:
            self.levels[key] = (drained[key] + 1, now)
        self.peak = max(self.peak, drained["all"] + 1)
        return 0


def _too_many(seconds: int) -> bytes:
    return json.dumps(
        {
            "ok": False,
            "error_code": 429,
            "description": f"Too Many Requests: retry after {seconds}",
            "parameters": {"retry_after": seconds},
        }
    ).encode()


def _error(code: int, description: str) -> bytes:
    return json.dumps({"ok": False, "error_code": code, "description": description}).encode()


class _Handler(BaseHTTPRequestHandler):
    """Parses /bot<token>/<method> requests in any of the encodings PTB or curl use."""

    server: ThreadingHTTPServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def _serve(self) -> None:
        url = urlsplit(self.path)
        m = _PATH.match(url.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if len(body) < length:
            return  # the client died mid-request (SIGKILL): Telegram would not act on it either
        fake: FakeBotAPI = self.server.fake  # type: ignore[attr-defined]
        if url.path.startswith("/file/bot"):  # a download after getFile: the bytes a test gave
            file_id = url.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            self._reply(200, fake.responder.files.get(file_id, OFFLINE_FILE))
            return
        if m is None:
            self._reply(404, _error(404, "Not Found"))
            return
        token, method = m.groups()
        try:
            raw = dict(parse_qsl(url.query, keep_blank_values=True))
            raw.update(_parse_body(self.headers.get("Content-Type", ""), body))
        except ValueError as exc:
            self._reply(400, _error(400, f"Bad Request: {exc}"))
            return
        self._reply(*fake.handle(token, method, drop_attached(botapi.decode_params(method, raw))))

    def _reply(self, code: int, payload: bytes) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # PTB cancelled a long poll on shutdown; nobody is listening any more


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """Form, multipart or JSON body to a flat dict of raw values (files as Upload)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return {}
    if kind == "application/json":
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("JSON body must be an object")
        return data
    if kind == "multipart/form-data":
        m = re.search(r'boundary="?([^";]+)"?', content_type)
        if m is None:
            raise ValueError("multipart body without a boundary")
        return _parse_multipart(body, m.group(1).encode("latin-1"))
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))


def _parse_multipart(body: bytes, boundary: bytes) -> dict[str, Any]:
    """A small exact multipart/form-data parser; the email module mangles line endings."""
    out: dict[str, Any] = {}
    for part in body.split(b"--" + boundary)[1:]:
        if part.startswith(b"--"):
            break  # closing delimiter
        head, sep, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("malformed multipart part")
        content = content.removesuffix(b"\r\n")
        headers = head.decode("utf-8")
        name = re.search(r'\bname="([^"]*)"', headers)
        if name is None:
            raise ValueError("multipart part without a name")
        filename = re.search(r'\bfilename="([^"]*)"', headers)
        ctype = re.search(r"(?im)^content-type:\s*(\S+)", headers)
        if filename is None:
            out[name.group(1)] = content.decode("utf-8")
        else:
            mime = ctype.group(1) if ctype else "application/octet-stream"
            out[name.group(1)] = botapi.Upload(filename.group(1), len(content), mime, content)
    return out
