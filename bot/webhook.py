"""Webhook mode: Telegram POSTs each update to us; we answer 200 only once it is in the inbox.

The same durable-inbox promise as long polling: Telegram keeps an update (and retries it) until
it gets a 2xx, so the 200 goes out only after the update is committed to the `inbox` table the
poller would have used; the consumer in bot/inbox.py takes it from there. A repeat delivery (we
stored it, the 200 was lost) is ignored by update_id, as in polling.

Every request must be a POST to the webhook address's path and carry the secret given to
setWebhook in `X-Telegram-Bot-Api-Secret-Token`, compared in constant time. All three are checked
from the request line and headers (16 KiB at most, together) before any of the body is read;
anything else is answered (405, 404, 403) and the connection closed. Malformed requests get
their 4xx (400, 411, 413, 414, 431, 408 past the deadline), never an exception; at most
MAX_OPEN connections are held open, and from any one address at most MAX_OPEN_PER_PEER (and
MAX_SILENT_PER_PEER that never sent a byte); refusals are logged together, at most once a minute.

A deliberately small HTTP/1.1 server on asyncio streams (keep-alive, Content-Length bodies only,
which is what Telegram sends): one less dependency than aiohttp, and nothing here needs more. It
speaks plain HTTP: put it behind a reverse proxy that terminates TLS (Telegram only calls https).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import math
import re
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from bot import logs
from bot.config import Config, check_webhook_secret
from flows.store.core import Store

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # Telegram's updates are far smaller; anything bigger is not from Telegram
MAX_HEADER_BYTES = 16 * 1024  # the request line and every header line together
MAX_LENGTH_DIGITS = 7  # Content-Length: enough for MAX_BODY, and no more
IDLE_TIMEOUT = 75.0  # seconds a kept-alive connection may sit idle
CROWDED_IDLE_TIMEOUT = 5.0  # the same, while more connections are open than Telegram uses
REQUEST_DEADLINE = 20.0  # seconds from a request's first byte to its last
IN_FLIGHT_GRACE = 1.5  # seconds for stores under way to finish (and answer 200) on shutdown
MAX_CONNECTIONS = 40  # setWebhook's max_connections: Telegram's default
MAX_OPEN = 2 * MAX_CONNECTIONS  # connections held open at once; more are answered 503 and closed
# From one address (Telegram's, or the reverse proxy's): at most this many open at once (past
# it, its oldest idle one is closed to make room, else 503), and at most this many silent ones,
# connected but never sending a byte (past it, its oldest silent one is closed). So one address
# cannot take every place with connections that sit silent or trickle a request in. Telegram
# sends its request as soon as it connects, and only a connection that has had its 200 (so knows
# the secret) is kept alive: its keep-alive connections, up to MAX_CONNECTIONS, all still fit.
# Only a connection waiting for IDLE_GRACE seconds is closed so: a burst of new connections
# (their first bytes on their way) is never mistaken for silent ones.
MAX_OPEN_PER_PEER = MAX_CONNECTIONS
MAX_SILENT_PER_PEER = 8
IDLE_GRACE = 1.0
LINGER = 1.0  # seconds, and LINGER_CHUNKS reads, to discard what follows a refused request
LINGER_CHUNKS = 8
REFUSED_LOG_EVERY = 60.0  # seconds: refused requests are logged together, at most this often

_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP method or header name


class _Refused(Exception):
    """A request answered with `status` before (or instead of) reading the rest of it."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Answered(Exception):
    """A GET for a health path, answered with this instead of the webhook's empty 200."""

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        super().__init__(status)
        self.status, self.type, self.body = status, content_type, body


class RefusalLog:
    """Counts refused requests and logs them together, at most once a `every` seconds, so a
    flood of bad requests cannot flood the log."""

    def __init__(self, every: float = REFUSED_LOG_EVERY) -> None:
        self.every = every
        self.counts: Counter[int] = Counter()
        self._last = -math.inf

    def refused(self, status: int, now: float | None = None) -> None:
        self.counts[status] += 1
        now = time.monotonic() if now is None else now
        if now - self._last >= self.every:
            self._last = now
            self.flush()

    def flush(self) -> None:
        if self.counts:
            counts = ", ".join(f"{n}× {s}" for s, n in sorted(self.counts.items()))
            log.warning("webhook requests refused: %s", counts)
            self.counts.clear()


class WebhookReceiver:
    """Listens for Telegram's POSTs and stores each update before answering it."""

    def __init__(
        self,
        store: Store,
        config: Config,
        wake: Callable[[], None],
        secret: str | None = None,
        health: Callable[[str], Awaitable[tuple[int, str, bytes] | None]] | None = None,
    ) -> None:
        self.store = store
        self.health = health  # /healthz, /readyz, /metrics on the same server (bot/health.py)
        self.url = config.webhook_url or ""
        self.host = config.webhook_listen
        self.port = config.webhook_port
        self.secret = secret or config.webhook_secret or secrets.token_urlsafe(32)
        check_webhook_secret(self.secret)
        self._secret_bytes = self.secret.encode("ascii")
        parts = urlsplit(self.url)
        # Telegram asks for exactly the address it was given (a reverse proxy passes it on).
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.refusals = RefusalLog()
        self._wake = wake
        self._server: asyncio.Server | None = None
        self._stopping = False
        self._storing: set[asyncio.Task[Any]] = set()
        self._connections: set[asyncio.Task[Any]] = set()
        self._peers: Counter[str] = Counter()  # open connections from each address
        # Per address, the connections waiting for a request: since when, and whether they have
        # never sent a byte (silent), oldest first.
        self._idle: dict[str, dict[asyncio.Task[Any], tuple[float, bool]]] = {}
        self.bound = asyncio.Event()
        self.stored = 0  # updates stored (repeats included), for tests and benchmarks

    @property
    def bound_port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def serve(self, bot: Any, allowed_updates: list[str]) -> None:
        """Listen, then tell Telegram where we are; run until cancelled, then close gently."""
        self._server = await asyncio.start_server(
            self._connection, self.host, self.port, limit=MAX_HEADER_BYTES
        )
        self.bound.set()
        try:
            await bot.set_webhook(
                url=self.url,
                secret_token=self.secret,
                allowed_updates=allowed_updates,
                max_connections=MAX_CONNECTIONS,
            )
            log.info(
                "webhook set; listening",
                extra=logs.fields(listen=f"{self.host}:{self.bound_port}"),
            )
            await asyncio.Event().wait()
        finally:
            await self._close()

    async def _close(self) -> None:
        """No new connections; stores under way finish (so their 200 goes out); then stop."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        if self._storing:
            await asyncio.wait(set(self._storing), timeout=IN_FLIGHT_GRACE)
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(set(self._connections), timeout=1.0)
        self.refusals.flush()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = _peer(writer)
        counted = False
        try:
            if len(self._connections) >= MAX_OPEN or (
                self._peers[peer] >= MAX_OPEN_PER_PEER and not self._close_idle(peer)
            ):
                self.refusals.refused(503)  # Telegram tries again; it never needs this many
                await _respond(writer, 503, keep_alive=False)
                await _linger(reader, writer)
                return
            self._connections.add(task)
            self._peers[peer] += 1
            counted = True
            silent = True
            while not self._stopping:
                # Idle connections beyond what Telegram opens are closed sooner.
                crowded = len(self._connections) > MAX_CONNECTIONS
                idle = self._idle.setdefault(peer, {})
                idle[task] = (time.monotonic(), silent)
                if silent and sum(s for _, s in idle.values()) > MAX_SILENT_PER_PEER:
                    self._close_idle(peer, silent_only=True)
                silent = False
                try:
                    async with asyncio.timeout(CROWDED_IDLE_TIMEOUT if crowded else IDLE_TIMEOUT):
                        first = await reader.read(1)  # the next request, or an idle hang-up
                except TimeoutError:
                    return
                finally:
                    idle.pop(task, None)
                if not first:
                    return
                try:
                    async with asyncio.timeout(REQUEST_DEADLINE):
                        status, keep = await self._request(first, reader)
                except _Answered as answer:  # a health check: answered, then closed
                    await _respond(writer, answer.status, False, answer.body, answer.type)
                    return
                except _Refused as refused:
                    status, keep = refused.status, False
                except TimeoutError:
                    status, keep = 408, False
                if status != 200:
                    self.refusals.refused(status)
                keep = keep and not self._stopping
                await _respond(writer, status, keep_alive=keep)
                if not keep:
                    if status != 200:
                        await _linger(reader, writer)
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        except Exception as exc:  # never let a request take the server down or flood the log
            self.refusals.refused(500)
            log.debug("webhook connection dropped: %s", type(exc).__name__)
        finally:
            self._connections.discard(task)
            if counted:
                self._peers[peer] -= 1
                if self._peers[peer] <= 0:
                    del self._peers[peer]
            if not self._idle.get(peer, True):
                del self._idle[peer]
            with contextlib.suppress(Exception):
                writer.close()

    def _close_idle(self, peer: str, silent_only: bool = False) -> bool:
        """Close the oldest connection from `peer` waiting for a request for IDLE_GRACE at least
        (that request has not begun, so nothing is lost); False if it has none."""
        idle = self._idle.get(peer, {})
        now = time.monotonic()
        for waiting, (since, silent) in idle.items():
            if now - since < IDLE_GRACE:
                return False  # and so is every later one
            if silent or not silent_only:
                del idle[waiting]
                waiting.cancel()
                return True
        return False

    async def _request(self, first: bytes, reader: asyncio.StreamReader) -> tuple[int, bool]:
        """Read and answer one request: (status, keep the connection open). Anything refused
        raises `_Refused` before the body is read."""
        line = first + await _line(reader, MAX_HEADER_BYTES, 414)
        method, target, version = _request_line(line)
        if self._stopping:
            raise _Refused(503)  # Telegram tries again later; the next start takes it
        if method == "GET" and self.health is not None:
            await _headers(reader, MAX_HEADER_BYTES - len(line))  # read, so closing is clean
            found = await self.health(target)
            if found is not None:
                raise _Answered(*found)
            raise _Refused(405)
        if method != "POST":
            raise _Refused(405)
        if target != self.path:
            raise _Refused(404)
        headers = await _headers(reader, MAX_HEADER_BYTES - len(line))
        given = headers.get("x-telegram-bot-api-secret-token", "").encode("latin-1")
        if not hmac.compare_digest(given, self._secret_bytes):
            raise _Refused(403)
        body = await reader.readexactly(_content_length(headers))
        keep = headers.get("connection", "").lower() != "close" and (
            version == "HTTP/1.1" or headers.get("connection", "").lower() == "keep-alive"
        )
        status = await self._store(body)
        return status, keep and status == 200

    async def _store(self, body: bytes) -> int:
        try:
            update = json.loads(body)
        except (ValueError, RecursionError):
            return 400
        if not isinstance(update, dict) or type(update.get("update_id")) is not int:
            return 400
        # Stored in its own task, so a shutdown that cuts the connection short cannot cut the
        # commit short: the update is either stored (and answered 200) or Telegram keeps it.
        storing = asyncio.ensure_future(self.store.inbox_add([(update["update_id"], body)]))
        self._storing.add(storing)
        storing.add_done_callback(self._storing.discard)
        try:
            await asyncio.shield(storing)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("could not store a webhook update: %s", type(exc).__name__)
            return 500
        self.stored += 1
        self._wake()
        return 200


def _peer(writer: asyncio.StreamWriter) -> str:
    """The address a connection comes from (its port left out)."""
    name = writer.get_extra_info("peername")
    return str(name[0]) if isinstance(name, tuple) and name else "?"


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """After a refusal, say we are done and throw away what else was sent (a little, briefly),
    so closing does not reset the connection before the client has read our answer."""
    with contextlib.suppress(Exception):
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(LINGER):
            for _ in range(LINGER_CHUNKS):
                if not await reader.read(MAX_HEADER_BYTES):
                    break


async def _line(reader: asyncio.StreamReader, budget: int, too_long: int) -> bytes:
    """One CRLF-ended line of at most `budget` bytes, else `too_long`."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise _Refused(too_long) from None
    except asyncio.IncompleteReadError:
        raise _Refused(400) from None
    if len(line) > budget:
        raise _Refused(too_long)
    return line


def _request_line(line: bytes) -> tuple[str, str, str]:
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or parts[2] not in _VERSIONS:
        raise _Refused(400)
    return parts[0], parts[1], parts[2]


_VERSIONS = ("HTTP/1.1", "HTTP/1.0")


async def _headers(reader: asyncio.StreamReader, budget: int) -> dict[str, str]:
    """The header lines, all of them within `budget` bytes (else 431), names lower-cased."""
    headers: dict[str, str] = {}
    while True:
        raw = await _line(reader, budget, 431)
        budget -= len(raw)
        if raw in (b"\r\n", b"\n"):
            return headers
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep or not _TOKEN.fullmatch(name):
            raise _Refused(400)  # no colon, folded lines, spaces before the colon
        name, value = name.lower(), value.strip()
        if name in headers and name in {"content-length", "x-telegram-bot-api-secret-token"}:
            raise _Refused(400)  # two of them: which is meant?
        headers[name] = value


def _content_length(headers: dict[str, str]) -> int:
    if "transfer-encoding" in headers or "content-length" not in headers:
        raise _Refused(411)  # Telegram always says how long its body is
    text = headers["content-length"]
    if not (0 < len(text) <= MAX_LENGTH_DIGITS and text.isascii() and text.isdigit()):
        raise _Refused(413 if text.isascii() and text.isdigit() else 400)  # "+10", "1_0"…
    length = int(text)
    if length > MAX_BODY:
        raise _Refused(413)
    return length


async def _respond(
    writer: asyncio.StreamWriter,
    status: int,
    keep_alive: bool,
    body: bytes | None = None,
    content_type: str = "text/plain",
) -> None:
    if body is None:
        body = b"" if status == 200 else _REASONS.get(status, "Error").encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"Content-Length: {len(body)}\r\nContent-Type: {content_type}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    writer.write(head.encode("ascii") + body)
    await writer.drain()
