"""Logging that never carries what a person wrote, nor the bot token.

At DEBUG, python-telegram-bot logs every request's parameters (message texts included), aiosqlite
logs its operations and httpx logs URLs with the token in them. Those loggers are held at INFO or
above whatever level the operator asks for; our own loggers only ever log ids, counts and kinds.
"""

from __future__ import annotations

import logging

_HELD = {
    "telegram": logging.INFO,
    "aiosqlite": logging.INFO,
    "apscheduler": logging.INFO,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
}


def configure(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    hold_library_loggers()


def hold_library_loggers() -> None:
    for name, floor in _HELD.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(floor, logger.getEffectiveLevel()))
