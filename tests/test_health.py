"""Health and metrics over real sockets on 127.0.0.1: /healthz, /readyz (503 with its reasons
when the database takes no writes) and /metrics (Prometheus text, with no id and no words)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot import health
from bot.health import Health, HealthServer
from bot.inbox import InboxRunner
from bot.telegram_bot import ALLOWED_UPDATES
from bot.webhook import WebhookReceiver
from flows.kernel.model import Input, Person
from tests.drivers import Chat, Harness
from tests.offline import Person as Someone

CANARY = "canary-Priya-07700900123"
PERSON = 987654321


async def test_healthz_readyz_and_metrics_over_a_real_socket(bot: Harness) -> None:
    service = bot.service
    await service.handle(Person(PERSON, "Wren"), Input.from_text("/journal"))
    await service.handle(Person(PERSON, "Wren"), Input.from_text(CANARY))
    health.telegram_answered(200)  # as the transport does for every Bot API answer
    server = HealthServer(Health(service), "127.0.0.1", 0)
    await server.start()
    base = f"http://127.0.0.1:{server.bound_port}"
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{base}/healthz")
            assert response.status_code == 200 and response.json() == {"status": "ok"}

            response = await client.get(f"{base}/readyz")
            assert response.status_code == 200, response.text
            assert response.json()["checks"] == {
                "database_writable": True,
                "key_checked": True,
                "telegram_reachable": True,
                "inbox_lag_ok": True,
                "outbox_backlog_ok": True,
            }

            response = await client.get(f"{base}/metrics")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain")
            text = response.text
            names = {family.name for family in text_string_to_metric_families(text)}
            assert {
                "coreflect_updates_handled",
                "coreflect_reply_seconds",
                "coreflect_outbox_backlog",
                "coreflect_inbox_lag_seconds",
                "coreflect_telegram_429",
                "coreflect_reminders_sent",
                "coreflect_errors",
            } <= names
            assert str(PERSON) not in text and CANARY not in text and "Wren" not in text

            # The database stops taking writes: not ready, and the body says why.
            await service.store.db.execute("PRAGMA query_only=ON")
            response = await client.get(f"{base}/readyz")
            assert response.status_code == 503
            body = response.json()
            assert body["ready"] is False and body["checks"]["database_writable"] is False
            assert body["checks"]["key_checked"] is True
            assert (await client.get(f"{base}/healthz")).status_code == 200  # still up
            await service.store.db.execute("PRAGMA query_only=OFF")
            assert (await client.get(f"{base}/readyz")).status_code == 200
            assert (await client.get(f"{base}/nothing-here")).status_code == 404
    finally:
        await server.stop()


async def test_webhook_mode_serves_the_same_paths(bot: Harness) -> None:
    runner = InboxRunner(bot.app, bot.service)
    fields: dict[str, Any] = {name: getattr(bot.config, name) for name in bot.config.__slots__}
    config = bot.config.__class__(
        **{**fields, "webhook_url": "https://example.test/hook", "webhook_port": 0}
    )
    checks = Health(bot.service)
    receiver = WebhookReceiver(
        bot.service.store, config, runner.wake, secret="s3cret", health=checks.respond
    )
    runner.receive = lambda: receiver.serve(bot.app.bot, ALLOWED_UPDATES)
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(receiver.bound.wait(), 10)
    base = f"http://127.0.0.1:{receiver.bound_port}"
    try:
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{base}/healthz")).json() == {"status": "ok"}
            metrics = await client.get(f"{base}/metrics")
            assert "coreflect_updates_handled_total" in metrics.text
            # Anything else by GET is still refused, and the webhook still wants its secret.
            assert (await client.get(f"{base}/hook")).status_code == 405
            update = Someone(7001, "Wren").text("hello")
            assert (await client.post(f"{base}/hook", json=update)).status_code == 403
        chat = Chat(bot, Someone(7001, "Wren"))
        assert chat.sent() == []
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)
