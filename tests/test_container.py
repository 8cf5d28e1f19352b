"""The container image's start command and health check, run outside Docker (docker build is not
possible everywhere): the Dockerfile's own CMD, ENV and HEALTHCHECK are read from it, the CMD is
started as a real process against the fake Bot API, and the HEALTHCHECK command must pass."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fakeapi import FakeBotAPI
from tests.running import ROOT, TOKEN, free_port, stop

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def _final_stage() -> str:
    return DOCKERFILE.rsplit("\nFROM ", 1)[1].replace("\\\n", " ")


def _json_after(keyword: str) -> list[str]:
    found = re.search(rf"^{keyword}.*?(\[.*\])\s*$", _final_stage(), re.MULTILINE)
    assert found, keyword
    command: list[str] = json.loads(found.group(1))
    return command


def _env() -> dict[str, str]:
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.*)$", _final_stage(), re.MULTILINE):
        for name, value in re.findall(r"(\w+)=(\S+)", line):
            env[name] = value
    return env


def _local(command: list[str]) -> list[str]:
    """The image's command with this virtualenv's executables."""
    bin_dir = Path(sys.executable).parent
    return [str(bin_dir / command[0]) if command[0] != "python" else sys.executable, *command[1:]]


def test_the_dockerfile_runs_coreflect_as_a_non_root_user_with_a_data_volume() -> None:
    assert _json_after("CMD") == ["coreflect", "telegram"]
    assert re.search(r"^USER (\d+)", _final_stage(), re.MULTILINE), "a numeric non-root user"
    assert 'VOLUME ["/data"]' in DOCKERFILE and _env()["COREFLECT_DATA_DIR"] == "/data"
    assert "--require-hashes -r requirements.lock" in DOCKERFILE
    assert "pip install --no-cache-dir --no-deps --no-build-isolation ." in DOCKERFILE
    assert _final_stage().startswith("python:3.12-slim")


@pytest.mark.slow
def test_the_start_command_serves_the_health_check(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "COREFLECT_"))}
    image_env = _env()
    port = str(free_port())
    env.update({k: v for k, v in image_env.items() if k.startswith("COREFLECT_")})
    data = tmp_path / "data"
    with FakeBotAPI(TOKEN) as fake:
        env.update(
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=fake.base_url,
            COREFLECT_DATA_DIR=str(data),  # the image's /data volume
            COREFLECT_HTTP_PORT=port,
            COREFLECT_HTTP_LISTEN="127.0.0.1",
        )
        check = _local(_json_after("HEALTHCHECK"))
        bot = subprocess.Popen(
            _local(_json_after("CMD")),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            healthy = False
            while time.monotonic() < deadline and bot.poll() is None:
                if subprocess.run(check, env=env, capture_output=True).returncode == 0:
                    healthy = True
                    break
                time.sleep(0.2)
            assert healthy, (bot.stderr.read() if bot.stderr else b"").decode() or "no answer"
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
                assert json.load(answer)["ready"] is True
        finally:
            stop(bot)
    # Without its port the check fails rather than passing by accident.
    gone = subprocess.run(check, env=env, capture_output=True)
    assert gone.returncode == 1
