"""Reading the ids and small numbers a button carries.

A button's data comes back from Telegram as the client sent it, so it is read as untrusted text:
ASCII digits only (`str.isdigit()` also accepts '²' and '٣'), and never more of them than fit in
SQLite's 64-bit integers. Anything else is None, which every caller answers as "not found".
"""

from __future__ import annotations

ID_DIGITS = 18  # below 2**63 - 1, the largest integer SQLite stores


def number(text: str, digits: int = ID_DIGITS) -> int | None:
    """`text` as a non-negative integer if it is 1 to `digits` ASCII digits, else None."""
    if 0 < len(text) <= digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def numbers(parts: list[str], digits: int = ID_DIGITS) -> list[int | None]:
    """`number` of each part."""
    return [number(p, digits) for p in parts]
