"""Start-up shared by every mode: load and validate the question sets, open the store."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot import logs
from bot.config import Config
from flows.app import App, Organisation, build
from flows.questions import catalogue as engine
from flows.store.core import StartupProblem, Store

log = logging.getLogger(__name__)


def organisation(config: Config) -> Organisation:
    return Organisation(
        access=config.access,
        admins=config.admins,
        supervisors=config.supervisors,
        leaver_days=config.leaver_days,
        retention_days=config.retention_days,
        audit_days=config.audit_days,
        storage_mb=config.storage_mb,
    )


async def open_service(config: Config) -> App:
    """Everything that can refuse to start does so here, before any person is answered."""
    try:
        ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise StartupProblem(f"COREFLECT_TIMEZONE {config.timezone!r} is not a time zone.") from exc
    try:
        catalogue = engine.load(support_override=config.support_file, overlay=config.prompts_dir)
    except engine.PromptError as exc:
        raise StartupProblem(f"A question set is broken: {exc}") from exc
    store = await Store.open(config.data_dir, config.key, config.synchronous)
    logs.set_person_key(store.keys.log_key)
    try:
        return build(store, catalogue, config.timezone, organisation(config))
    except engine.PromptError as exc:
        await store.close()
        raise StartupProblem(f"A question set is broken: {exc}") from exc
