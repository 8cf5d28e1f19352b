"""The console chat: the same engine and database, from scripted input."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from bot.console import to_input
from flows.kernel.model import Button, Input

ROOT = Path(__file__).resolve().parent.parent


def run_bot(
    args: list[str], stdin: str, data_dir: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "COREFLECT_"))
    }
    environment.update(COREFLECT_DATA_DIR=str(data_dir), **env)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        cwd=ROOT,
    )


def test_console_completes_the_in_the_moment_check(tmp_path: Path) -> None:
    script = "\n".join(
        [
            "/start",
            "1",  # Yes, that's right (time zone)
            "/moment",
            "The time I was off work",
            "2",  # A colleague
            "1",  # A brief outline
            "2",  # To offer hope or ideas
            "1",  # Yes
            "1",  # Yes
            "3",  # No — timing
            "/entries",
            "1",
            "/quit",
        ]
    )
    result = run_bot(["console"], script, tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[1] Yes, that's right" in out
    assert "I don't know what it was like for you" in out
    assert "Saved to your journal" in out
    journal = out.split("Your journal")[-1]
    assert "In the moment" in journal and "What I'm about to share" in journal
    assert "The time I was off work" in journal  # the entry, opened in full
    with sqlite3.connect(tmp_path / "coreflect.db") as db:
        assert db.execute("SELECT flow, status FROM entries").fetchall() == [
            ("in_the_moment", "saved")
        ]
        assert db.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 7


def test_without_a_token_it_says_so_and_starts_the_console(tmp_path: Path) -> None:
    result = run_bot([], "/quit\n", tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        result.stderr.strip().splitlines()[0]
        == "No TELEGRAM_BOT_TOKEN set, so starting the local console chat."
    )


def test_broken_key_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    result = run_bot(["console"], "/quit\n", tmp_path, COREFLECT_KEY="not base64!")
    assert result.returncode == 1
    assert "CoReflect cannot start: COREFLECT_KEY is not valid base64." in result.stderr


def test_a_typed_number_picks_a_button_only_in_ascii_digits() -> None:
    buttons = [Button("Yes", "a:1:yes"), Button("No", "a:1:no")]
    assert to_input("2\n", buttons) == Input(kind="button", data="a:1:no")
    for line in ["²\n", "٢\n", "3\n", "0\n", "9" * 30 + "\n"]:
        assert to_input(line, buttons).kind == "text", line
