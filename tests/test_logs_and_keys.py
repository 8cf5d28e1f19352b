"""Structured log lines with hashed ids, nothing secret in them; the key file kept private."""

from __future__ import annotations

import io
import logging
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import logs
from flows.store.core import StartupProblem, Store


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield None
    root.setLevel(level)
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)


def capture(level: str = "DEBUG", secrets: tuple[str | None, ...] = ()) -> io.StringIO:
    logs.configure(level, secrets=secrets)
    stream = io.StringIO()
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "coreflect", False))
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    return stream


def test_one_line_per_event_key_value_and_no_exception_message() -> None:
    out = capture()
    log = logging.getLogger("coreflect.test")
    log.info("two\nlines", extra=logs.fields(update=7, person=logs.person(1001)))
    try:
        raise ValueError("words someone wrote")
    except ValueError:
        log.exception("it failed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert 'msg="two\\nlines"' in lines[0] and "update=7" in lines[0]
    assert "level=ERROR" in lines[1] and "exc=ValueError" in lines[1] and "at=" in lines[1]
    assert "words someone wrote" not in out.getvalue()
    assert "1001" not in lines[0]


def test_person_hash_is_keyed_not_a_plain_hash() -> None:
    logs.set_person_key(b"k" * 32)
    first = logs.person(42)
    logs.set_person_key(b"j" * 32)
    assert logs.person(42) != first  # without the key, hashing small ids finds nothing
    assert len(first) == 12 and "42" not in first
    logs.set_person_key(b"k" * 32)
    assert logs.person(42) == first


def test_token_and_key_are_redacted_even_from_library_lines() -> None:
    token, key = "123456:SECRET-token-value", "c2VjcmV0LWtleS1iYXNlNjQtdmFsdWU="
    out = capture("INFO", secrets=(token, key))
    logging.getLogger("httpx").warning("POST https://api.telegram.org/bot%s/getMe", token)
    logging.getLogger("coreflect").info("key %s", key)
    text = out.getvalue()
    assert token not in text and key not in text and text.count("[redacted]") == 2


def test_library_loggers_stay_at_info_or_above_at_debug() -> None:
    capture("DEBUG")
    assert logging.getLogger("telegram").getEffectiveLevel() >= logging.INFO
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
    assert logging.getLogger("coreflect").getEffectiveLevel() == logging.DEBUG


async def test_key_file_is_created_0600(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "data")
    await store.close()
    mode = stat.S_IMODE((tmp_path / "data" / "master.key").stat().st_mode)
    assert mode == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
async def test_a_key_file_others_can_read_stops_start_up(tmp_path: Path, mode: int) -> None:
    store = await Store.open(tmp_path / "data")
    await store.close()
    key = tmp_path / "data" / "master.key"
    os.chmod(key, mode)
    with pytest.raises(StartupProblem, match=r"chmod 600 .*master\.key"):
        await Store.open(tmp_path / "data")
    os.chmod(key, 0o600)
    store = await Store.open(tmp_path / "data")  # and once fixed, it starts
    await store.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_data_directory_and_database_files_are_private(tmp_path: Path) -> None:
    """Created 0700 and 0600 even under a permissive umask, -wal and -shm included."""
    old = os.umask(0)
    try:
        store = await Store.open(tmp_path / "data")
        await store.run(lambda tx: tx.conn.execute("INSERT INTO settings VALUES ('x', 'y')"))
        data = tmp_path / "data"
        files = {p.name: _mode(p) for p in data.iterdir() if p.name.startswith("coreflect.db")}
        assert _mode(data) == 0o700
        assert files == {
            "coreflect.db": 0o600,
            "coreflect.db-wal": 0o600,
            "coreflect.db-shm": 0o600,
        }
        await store.close()
    finally:
        os.umask(old)


@pytest.mark.parametrize(
    ("name", "mode", "fix"),
    [
        ("", 0o755, "chmod 700"),
        ("", 0o750, "chmod 700"),
        ("coreflect.db", 0o644, "chmod 600"),
        ("coreflect.db", 0o640, "chmod 600"),
        ("coreflect.db-wal", 0o604, "chmod 600"),
        ("coreflect.db-shm", 0o644, "chmod 600"),
    ],
)
async def test_a_database_others_can_read_stops_start_up(
    tmp_path: Path, name: str, mode: int, fix: str
) -> None:
    data = tmp_path / "data"
    store = await Store.open(data)
    await store.close()
    target = data / name if name else data
    (data / "coreflect.db-wal").touch(mode=0o600)
    (data / "coreflect.db-shm").touch(mode=0o600)
    os.chmod(target, mode)
    with pytest.raises(StartupProblem, match=f"{fix} {re.escape(str(target))}$"):
        await Store.open(data)
    os.chmod(target, 0o700 if not name else 0o600)
    store = await Store.open(data)  # and once fixed, it starts
    await store.close()
