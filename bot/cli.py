"""`coreflect` and `python -m bot`: the Telegram bot with a token, the console chat without one."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from bot import logs
from bot.app import open_service
from bot.backup import BackupProblem, backup, restore, running_lock
from bot.config import Config, ConfigProblem
from flows.store.core import StartupProblem

log = logging.getLogger("coreflect")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="coreflect", description=__doc__)
    parser.add_argument(
        "mode",
        nargs="?",
        choices=["telegram", "console", "backup", "restore", "audit", "rotate-key"],
        help="default: telegram if TELEGRAM_BOT_TOKEN is set, else console",
    )
    parser.add_argument("path", nargs="?", type=Path, help="backup/restore: the backup file")
    parser.add_argument(
        "--key-file", type=Path, help="restore: the master key file the backup was made with"
    )
    parser.add_argument("--since", help="audit: from this date (YYYY-MM-DD; default 30 days ago)")
    parser.add_argument("--format", choices=["csv", "json"], default="csv", help="audit: output")
    parser.add_argument("--person", help="audit: only the rows about this Telegram user id")
    args = parser.parse_args(argv)
    try:
        config = Config.from_env()
    except ConfigProblem as exc:
        print(f"CoReflect cannot start: {exc}", file=sys.stderr)
        return 1
    logs.configure(config.log_level, secrets=(config.token, config.key))
    if args.mode == "audit":
        from bot.audit import print_audit

        try:
            return asyncio.run(print_audit(config, args.since, args.format, args.person))
        except (StartupProblem, ValueError) as exc:
            print(f"CoReflect audit refused: {exc}", file=sys.stderr)
            return 1
    if args.mode in ("backup", "restore"):
        return _backup_or_restore(config, args.mode, args.path, args.key_file)
    if args.mode == "rotate-key":
        return _rotate_key(config)
    mode = args.mode or ("telegram" if config.token else "console")
    if mode == "telegram" and not config.token:
        print(
            "TELEGRAM_BOT_TOKEN is not set; run `coreflect console` for the local chat.",
            file=sys.stderr,
        )
        return 2
    if mode == "console" and args.mode is None:
        print("No TELEGRAM_BOT_TOKEN set, so starting the local console chat.", file=sys.stderr)
    try:
        with running_lock(config.data_dir):
            return asyncio.run(_console(config) if mode == "console" else _telegram(config))
    except (StartupProblem, BackupProblem) as exc:
        print(f"CoReflect cannot start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _backup_or_restore(config: Config, mode: str, path: Path | None, key: Path | None) -> int:
    if path is None:
        print(f"usage: coreflect {mode} PATH", file=sys.stderr)
        return 2
    try:
        report = backup(config, path) if mode == "backup" else restore(config, path, key)
    except BackupProblem as exc:
        print(f"CoReflect {mode} refused: {exc}", file=sys.stderr)
        return 1
    print(report)
    return 0


def _rotate_key(config: Config) -> int:
    from bot.rekey import rotate_key

    try:
        report = rotate_key(config)
    except BackupProblem as exc:
        print(f"CoReflect rotate-key refused: {exc}", file=sys.stderr)
        return 1
    print(report)
    return 0


async def _console(config: Config) -> int:
    from bot.console import run_console

    logging.getLogger().setLevel(logging.WARNING)
    service = await open_service(config)
    try:
        await run_console(service)
    finally:
        await service.store.close()
    return 0


async def _telegram(config: Config) -> int:
    from bot.health import Health, HealthServer
    from bot.inbox import InboxRunner
    from bot.telegram_bot import ALLOWED_UPDATES, build_application
    from bot.webhook import WebhookReceiver

    service = await open_service(config)
    runner = InboxRunner(build_application(config, service), service)
    health = Health(service, probe=runner.app.bot.get_me)
    server: HealthServer | None = None
    how = "long polling"
    if config.webhook_url:
        # The webhook server answers /healthz, /readyz and /metrics itself.
        receiver = WebhookReceiver(service.store, config, runner.wake, health=health.respond)
        runner.receive = lambda: receiver.serve(runner.app.bot, ALLOWED_UPDATES)
        how = f"webhook, listening on {config.webhook_listen}:{config.webhook_port}"
    elif config.http_port is not None:
        server = HealthServer(health, config.http_listen, config.http_port)
        try:
            await server.start()
        except OSError as exc:
            await service.store.close()
            raise StartupProblem(f"COREFLECT_HTTP_PORT cannot be used: {exc}") from exc
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runner.stop)
    log.info("CoReflect is running (%s); Ctrl+C or SIGTERM stops it", how)
    try:
        await runner.run()
    finally:
        if server is not None:
            await server.stop()
        await service.store.close()
    log.info("stopped cleanly")
    return 0
