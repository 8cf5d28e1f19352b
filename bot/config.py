"""Configuration from environment variables (documented in the README)."""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_API_BASE = "https://api.telegram.org/bot"


@dataclass(frozen=True, slots=True)
class Config:
    token: str | None
    api_base_url: str
    data_dir: Path
    key: str | None
    timezone: str
    synchronous: str
    log_level: str = "INFO"
    support_file: Path | None = None
    prompts_dir: Path | None = None  # an organisation's own question sets and wording
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8080
    webhook_secret: str | None = None
    # Running it for an organisation (docs/operating.md): health and metrics, who may use it,
    # administrators, supervisors, leavers, retention, the audit trail.
    http_port: int | None = None
    http_listen: str = "127.0.0.1"
    access: str = "open"
    admins: frozenset[int] = frozenset()
    supervisors: str = "open"
    leaver_days: int = 30
    retention_days: int | None = None
    audit_days: int = 400
    voice_max_mb: int = 20  # the largest voice note kept (Telegram lets bots fetch up to 20 MB)
    # A faster-whisper model folder on this machine: voice notes are transcribed locally (and
    # the person asked before the words are kept). None: nothing is transcribed or fetched.
    transcribe_model: Path | None = None
    storage_mb: int = 200  # what one person may store, words and voice notes (0: no allowance)

    @staticmethod
    def from_env(env: dict[str, str] | None = None) -> Config:
        source: Mapping[str, str] = os.environ if env is None else env
        secret = (source.get("COREFLECT_WEBHOOK_SECRET") or "").strip()
        if secret:
            check_webhook_secret(secret)
        return Config(
            token=(source.get("TELEGRAM_BOT_TOKEN") or "").strip() or None,
            api_base_url=(source.get("TELEGRAM_API_BASE_URL") or DEFAULT_API_BASE).strip(),
            data_dir=Path(source.get("COREFLECT_DATA_DIR") or "./data"),
            key=(source.get("COREFLECT_KEY") or "").strip() or None,
            timezone=(source.get("COREFLECT_TIMEZONE") or "Europe/London").strip(),
            synchronous=(source.get("COREFLECT_SYNCHRONOUS") or "FULL").strip(),
            log_level=(source.get("COREFLECT_LOG_LEVEL") or "INFO").strip().upper(),
            support_file=Path(source["COREFLECT_SUPPORT_FILE"])
            if source.get("COREFLECT_SUPPORT_FILE")
            else None,
            prompts_dir=Path(source["COREFLECT_PROMPTS_DIR"])
            if source.get("COREFLECT_PROMPTS_DIR")
            else None,
            webhook_url=(source.get("COREFLECT_WEBHOOK_URL") or "").strip() or None,
            webhook_listen=(source.get("COREFLECT_WEBHOOK_LISTEN") or "127.0.0.1").strip(),
            webhook_port=_port(source.get("COREFLECT_WEBHOOK_PORT") or "8080"),
            webhook_secret=secret or None,
            http_port=_port(source["COREFLECT_HTTP_PORT"], "COREFLECT_HTTP_PORT")
            if (source.get("COREFLECT_HTTP_PORT") or "").strip()
            else None,
            http_listen=(source.get("COREFLECT_HTTP_LISTEN") or "127.0.0.1").strip(),
            access=_choice(source, "COREFLECT_ACCESS", ("open", "invite")),
            admins=_ids(source.get("COREFLECT_ADMINS") or ""),
            supervisors=_choice(source, "COREFLECT_SUPERVISORS", ("open", "approved")),
            leaver_days=_days(source, "COREFLECT_LEAVER_DAYS", 30, 1) or 30,
            retention_days=_days(source, "COREFLECT_RETENTION_DAYS", None, 1),
            audit_days=_days(source, "COREFLECT_AUDIT_DAYS", 400, 30) or 400,
            voice_max_mb=_days(source, "COREFLECT_VOICE_MAX_MB", 20, 1, "MB") or 20,
            transcribe_model=_model_folder(source.get("COREFLECT_TRANSCRIBE_MODEL") or ""),
            storage_mb=_days(source, "COREFLECT_STORAGE_MB", 200, 0, "MB") or 0,
        )

    @property
    def file_base_url(self) -> str:
        """Where files are fetched: Telegram's own, or the same self-hosted server."""
        if self.api_base_url.rstrip("/").endswith("/bot"):
            return self.api_base_url.rstrip("/")[: -len("/bot")] + "/file/bot"
        return "https://api.telegram.org/file/bot"


_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class ConfigProblem(ValueError):
    """A setting that cannot work; the message says which and how to fix it."""


def _port(value: str, name: str = "COREFLECT_WEBHOOK_PORT") -> int:
    try:
        port = int(value.strip())
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigProblem(f"{name} must be a port number, not {value!r}.")
    return port


def _choice(source: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = (source.get(name) or choices[0]).strip().lower()
    if value not in choices:
        raise ConfigProblem(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
    return value


def _ids(value: str) -> frozenset[int]:
    parts = [p for p in re.split(r"[\s,]+", value.strip()) if p]
    if not all(p.isascii() and p.isdigit() and len(p) <= 18 for p in parts):
        raise ConfigProblem("COREFLECT_ADMINS must be Telegram user ids, separated by commas.")
    return frozenset(int(p) for p in parts)


def _days(
    source: Mapping[str, str], name: str, default: int | None, least: int, unit: str = "days"
) -> int | None:
    value = (source.get(name) or "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) < least:
        raise ConfigProblem(f"{name} must be a whole number of {unit}, at least {least}.")
    return int(value)


def _model_folder(value: str) -> Path | None:
    """COREFLECT_TRANSCRIBE_MODEL: checked at start, so a wrong folder is said now, not when
    the first voice note arrives. The model is only ever read from here, never fetched."""
    if not value.strip():
        return None
    folder = Path(value.strip()).expanduser()
    if not (folder / "model.bin").is_file():
        raise ConfigProblem(
            f"COREFLECT_TRANSCRIBE_MODEL must be a folder holding a faster-whisper model"
            f" (with its model.bin); there is none at {str(folder)!r}. CoReflect never"
            " downloads a model: copy one there, or leave the setting out."
        )
    missing = [m for m in ("faster_whisper", "av") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigProblem(
            "COREFLECT_TRANSCRIBE_MODEL is set but transcription is not installed:"
            " run `make voice` in the CoReflect folder (its voice extra)."
        )
    return folder


def check_webhook_secret(secret: str) -> None:
    """Telegram accepts 1-256 characters of A-Z, a-z, 0-9, _ and -."""
    if not _SECRET.match(secret):
        raise ConfigProblem(
            "COREFLECT_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -."
        )
