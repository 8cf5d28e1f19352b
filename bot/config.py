"""Configuration from environment variables (documented in the README)."""

from __future__ import annotations

import os
import re
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

    @staticmethod
    def from_env(env: dict[str, str] | None = None) -> Config:
        source = os.environ if env is None else env
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


def _port(value: str) -> int:
    try:
        port = int(value.strip())
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigProblem(f"COREFLECT_WEBHOOK_PORT must be a port number, not {value!r}.")
    return port


def check_webhook_secret(secret: str) -> None:
    """Telegram accepts 1-256 characters of A-Z, a-z, 0-9, _ and -."""
    if not _SECRET.match(secret):
        raise ConfigProblem(
            "COREFLECT_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -."
        )
