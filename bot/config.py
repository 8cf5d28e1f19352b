"""Configuration from environment variables (documented in the README)."""

from __future__ import annotations

import os
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

    @staticmethod
    def from_env(env: dict[str, str] | None = None) -> Config:
        source = os.environ if env is None else env
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
        )

    @property
    def file_base_url(self) -> str:
        """Where files are fetched: Telegram's own, or the same self-hosted server."""
        if self.api_base_url.rstrip("/").endswith("/bot"):
            return self.api_base_url.rstrip("/")[: -len("/bot")] + "/file/bot"
        return "https://api.telegram.org/file/bot"
