"""Health and metrics over HTTP: /healthz, /readyz and /metrics (COREFLECT_HTTP_PORT).

/healthz says the process is up. /readyz says whether it can do its job: the database takes a
write, the key still opens it, Telegram answered recently, the inbox is not lagging and the
outbox is not backing up; 503 otherwise, with a JSON body naming each check. /metrics is the
Prometheus text format from prometheus-client, on a registry of our own: counts, durations and
backlogs only, never a person's id or anything anyone wrote.

In polling mode an aiohttp server of its own serves these; in webhook mode the webhook server
answers the same paths (bot/webhook.py asks `Health.respond` for any GET).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from flows.app import App
from flows.store.unit import Unit

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
UPDATES = Counter("coreflect_updates_handled", "Updates from Telegram handled", registry=REGISTRY)
LATENCY = Histogram(
    "coreflect_reply_seconds",
    "From taking an update out of the inbox to its replies sent",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
    registry=REGISTRY,
)
TOO_MANY = Counter(
    "coreflect_telegram_429", "Bot API calls answered 429 Too Many Requests", registry=REGISTRY
)
REMINDERS = Counter("coreflect_reminders_sent", "Reminders sent", registry=REGISTRY)
ERRORS = Counter(
    "coreflect_errors", "Errors logged, by kind (an exception's class)", ["kind"], registry=REGISTRY
)
OUTBOX = Gauge("coreflect_outbox_backlog", "Replies saved and not yet sent", registry=REGISTRY)
INBOX_LAG = Gauge(
    "coreflect_inbox_lag_seconds", "Age of the oldest update not yet handled", registry=REGISTRY
)
READY = Gauge("coreflect_ready", "1 when /readyz says ready", registry=REGISTRY)

_telegram_seen: float | None = None  # time.monotonic() of the last answer from the Bot API


def telegram_answered(status: int) -> None:
    """Called by the transport for every Bot API answer (any HTTP status: Telegram is there)."""
    global _telegram_seen
    _telegram_seen = time.monotonic()
    if status == 429:
        TOO_MANY.inc()


class _CountErrors(logging.Handler):
    """Counts ERROR records by the exception's class (or the logger's name): never the text."""

    def emit(self, record: logging.LogRecord) -> None:
        kind = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        if not kind:
            kind = record.name.rpartition(".")[2] or "root"
        ERRORS.labels(kind=kind[:40]).inc()


def count_errors() -> None:
    """Install the error counter on the root logger, once."""
    root = logging.getLogger()
    if not any(isinstance(h, _CountErrors) for h in root.handlers):
        root.addHandler(_CountErrors(level=logging.ERROR))


@dataclass(frozen=True, slots=True)
class Limits:
    telegram_quiet: float = 300.0  # seconds without any answer from Telegram
    inbox_lag: float = 120.0  # seconds the oldest unhandled update may wait
    outbox_backlog: int = 1000  # replies waiting to be sent


class Health:
    """What /healthz, /readyz and /metrics answer, for one running service."""

    def __init__(
        self,
        service: App,
        probe: Callable[[], Awaitable[Any]] | None = None,
        limits: Limits = Limits(),
    ) -> None:
        self.service = service
        self.probe = probe  # asks Telegram (getMe) when nothing has been heard for a while
        self.limits = limits
        self._probed = -float("inf")
        count_errors()

    async def _telegram_ok(self) -> bool:
        quiet = self.limits.telegram_quiet
        if _telegram_seen is not None and time.monotonic() - _telegram_seen < quiet:
            return True
        if self.probe is not None and time.monotonic() - self._probed >= 30.0:
            self._probed = time.monotonic()
            try:
                await self.probe()
            except Exception as exc:
                log.info("readiness: Telegram not reachable (%s)", type(exc).__name__)
        return _telegram_seen is not None and time.monotonic() - _telegram_seen < quiet

    async def _database(self) -> tuple[bool, bool, int, float]:
        """(writable, key opens it, outbox backlog, inbox lag in seconds). Read straight from
        the connection (no unit of work: those begin with a write), then one small write."""
        store = self.service.store

        async def one(sql: str) -> Any:
            async with store.db.execute(sql) as cursor:
                return await cursor.fetchone()

        check = await one("SELECT value FROM settings WHERE key = 'key_check'")
        key_ok = check is not None and store.keys.verify(bytes(check[0]))
        backlog = int((await one("SELECT COUNT(*) FROM outbox"))[0])
        oldest = (await one("SELECT MIN(received_at) FROM inbox WHERE handled_at IS NULL"))[0]
        lag = 0.0
        if oldest:
            lag = max(0.0, (store.clock() - datetime.fromisoformat(oldest)).total_seconds())

        def write(tx: Unit) -> None:
            tx.conn.execute(
                "INSERT INTO health_probe (id, at) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                (tx.clock().isoformat(),),
            )

        try:
            await store.run(write)
            writable = True
        except Exception as exc:
            log.warning("readiness: the database refused a write (%s)", type(exc).__name__)
            writable = False
        return writable, key_ok, backlog, lag

    async def ready(self) -> tuple[bool, dict[str, Any]]:
        try:
            writable, key_ok, backlog, lag = await self._database()
        except Exception as exc:
            log.warning("readiness: the database cannot be read (%s)", type(exc).__name__)
            writable, key_ok, backlog, lag = False, False, -1, -1.0
        OUTBOX.set(max(backlog, 0))
        INBOX_LAG.set(max(lag, 0.0))
        checks = {
            "database_writable": writable,
            "key_checked": key_ok,
            "telegram_reachable": await self._telegram_ok(),
            "inbox_lag_ok": 0 <= lag <= self.limits.inbox_lag,
            "outbox_backlog_ok": 0 <= backlog <= self.limits.outbox_backlog,
        }
        ok = all(checks.values())
        READY.set(1 if ok else 0)
        return ok, {
            "ready": ok,
            "checks": checks,
            "inbox_lag_seconds": round(max(lag, 0.0), 1),
            "outbox_backlog": max(backlog, 0),
        }

    async def respond(self, path: str) -> tuple[int, str, bytes] | None:
        """(status, content type, body) for one of our paths; None for any other path."""
        path = path.split("?", 1)[0]
        if path == "/healthz":
            return 200, "application/json", b'{"status": "ok"}'
        if path == "/readyz":
            ok, body = await self.ready()
            return (200 if ok else 503), "application/json", json.dumps(body).encode()
        if path == "/metrics":
            await self.ready()  # refreshes the backlog and lag gauges
            return 200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY)
        return None


class HealthServer:
    """The small HTTP server for polling mode (aiohttp), on COREFLECT_HTTP_LISTEN:PORT."""

    def __init__(self, health: Health, host: str, port: int) -> None:
        self.health, self.host, self.port = health, host, port
        self._runner: web.AppRunner | None = None
        self.bound_port = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        found = await self.health.respond(request.path)
        if found is None:
            return web.Response(status=404, text="Not Found")
        status, content_type, body = found
        response = web.Response(status=status, body=body)
        response.headers["Content-Type"] = content_type
        return response

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        addresses = self._runner.addresses
        self.bound_port = int(addresses[0][1]) if addresses else self.port
        log.info("health and metrics on http://%s:%d/", self.host, self.bound_port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
