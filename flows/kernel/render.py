"""Telegram-HTML text: the one place that escapes, measures and splits what we send.

Templates render with Jinja autoescaping on, so anything a person wrote is escaped on its way in;
`escape` is for the few places that build HTML outside a template.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from jinja2 import Environment, StrictUndefined

MESSAGE_LIMIT = 4096
_TAG = re.compile(r"<[^>]*>")
_BLANK_LINES = re.compile(r"\n{3,}")


def environment() -> Environment:
    env = Environment(
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["shorten"] = shorten
    return env


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def tidy(rendered: str) -> str:
    """Trim a rendered template: no runs of blank lines, no leading or trailing space."""
    return _BLANK_LINES.sub("\n\n", rendered).strip()


def to_plain(markup: str) -> str:
    """What a person reads once Telegram has parsed the HTML."""
    return html.unescape(_TAG.sub("", markup))


def telegram_length(markup: str) -> int:
    """Telegram counts UTF-16 code units after entity parsing."""
    return len(to_plain(markup).encode("utf-16-le")) // 2


def shorten(text: str, limit: int = 300) -> str:
    """Cut at a word boundary and add an ellipsis, for summaries and lists."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:") + "…"


def pack(blocks: Iterable[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Join HTML blocks into as few messages as fit; a block too big on its own is split as text."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        block = block.strip()
        if not block:
            continue
        pieces = [block] if telegram_length(block) <= limit else _split_plain(block, limit)
        for piece in pieces:
            candidate = f"{current}\n\n{piece}" if current else piece
            if telegram_length(candidate) <= limit:
                current = candidate
            else:
                messages.append(current)
                current = piece
    if current:
        messages.append(current)
    return messages


def _split_plain(block: str, limit: int) -> list[str]:
    """Split an oversized block on whitespace, dropping its formatting (it stays readable)."""
    text = to_plain(block)
    pieces: list[str] = []
    while text:
        if _units(text) <= limit:
            pieces.append(escape(text))
            break
        cut = _prefix_within(text, limit)
        space = text.rfind(" ", 0, cut)
        if space > cut // 2:
            cut = space
        pieces.append(escape(text[:cut]))
        text = text[cut:].lstrip()
    return pieces


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _prefix_within(text: str, limit: int) -> int:
    """The longest prefix length (in characters) whose UTF-16 length is within `limit`."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)
