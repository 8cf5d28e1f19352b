"""The Bot API transport (bot/transport.py) over real HTTP: what it sends, and how it fails."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from telegram import Bot, InputFile
from telegram.error import InvalidToken, NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.transport import AiohttpRequest
from tests import botapi
from tests.fakeapi import FakeBotAPI

TOKEN = "555:TRANSPORT-test-token"


def bot_for(base_url: str, **timeouts: float) -> Bot:
    return Bot(
        TOKEN,
        base_url=base_url,
        request=AiohttpRequest(connections=4, **timeouts),
        get_updates_request=AiohttpRequest(connections=1),
    )


async def test_messages_and_files_arrive_as_telegram_reads_them() -> None:
    with FakeBotAPI(TOKEN) as fake:
        async with bot_for(fake.base_url) as bot:
            message = await bot.send_message(
                chat_id=7, text="<b>Hello</b> 🌱 שלום", parse_mode="HTML"
            )
            await bot.send_document(
                chat_id=7,
                document=InputFile(io.BytesIO(b"%PDF-1.7 pack"), filename="pack.pdf"),
                caption="Your pack",
                protect_content=True,
            )
            results = await asyncio.gather(
                *(bot.send_message(chat_id=8, text=f"n{n}") for n in range(20))
            )
        assert fake.violations == []
        sent = fake.sent_to(7)
        assert sent[0].params["text"] == "<b>Hello</b> 🌱 שלום"
        assert message.message_id == sent[0].message_id
        document = sent[1].params["document"]
        assert isinstance(document, botapi.Upload)
        assert (document.filename, document.content) == ("pack.pdf", b"%PDF-1.7 pack")
        assert sent[1].params["caption"] == "Your pack"
        assert sorted(m.text or "" for m in results) == sorted(f"n{n}" for n in range(20))


async def test_refusals_come_back_as_telegram_errors() -> None:
    with FakeBotAPI("555:another-token") as fake:
        bot = bot_for(fake.base_url)
        with pytest.raises(InvalidToken):
            await bot.initialize()  # getMe with a token the server does not know
        await bot.shutdown()


def hello() -> RequestData:
    return RequestData([RequestParameter.from_input("chat_id", 1)])


@contextlib.asynccontextmanager
async def serving(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[int]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def test_a_silent_server_is_a_timeout_and_the_token_is_not_in_the_error() -> None:
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(30)

    request = AiohttpRequest(read_timeout=0.3)
    await request.initialize()
    async with serving(hold) as port:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimedOut) as caught:
            await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/sendMessage", hello())
        assert asyncio.get_running_loop().time() - started < 5
    await request.shutdown()
    assert TOKEN not in repr(caught.value)


async def test_nobody_listening_is_a_network_error_without_the_token() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    request = AiohttpRequest()
    await request.initialize()
    with pytest.raises(NetworkError) as caught:
        await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/sendMessage", hello())
    await request.shutdown()
    assert not isinstance(caught.value, TimedOut)
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)


ME = b'{"ok":true,"result":{"id":555,"is_bot":true,"first_name":"CR","username":"cr_bot"}}'


async def test_the_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """An organisation behind a proxy: HTTP(S)_PROXY is honoured, NO_PROXY is respected."""
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head.split(b"\r\n", 1)[0])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (len(ME), ME)
        )
        await writer.drain()
        writer.close()

    async with serving(proxy) as port:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("NO_PROXY", "localhost")
        async with bot_for("http://api.telegram.example/bot") as bot:
            assert bot.username == "cr_bot"
    assert seen == [b"POST http://api.telegram.example/bot" + TOKEN.encode() + b"/getMe HTTP/1.1"]
    monkeypatch.setenv("NO_PROXY", "api.telegram.example")
    assert AiohttpRequest().proxy_for("http://api.telegram.example/bot1/getMe") is None
