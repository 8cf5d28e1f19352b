"""The bot as a real process against the fake Bot API, for crash, shutdown and webhook tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO

from tests.fakeapi import FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "4242:fake-token-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_bot(
    fake: FakeBotAPI,
    data_dir: Path,
    log: IO[bytes] | int = subprocess.DEVNULL,
    **env: str,
) -> subprocess.Popen[bytes]:
    """`python -m bot telegram` polling `fake` (or, with COREFLECT_WEBHOOK_URL, as a webhook)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "COREFLECT_"))}
    clean.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=fake.base_url,
        COREFLECT_DATA_DIR=str(data_dir),
        COREFLECT_SYNCHRONOUS="NORMAL",
    )
    clean.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "telegram"],
        cwd=ROOT,
        env=clean,
        stdout=log,
        stderr=log,
    )


def stop(bot: subprocess.Popen[bytes]) -> None:
    if bot.poll() is None:
        bot.kill()
        bot.wait()


# A request the bot had written just before it was killed can still reach the fake a moment
# after the test stamped the kill (the fake stamps what it has read, not what was sent).
IN_FLIGHT = 0.1


def straddles_kill(first: float, again: float, kills: list[float]) -> bool:
    """Whether a kill (time.monotonic() as it was signalled) fell between two copies the fake
    received at `first` and `again`: the documented window, in which Telegram took a message
    and the process died before the commit that removes its outbox row."""
    return any(first - IN_FLIGHT <= k <= again for k in kills)
