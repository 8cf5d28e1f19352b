"""Webhook mode: Telegram POSTs each update to us; we answer 200 only once it is in the inbox.

The same durable-inbox promise as long polling: Telegram keeps an update (and retries it) until
it gets a 2xx, so the 200 goes out only after the update is committed to the `inbox` table the
poller would have used; the consumer in bot/inbox.py takes it from there. A repeat delivery (we
stored it, the 200 was lost) is ignored by update_id, as in polling.

Every request must carry the secret given to setWebhook in `X-Telegram-Bot-Api-Secret-Token`,
compared in constant time; without it the answer is 403 and nothing is read or stored.

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
import secrets
from collections.abc import Callable
from typing import Any

from bot import logs
from bot.config import Config, check_webhook_secret
from flows.store.core import Store

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # Telegram's updates are far smaller; anything bigger is not from Telegram
MAX_HEADER_LINES = 100
IDLE_TIMEOUT = 75.0  # seconds a kept-alive connection may sit idle
IN_FLIGHT_GRACE = 1.5  # seconds for stores under way to finish (and answer 200) on shutdown
MAX_CONNECTIONS = 40  # setWebhook's max_connections: Telegram's default

_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class WebhookReceiver:
    """Listens for Telegram's POSTs and stores each update before answering it."""

    def __init__(
        self,
        store: Store,
        config: Config,
        wake: Callable[[], None],
        secret: str | None = None,
    ) -> None:
        self.store = store
        self.url = config.webhook_url or ""
        self.host = config.webhook_listen
        self.port = config.webhook_port
        self.secret = secret or config.webhook_secret or secrets.token_urlsafe(32)
        check_webhook_secret(self.secret)
        self._secret_bytes = self.secret.encode("ascii")
        self._wake = wake
        self._server: asyncio.Server | None = None
        self._stopping = False
        self._storing: set[asyncio.Task[Any]] = set()
        self._connections: set[asyncio.Task[Any]] = set()
        self.bound = asyncio.Event()
        self.stored = 0  # updates stored (repeats included), for tests and benchmarks

    @property
    def bound_port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def serve(self, bot: Any, allowed_updates: list[str]) -> None:
        """Listen, then tell Telegram where we are; run until cancelled, then close gently."""
        self._server = await asyncio.start_server(
            self._connection, self.host, self.port, limit=64 * 1024
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

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while not self._stopping:
                try:
                    async with asyncio.timeout(IDLE_TIMEOUT):
                        request = await _read_request(reader)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                if request is None:
                    return
                if isinstance(request, int):  # malformed: answer and hang up
                    await _respond(writer, request, keep_alive=False)
                    return
                method, headers, body = request
                status = await self._answer(method, headers, body)
                keep = headers.get("connection", "").lower() != "close" and not self._stopping
                await _respond(writer, status, keep_alive=keep)
                if not keep:
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._connections.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _answer(self, method: str, headers: dict[str, str], body: bytes) -> int:
        if self._stopping:
            return 503  # Telegram tries again later; the next start takes it
        if method != "POST":
            return 405
        given = headers.get("x-telegram-bot-api-secret-token", "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, self._secret_bytes):
            log.warning("webhook request refused: wrong or missing secret token")
            return 403
        try:
            update = json.loads(body)
        except ValueError:
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


async def _read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, dict[str, str], bytes] | int | None:
    """(method, headers, body), an HTTP status for a request we will not read, or None at EOF."""
    line = await reader.readline()
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return 400
    method = parts[0].upper()
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES):
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep:
            return 400
        headers[name.strip().lower()] = value.strip()
    else:
        return 400
    if "transfer-encoding" in headers:
        return 411
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        return 400
    if length < 0:
        return 400
    if length > MAX_BODY:
        return 413
    body = await reader.readexactly(length) if length else b""
    if parts[2] == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
        headers["connection"] = "close"
    return method, headers, body


async def _respond(writer: asyncio.StreamWriter, status: int, keep_alive: bool) -> None:
    body = b"" if status == 200 else _REASONS.get(status, "Error").encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"Content-Length: {len(body)}\r\nContent-Type: text/plain\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    writer.write(head.encode("ascii") + body)
    await writer.drain()
