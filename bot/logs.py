"""Logging that never carries what a person wrote, nor the bot token, nor the key.

One line per event, as key=value pairs (`ts=… level=… logger=… msg="…" update=42 person=3f…`),
so a log shipper can parse it and a person can grep it. A person is named by a keyed hash of
their Telegram id (HMAC-SHA256 under a key derived from the master key, first 12 hex digits): the
same person reads the same across restarts, but nobody can turn it back into an id by hashing
every small number. An exception is logged by its type and where it was raised, never its
message (which could quote what someone wrote); and anything that looks like the token or the key
is blanked out before a line is written, as a last line of defence.

At DEBUG, python-telegram-bot logs every request's parameters (message texts included), aiosqlite
logs its operations and the HTTP clients can log URLs, which hold the token. Those loggers are
held at INFO or above whatever level the operator asks for; our own loggers only ever log ids,
counts and kinds.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

_HELD = {
    "telegram": logging.INFO,
    "aiosqlite": logging.INFO,
    "apscheduler": logging.INFO,
    "transitions": logging.WARNING,  # two lines per question otherwise (state names only)
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "aiohttp": logging.WARNING,  # the Bot API transport (bot/transport.py)
}
# Until the store is open (and after it, in tests that never open one), a random key: hashes
# are still one-way, just not stable across restarts.
_person_key = os.urandom(32)


def configure(level: str = "INFO", secrets: tuple[str | None, ...] = ()) -> None:
    """Our format on the root logger; library loggers held at INFO or above."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    handler.addFilter(Redact(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "coreflect", False):
            root.removeHandler(old)
    handler.coreflect = True  # type: ignore[attr-defined]  # our mark, so setup replaces only ours
    root.addHandler(handler)
    root.setLevel(level.upper())
    hold_library_loggers()


def hold_library_loggers() -> None:
    for name, floor in _HELD.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(floor, logger.getEffectiveLevel()))


def set_person_key(key: bytes) -> None:
    global _person_key
    _person_key = key


def person(user_id: int | None) -> str:
    """How a person appears in the logs: a keyed hash, never the id itself."""
    if user_id is None:
        return "-"
    digest = hmac.new(_person_key, str(int(user_id)).encode(), hashlib.sha256).hexdigest()
    return digest[:12]


def fields(**values: Any) -> dict[str, Any]:
    """`log.info("…", extra=fields(update=42))`: extra key=value pairs on the line."""
    return {"fields": values}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        out: dict[str, Any] = {
            "ts": stamp.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            out.update(extra)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            out["exc"] = type(exc).__name__
            frames = traceback.extract_tb(exc.__traceback__)[-4:]
            out["at"] = " < ".join(
                f"{_short(f.filename)}:{f.lineno}:{f.name}" for f in reversed(frames)
            )
        return " ".join(f"{key}={_value(value)}" for key, value in out.items())


class Redact(logging.Filter):
    """Blank out the token and the key wherever they might appear (a URL in a library's line)."""

    def __init__(self, secrets: tuple[str | None, ...]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 8]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            cleaned = message
            for secret in self.secrets:
                cleaned = cleaned.replace(secret, "[redacted]")
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


def _short(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/")
    return "/".join(parts[-2:])


def _value(value: Any) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\\\n\r\t'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'
