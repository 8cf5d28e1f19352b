"""What an organisation has decided, read once at start-up (bot/config.py fills it from
COREFLECT_ACCESS, COREFLECT_ADMINS, COREFLECT_SUPERVISORS, COREFLECT_LEAVER_DAYS,
COREFLECT_RETENTION_DAYS, COREFLECT_AUDIT_DAYS and COREFLECT_STORAGE_MB)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Organisation:
    access: str = "open"  # "open": anyone who finds the bot; "invite": a join code first
    admins: frozenset[int] = frozenset()  # Telegram user ids
    supervisors: str = "open"  # "approved": only people an administrator marked may supervise
    leaver_days: int = 30  # a leaver may still /export and /forget this long
    retention_days: int | None = None  # entries older than this are erased (None: kept)
    audit_days: int = 400  # audit rows are kept this long (never under 30)
    join_code_days: int = 14  # a new join code lasts this long
    storage_mb: int = 200  # what one person may store (words and voice notes); 0: no allowance

    @property
    def invite_only(self) -> bool:
        return self.access == "invite"

    @property
    def approved_supervisors(self) -> bool:
        return self.supervisors == "approved"
