"""`coreflect audit --since DATE --format csv|json [--person ID]`: the audit trail, printed.

Person ids in the trail are keyed hashes; `--person` finds one person's rows by hashing their
Telegram id with this installation's key, which only the organisation holding the key can do.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime, timedelta

from bot.config import Config
from flows.store import audit
from flows.store.core import Store

FIELDS = ("id", "at", "action", "actor", "subject", "detail")


def since_date(text: str | None, now: datetime) -> datetime:
    if not text:
        return now - timedelta(days=30)
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"--since wants a date like 2026-01-31, not {text!r}") from None


async def print_audit(config: Config, since: str | None, fmt: str, person: str | None) -> int:
    who = None
    if person is not None:
        if not (person.isascii() and person.isdigit()):
            raise ValueError("--person wants a Telegram user id (digits)")
        who = int(person)
    store = await Store.open(config.data_dir, config.key, config.synchronous)
    try:
        start = since_date(since, store.clock())
        rows = await store.run(lambda tx: audit.rows(tx, start, who))
    finally:
        await store.close()
    if fmt == "json":
        json.dump(rows, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return 0
