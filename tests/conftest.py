"""Pytest fixtures: a started bot over an offline request layer, people to talk to it (a worker
and their supervisor, linked or not), a clock.
The drivers themselves (Harness, Chat, Group, Clock, ...) are in tests/drivers.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import open_service
from bot.limits import TelegramLimits
from bot.telegram_bot import build_application
from tests.drivers import (
    Chat,
    Clock,
    Harness,
    link,
    make_config,
    other_chat,
    supervisor_chat,
    worker_chat,
)
from tests.offline import RecordingRequest

# A test that overruns its time limit prints every thread's and asyncio task's stack.
pytest_plugins = ("tests.hangs",)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def bot(data_dir: Path) -> AsyncIterator[Harness]:
    """A started bot; on teardown, every Bot API call it made must have been valid."""
    config = make_config(data_dir)
    service = await open_service(config)
    request = RecordingRequest()
    # A test talks far faster than any person: a private chat's one-a-second pace (Telegram's)
    # is lifted here; every other limit stays as in production.
    limits = TelegramLimits(chat_rate=1000.0)
    app = build_application(config, service, request=request, limits=limits)
    await app.initialize()
    harness = Harness(app, request, service, config)
    try:
        yield harness
    finally:
        await app.shutdown()
        await service.store.close()
    request.assert_valid()


@pytest.fixture
def chat(bot: Harness) -> Chat:
    return Chat(bot)


@pytest.fixture
def clock(bot: Harness) -> Clock:
    tick = Clock()
    bot.service.store.clock = tick
    return tick


@pytest.fixture
def worker(bot: Harness) -> Chat:
    return worker_chat(bot)


@pytest.fixture
def supervisor(bot: Harness) -> Chat:
    return supervisor_chat(bot)


@pytest.fixture
def other(bot: Harness) -> Chat:
    return other_chat(bot)


@pytest.fixture
async def linked(worker: Chat, supervisor: Chat) -> tuple[Chat, Chat]:
    """(worker, supervisor), linked through the invite flow. Fixtures set up in the order a test
    names them, so a test that also sets the clock names `linked` after `clock`/`at`."""
    await link(worker, supervisor)
    return worker, supervisor
