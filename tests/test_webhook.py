"""Webhook mode over real HTTP on 127.0.0.1: the secret is checked on every request, and 200 is
only answered once the update is committed to the inbox (then the usual consumer handles it)."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from typing import Any

import httpx
import pytest

from bot import webhook
from bot.config import ConfigProblem, check_webhook_secret
from bot.inbox import InboxRunner
from bot.telegram_bot import ALLOWED_UPDATES
from bot.webhook import WebhookReceiver
from tests.drivers import Chat, Harness
from tests.offline import Person

SECRET = "s3cret_Token-for-tests"


async def started(bot: Harness) -> tuple[InboxRunner, WebhookReceiver, asyncio.Task[None]]:
    runner = InboxRunner(bot.app, bot.service)
    config = bot.config.__class__(
        **{**_fields(bot.config), "webhook_url": "https://example.test/hook", "webhook_port": 0}
    )
    receiver = WebhookReceiver(bot.service.store, config, runner.wake, secret=SECRET)
    runner.receive = lambda: receiver.serve(bot.app.bot, ALLOWED_UPDATES)
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(receiver.bound.wait(), 10)
    for _ in range(200):
        if any(c.method == "setWebhook" for c in bot.request.calls):
            break
        await asyncio.sleep(0.01)
    return runner, receiver, task


def _fields(config: Any) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__slots__}


def inbox(bot: Harness) -> list[tuple[int, bool]]:
    with sqlite3.connect(bot.service.store.path) as db:
        return db.execute(
            "SELECT update_id, handled_at IS NOT NULL FROM inbox ORDER BY update_id"
        ).fetchall()


async def test_secret_checked_and_200_only_once_stored(bot: Harness) -> None:
    runner, receiver, task = await started(bot)
    person = Person(7001, "Wren")
    chat = Chat(bot, person)
    (call,) = [c for c in bot.request.calls if c.method == "setWebhook"]
    assert call.params["url"] == "https://example.test/hook"
    assert call.params["secret_token"] == SECRET
    assert not any(c.method == "deleteWebhook" for c in bot.request.calls)
    url = f"http://127.0.0.1:{receiver.bound_port}/hook"
    try:
        async with httpx.AsyncClient() as client:
            update = person.text("a note written through the webhook")
            body = json.dumps(update).encode()
            for headers in (
                {},
                {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                {"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1]},
                {"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"},
            ):
                response = await client.post(url, content=body, headers=headers)
                assert response.status_code == 403
            assert inbox(bot) == []  # refused requests are never read into the inbox

            good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            assert (await client.get(url, headers=good)).status_code == 405
            assert (await client.post(url, content=b"{not json", headers=good)).status_code == 400
            assert (await client.post(url, content=b"[1]", headers=good)).status_code == 400
            response = await client.post(url, content=body, headers=good)
            assert response.status_code == 200
            # Stored by the time 200 was answered (handled, perhaps, already too).
            assert [uid for uid, _ in inbox(bot)] == [update["update_id"]]
            # Telegram repeats it (our 200 was lost): handled once all the same.
            assert (await client.post(url, content=body, headers=good)).status_code == 200
            for _ in range(300):
                if inbox(bot) == [(update["update_id"], True)] and chat.read():
                    break
                await asyncio.sleep(0.01)
            assert inbox(bot) == [(update["update_id"], True)]
            assert sum("Kept as a note" in t for t in chat.read()) == 1
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)
    with sqlite3.connect(bot.service.store.path) as db:
        assert db.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 1


async def test_many_concurrent_posts_are_all_stored_and_answered(bot: Harness) -> None:
    runner, receiver, task = await started(bot)
    people = [Person(7100 + n, f"P{n}") for n in range(20)]
    updates = [p.text(f"note {k} from {p.first_name}") for k in range(5) for p in people]
    url = f"http://127.0.0.1:{receiver.bound_port}/hook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    try:
        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(limits=limits) as client:
            codes = await asyncio.gather(
                *(client.post(url, json=u, headers=headers) for u in updates)
            )
        assert {r.status_code for r in codes} == {200}
        for _ in range(500):
            if all(handled for _, handled in inbox(bot)):
                break
            await asyncio.sleep(0.02)
        assert len(inbox(bot)) == len(updates) and all(h for _, h in inbox(bot))
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)
    for p in people:
        assert sum("Kept as a note" in t for t in Chat(bot, p).read()) == 5


def test_the_secret_must_be_one_telegram_accepts() -> None:
    check_webhook_secret("A-b_9")
    for bad in ("", "with space", "ünï", "x" * 257):
        with pytest.raises(ConfigProblem):
            check_webhook_secret(bad)


# ---- hostile and malformed requests, over a real socket ------------------------------------


async def exchange(port: int, data: bytes, *, wait: float = 10.0) -> bytes:
    """Send `data` (perhaps not a whole request) and read until the server hangs up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), wait)
    finally:
        writer.close()


def status(response: bytes) -> int:
    head = response.split(b"\r\n", 1)[0].split()
    return int(head[1]) if len(head) > 1 else 0


def request(
    target: str = "/hook",
    method: str = "POST",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


GOOD = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


async def test_refused_from_the_request_line_and_headers_before_any_body(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused request is answered at once with no body sent at all: nothing waits for it."""
    runner, receiver, task = await started(bot)
    port = receiver.bound_port
    promised = {"Content-Length": "1000000"}  # and never sent
    try:
        cases = [
            (request(headers=promised), 403),
            (request(headers={**promised, "X-Telegram-Bot-Api-Secret-Token": "wrong"}), 403),
            (request("/elsewhere", headers={**GOOD, **promised}), 404),
            (request("/hook?x=1", headers={**GOOD, **promised}), 404),
            (request("/", headers={**GOOD, **promised}), 404),
            (request(method="PUT", headers={**GOOD, **promised}), 405),
        ]
        for data, expected in cases:
            response = await exchange(port, data, wait=5)
            assert status(response) == expected, (data, response)
        assert inbox(bot) == []
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_malformed_requests_get_their_4xx_never_an_exception(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    runner, receiver, task = await started(bot)
    port = receiver.bound_port
    nested = b"[" * 100_000 + b"]" * 100_000
    cases = [
        (b"GARBAGE\r\n\r\n", 400),
        (b"POST /hook\r\n\r\n", 400),
        (b"POST /hook HTTP/2.0\r\n\r\n", 400),
        (b"POST /hook HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
        (b"POST /hook HTTP/1.1\r\nBad Name: x\r\n\r\n", 400),
        (b"POST /hook HTTP/1.1\r\n folded: line\r\n\r\n", 400),
        (b"POST /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
        (request(headers={**GOOD, "X-Big": "x" * 70_000}), 431),
        (request(headers={**GOOD, **{f"X-{n}": "y" * 200 for n in range(100)}}), 431),
        (request(headers=GOOD, body=b"{}"), 411),
        (request(headers={**GOOD, "Transfer-Encoding": "chunked"}, body=b"0\r\n\r\n"), 411),
        (request(headers={**GOOD, "Content-Length": "+10"}, body=b"x" * 10), 400),
        (request(headers={**GOOD, "Content-Length": "1_0"}, body=b"x" * 10), 400),
        (request(headers={**GOOD, "Content-Length": "-1"}), 400),
        (request(headers={**GOOD, "Content-Length": "²"}), 400),
        (request(headers={**GOOD, "Content-Length": "2000000"}), 413),
        (request(headers={**GOOD, "Content-Length": "9" * 30}), 413),
        (
            request(headers={**GOOD, "Content-Length": str(len(nested))}, body=nested),
            400,
        ),
        (request(headers={**GOOD, "Content-Length": "9"}, body=b"{not json"), 400),
    ]
    try:
        with caplog.at_level(logging.DEBUG):
            for data, expected in cases:
                response = await exchange(port, data)
                assert status(response) == expected, (data[:80], response)
            # And it still takes a good update afterwards.
            update = Person(7002, "Ash").text("still here")
            body = json.dumps(update).encode()
            headers = {**GOOD, "Content-Length": str(len(body)), "Connection": "close"}
            assert status(await exchange(port, request(headers=headers, body=body))) == 200
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_stalled_request_is_cut_off_at_its_deadline(
    bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook, "REQUEST_DEADLINE", 0.5)
    runner, receiver, task = await started(bot)
    try:
        half = request(headers={**GOOD, "Content-Length": "100"}, body=b'{"update_id": 1')
        assert status(await exchange(receiver.bound_port, half)) == 408
        assert status(await exchange(receiver.bound_port, b"POST /hook HTTP/1.1\r\nHost")) == 408
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)
    assert inbox(bot) == []


async def test_connections_are_capped(bot: Harness) -> None:
    runner, receiver, task = await started(bot)
    port = receiver.bound_port
    idle: list[asyncio.StreamWriter] = []
    try:
        for n in range(webhook.MAX_OPEN):  # from many addresses, none past its own caps
            source = f"127.0.0.{2 + n // webhook.MAX_SILENT_PER_PEER}"
            _, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
            idle.append(writer)
        for _ in range(200):  # until the server has taken them all in
            if len(receiver._connections) >= webhook.MAX_OPEN:
                break
            await asyncio.sleep(0.01)
        body = json.dumps(Person(7003, "Kit").text("hello")).encode()
        headers = {**GOOD, "Content-Length": str(len(body)), "Connection": "close"}
        assert status(await exchange(port, request(headers=headers, body=body), wait=5)) == 503
        for writer in idle:
            writer.close()
        for _ in range(500):
            if not receiver._connections:
                break
            await asyncio.sleep(0.01)
        assert status(await exchange(port, request(headers=headers, body=body))) == 200
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)


KEPT: list[asyncio.StreamWriter] = []  # a writer no longer referenced closes its connection


async def connect_from(source: str, port: int, data: bytes = b"") -> asyncio.StreamReader:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    KEPT.append(writer)
    if data:
        writer.write(data)
        await writer.drain()
    return reader


async def until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def test_one_address_keeps_only_a_few_silent_connections(
    bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Silent connections (never a byte) past the cap from one address: its oldest are closed,
    nobody else's. (A burst of new connections is spared for IDLE_GRACE, and kept-alive ones are
    not silent: see the test above, 40 connections at once each used again and again.)"""
    monkeypatch.setattr(webhook, "IDLE_GRACE", 0.0)
    runner, receiver, task = await started(bot)
    port = receiver.bound_port
    extra = 3
    try:
        other = [await connect_from("127.0.0.3", port) for _ in range(2)]
        mine = []
        for _ in range(webhook.MAX_SILENT_PER_PEER + extra):
            mine.append(await connect_from("127.0.0.2", port))
            await until(lambda: len(receiver._connections) == min(len(mine), 8) + len(other))
        for reader in mine[:extra]:  # the oldest: closed by the server
            assert await asyncio.wait_for(reader.read(), 5) == b""
        await until(lambda: len(receiver._connections) == webhook.MAX_SILENT_PER_PEER + 2)
        for reader in [*mine[extra:], *other]:  # the rest: still open
            assert not reader.at_eof()
        body = json.dumps(Person(7004, "Rue").text("hello")).encode()
        headers = {**GOOD, "Content-Length": str(len(body)), "Connection": "close"}
        assert status(await exchange(port, request(headers=headers, body=body))) == 200
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)
        while KEPT:
            KEPT.pop().close()


async def test_one_address_cannot_take_every_place_with_trickled_requests(
    bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook, "MAX_OPEN_PER_PEER", 5)
    runner, receiver, task = await started(bot)
    port = receiver.bound_port
    try:
        # Requests begun and never finished (within their deadline): not idle, so kept.
        for _ in range(5):
            await connect_from("127.0.0.2", port, b"POST /hook HTTP/1.1\r\nHost: x")
        await until(lambda: len(receiver._connections) == 5)
        body = json.dumps(Person(7005, "Lee").text("hello")).encode()
        headers = {**GOOD, "Content-Length": str(len(body)), "Connection": "close"}
        late = await connect_from("127.0.0.2", port, request(headers=headers, body=body))
        assert status(await asyncio.wait_for(late.read(), 5)) == 503
        elsewhere = await connect_from("127.0.0.3", port, request(headers=headers, body=body))
        assert status(await asyncio.wait_for(elsewhere.read(), 5)) == 200
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)
        while KEPT:
            KEPT.pop().close()


async def test_refusals_are_logged_together_at_most_once_a_minute(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    runner, receiver, task = await started(bot)
    try:
        with caplog.at_level(logging.INFO, logger="bot.webhook"):
            for n in range(30):
                data = request("/nowhere" if n % 2 else "/hook", headers={"Content-Length": "0"})
                await exchange(receiver.bound_port, data)
            refused = [r for r in caplog.records if "refused" in r.getMessage()]
            assert len(refused) == 1, [r.getMessage() for r in refused]
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)
    log = webhook.RefusalLog(every=60)
    with caplog.at_level(logging.INFO, logger="bot.webhook"):
        caplog.clear()
        for second in range(0, 125, 5):
            log.refused(403, now=float(second))
        assert [r.getMessage() for r in caplog.records] == [
            "webhook requests refused: 1× 403",
            "webhook requests refused: 12× 403",
            "webhook requests refused: 12× 403",
        ]
