"""`/export`: everything CoReflect holds about a person, as Markdown to read and JSON to keep.

Pure functions over plain data: the engine builds `ExportPerson`, `ExportEntry` and `ExportShare`
objects from the database and hands them here. Nothing here touches the network, the database or
Telegram. The JSON shape is documented in docs/export-format.md; change it only as that file allows.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, StrictUndefined, Template

EXPORT_VERSION = 2  # 2: a voice note's answer names its recording in the zip ("audio")
EXPORT_FORMAT = "coreflect-export"

# Fixed English names: the export must not depend on the server's locale.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# A line of a person's own text that Markdown would read as structure: a heading, quote, list
# item, thematic break or setext underline, code fence, or the start of an HTML block (which can
# swallow the rest of the document, e.g. "<!--"). Up to three spaces of indent still count. The
# backslash goes after the indent, or for an ordered list item ("1. ", "12) ") before its
# punctuation, where CommonMark honours it ("\1." would show the backslash).
_STRUCTURE = re.compile(
    r"^( {0,3}(?:\d+(?=[.)])|(?=[#>*+=\-]|```|~~~|<[A-Za-z/!?])))", re.MULTILINE
)
# Characters that could make a person's words into markup rather than text anywhere in a line
# (HTML and comments, links and images, code, emphasis, tables, entities): each gets a backslash,
# which CommonMark and GitHub read as "this character, as written" (a backslash of theirs too).
_INLINE = re.compile(r"([\\`*_\[\]<>~|&])")


@dataclass(frozen=True, slots=True)
class ExportAnswer:
    step: str  # step id, e.g. "experiences", "writing.1" (journal parts), "note.1" (later notes)
    label: str  # heading, e.g. "Experiences I could draw on" ("" if unknown)
    text: str  # what the person sees: the free text, or the chosen button's label
    value: str  # the stored value: same as text for free text, the choice value for buttons
    answered_at: datetime  # aware, UTC
    audio: str | None = None  # a voice note: its recording's path in the zip, "audio/…"


@dataclass(frozen=True, slots=True)
class ExportEntry:
    id: int
    flow: str  # "preparation", "in_the_moment", "reflection", "top_tips", "journal"
    title: str  # "Preparation", "In the moment", "Reflection", "Ten Top Tips", "Journal"
    status: str  # "saved" or "draft"
    episode_id: int  # entries sharing an episode_id belong to one sharing episode
    created_at: datetime  # aware, UTC
    updated_at: datetime
    flagged: bool  # "bring to supervision"
    tags: tuple[str, ...]  # lower-case, without '#'
    answers: tuple[ExportAnswer, ...]  # in question order


@dataclass(frozen=True, slots=True)
class ExportShare:
    """One row of the share log: what was shared, with whom and when; never the words."""

    id: int
    kind: str  # "entry", "episode" or "pack"
    with_id: int  # the supervisor's Telegram user id
    with_name: str  # their first name as last seen ("" if unknown)
    answers: tuple[tuple[int, str], ...]  # (entry id, step) of each answer shared, in order
    shared_at: datetime  # aware, UTC
    expires_at: datetime | None  # None: until withdrawn
    ended: str | None  # None while shared; "withdrawn" or "expired"
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class ExportPerson:
    id: int  # Telegram user id
    timezone: str  # IANA, e.g. "Europe/London"
    created_at: datetime


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _utc(moment: datetime) -> datetime:
    """Aware UTC; a naive value (which should not happen) is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a "Z": always microseconds, so every timestamp has the same shape."""
    return _utc(moment).isoformat(timespec="microseconds")[:-6] + "Z"  # drop "+00:00"


iso_z = _iso  # for the engine, which builds `schedules` items as plain data


def _iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else _iso(moment)


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    """The person's zone; an unknown or broken name falls back to UTC rather than fail an export."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return UTC


def _order_key(entry: ExportEntry) -> tuple[datetime, int]:
    return (_utc(entry.created_at), entry.id)


def _share_key(share: ExportShare) -> tuple[datetime, int]:
    return (_utc(share.shared_at), share.id)


def _newest_shares(shares: Sequence[ExportShare]) -> list[ExportShare]:
    """Shares newest first (by when each was shared, then id), as both files list them."""
    return sorted(shares, key=_share_key, reverse=True)


def _share_status(share: ExportShare) -> str:
    """The share's status: "shared" while it lasts, else how it ended ("withdrawn", "expired")."""
    return "shared" if share.ended is None else share.ended


def _share_ended_at(share: ExportShare) -> datetime | None:
    """When it ended; never a time for a share that is still shared."""
    return None if share.ended is None else share.ended_at


def group_episodes(entries: Sequence[ExportEntry]) -> list[list[ExportEntry]]:
    """Episodes newest first (by when each began), each episode's entries oldest first.

    An entry whose episode has no other entries is an episode of one.
    """
    by_episode: dict[int, list[ExportEntry]] = {}
    for entry in sorted(entries, key=_order_key):
        by_episode.setdefault(entry.episode_id, []).append(entry)
    episodes = list(by_episode.values())
    episodes.sort(key=lambda episode: (_order_key(episode[0]), episode[0].episode_id), reverse=True)
    return episodes


ZIP_PART_BYTES = 45 * 1024 * 1024  # each zip under Telegram's 50 MB upload limit, with room


def plan_parts(
    files: Sequence[tuple[str, bytes]], audio: Sequence[tuple[str, bytes]]
) -> list[list[tuple[str, bytes]]]:
    """What goes in each zip: the first holds `files` (Markdown, JSON) and as many recordings
    as fit under ZIP_PART_BYTES; the rest of the recordings follow in further parts."""
    groups: list[list[tuple[str, bytes]]] = [list(files)]
    size = sum(len(b) for _, b in files)
    for name, body in audio:
        if size + len(body) > ZIP_PART_BYTES and groups[-1]:
            groups.append([])
            size = 0
        groups[-1].append((name, body))
        size += len(body)
    return groups


def part_names(generated_at: datetime, count: int) -> list[str]:
    """coreflect-journal-YYYY-MM-DD.zip, or …-part1of3.zip and so on."""
    stem = filenames(generated_at)[0].removesuffix(".md")
    if count == 1:
        return [f"{stem}.zip"]
    return [f"{stem}-part{n}of{count}.zip" for n in range(1, count + 1)]


def zip_group(generated_at: datetime, group: Sequence[tuple[str, bytes]]) -> bytes:
    """One zip, made in memory: the recordings stored as they are (Opus does not shrink), the
    text compressed."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in group:
            packed = zipfile.ZIP_STORED if name.startswith("audio/") else zipfile.ZIP_DEFLATED
            info = zipfile.ZipInfo(name, _zip_time(generated_at))
            info.compress_type = packed
            archive.writestr(info, body)
    return buffer.getvalue()


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    utc = _utc(moment)
    return (utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second)


def filenames(generated_at: datetime) -> tuple[str, str]:
    """The two attachments' names, dated (UTC) by when the export was made."""
    stem = f"coreflect-journal-{_utc(generated_at):%Y-%m-%d}"
    return f"{stem}.md", f"{stem}.json"


# ---------------------------------------------------------------------------------------------
# JSON


def document(
    person: ExportPerson,
    entries: Sequence[ExportEntry],
    generated_at: datetime,
    *,
    shares: Sequence[ExportShare] = (),
    schedules: Sequence[dict[str, Any]] = (),
    team_posts: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The JSON export as plain data (key order as documented); `to_json` writes the same thing."""
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "generated_at": _iso(generated_at),
        "person": {
            "id": person.id,
            "timezone": person.timezone,
            "created_at": _iso(person.created_at),
        },
        "entries": [
            {
                "id": entry.id,
                "flow": entry.flow,
                "title": entry.title,
                "status": entry.status,
                "episode_id": entry.episode_id,
                "created_at": _iso(entry.created_at),
                "updated_at": _iso(entry.updated_at),
                "flagged": entry.flagged,
                "tags": list(entry.tags),
                "answers": [
                    {
                        "step": answer.step,
                        "label": answer.label,
                        "text": answer.text,
                        "value": answer.value,
                        "answered_at": _iso(answer.answered_at),
                    }
                    for answer in entry.answers
                ],
            }
            for entry in sorted(entries, key=_order_key, reverse=True)
        ],
        "episodes": [
            {"id": episode[0].episode_id, "entry_ids": [entry.id for entry in episode]}
            for episode in group_episodes(entries)
        ],
        "shares": [
            {
                "id": share.id,
                "kind": share.kind,
                "with": {"id": share.with_id, "first_name": share.with_name},
                "answers": [
                    {"entry_id": entry_id, "step": step} for entry_id, step in share.answers
                ],
                "shared_at": _iso(share.shared_at),
                "expires_at": _iso_or_none(share.expires_at),
                "status": _share_status(share),
                "ended_at": _iso_or_none(_share_ended_at(share)),
            }
            for share in _newest_shares(shares)
        ],
        "schedules": [dict(item) for item in schedules],
        "team_posts": [dict(item) for item in team_posts],
    }


# `json.dumps(document(...), ensure_ascii=False, indent=2)` gives the same bytes, but with an
# indent the standard library falls back to its pure-Python encoder, which takes about a second
# for 10,000 entries. Writing the fixed shape directly, quoting strings with the same C function
# json.dumps uses, is several times faster; tests check the two agree byte for byte.
_quote = encode_basestring


def _int(number: int) -> str:
    return int.__repr__(number)


def _list(items: Sequence[str], indent: str) -> str:
    """A JSON array of already-encoded items, laid out as `indent=2` would at this depth."""
    if not items:
        return "[]"
    inner = indent + "  "
    return "[\n" + inner + (",\n" + inner).join(items) + "\n" + indent + "]"


def _answer_json(answer: ExportAnswer) -> str:
    return (
        "{\n"
        f'          "step": {_quote(answer.step)},\n'
        f'          "label": {_quote(answer.label)},\n'
        f'          "text": {_quote(answer.text)},\n'
        f'          "value": {_quote(answer.value)},\n'
        f'          "answered_at": "{_iso(answer.answered_at)}"'
        + ("" if answer.audio is None else f',\n          "audio": {_quote(answer.audio)}')
        + "\n        }"
    )


def _entry_json(entry: ExportEntry) -> str:
    tags = _list([_quote(tag) for tag in entry.tags], "      ")
    answers = _list([_answer_json(answer) for answer in entry.answers], "      ")
    return (
        "{\n"
        f'      "id": {_int(entry.id)},\n'
        f'      "flow": {_quote(entry.flow)},\n'
        f'      "title": {_quote(entry.title)},\n'
        f'      "status": {_quote(entry.status)},\n'
        f'      "episode_id": {_int(entry.episode_id)},\n'
        f'      "created_at": "{_iso(entry.created_at)}",\n'
        f'      "updated_at": "{_iso(entry.updated_at)}",\n'
        f'      "flagged": {"true" if entry.flagged else "false"},\n'
        f'      "tags": {tags},\n'
        f'      "answers": {answers}\n'
        "    }"
    )


def _episode_json(episode: list[ExportEntry]) -> str:
    entry_ids = _list([_int(entry.id) for entry in episode], "      ")
    return f'{{\n      "id": {_int(episode[0].episode_id)},\n      "entry_ids": {entry_ids}\n    }}'


def _stamp_or_null(moment: datetime | None) -> str:
    return "null" if moment is None else f'"{_iso(moment)}"'


def _share_answer_json(entry_id: int, step: str) -> str:
    return (
        f'{{\n          "entry_id": {_int(entry_id)},\n          "step": {_quote(step)}\n        }}'
    )


def _share_json(share: ExportShare) -> str:
    answers = _list([_share_answer_json(*shared) for shared in share.answers], "      ")
    return (
        "{\n"
        f'      "id": {_int(share.id)},\n'
        f'      "kind": {_quote(share.kind)},\n'
        '      "with": {\n'
        f'        "id": {_int(share.with_id)},\n'
        f'        "first_name": {_quote(share.with_name)}\n'
        "      },\n"
        f'      "answers": {answers},\n'
        f'      "shared_at": "{_iso(share.shared_at)}",\n'
        f'      "expires_at": {_stamp_or_null(share.expires_at)},\n'
        f'      "status": {_quote(_share_status(share))},\n'
        f'      "ended_at": {_stamp_or_null(_share_ended_at(share))}\n'
        "    }"
    )


def _nested(item: dict[str, Any]) -> str:
    """A small object two levels down, exactly as json.dumps(indent=2) would write it there."""
    return json.dumps(item, ensure_ascii=False, indent=2).replace("\n", "\n    ")


def _top_list(items: Sequence[str]) -> bytes:
    """A top-level array as UTF-8. Encoding item by item keeps a 10,000-entry export from
    building (and copying) one huge string, which is slow once any emoji widens it to UCS-4."""
    if not items:
        return b"[]"
    return b"[\n    " + b",\n    ".join([item.encode("utf-8") for item in items]) + b"\n  ]"


def to_json(
    person: ExportPerson,
    entries: Sequence[ExportEntry],
    generated_at: datetime,
    *,
    shares: Sequence[ExportShare] = (),
    schedules: Sequence[dict[str, Any]] = (),
    team_posts: Sequence[dict[str, Any]] = (),
) -> bytes:
    """The machine-readable export: UTF-8 JSON in the shape docs/export-format.md describes."""
    newest_first = sorted(entries, key=_order_key, reverse=True)
    head = (
        "{\n"
        f'  "format": {_quote(EXPORT_FORMAT)},\n'
        f'  "version": {_int(EXPORT_VERSION)},\n'
        f'  "generated_at": "{_iso(generated_at)}",\n'
        '  "person": {\n'
        f'    "id": {_int(person.id)},\n'
        f'    "timezone": {_quote(person.timezone)},\n'
        f'    "created_at": "{_iso(person.created_at)}"\n'
        "  },\n"
        '  "entries": '
    )
    return b"".join(
        [
            head.encode("utf-8"),
            _top_list([_entry_json(entry) for entry in newest_first]),
            b',\n  "episodes": ',
            _top_list([_episode_json(episode) for episode in group_episodes(entries)]),
            b',\n  "shares": ',
            _top_list([_share_json(share) for share in _newest_shares(shares)]),
            b',\n  "schedules": ',
            _top_list([_nested(item) for item in schedules]),
            b',\n  "team_posts": ',
            _top_list([_nested(item) for item in team_posts]),
            b"\n}\n",
        ]
    )


# ---------------------------------------------------------------------------------------------
# Markdown


def local(moment: datetime, tz: str) -> str:
    """'Mon 23 Nov 2026, 14:05' in the IANA zone `tz`."""
    here = _utc(moment).astimezone(_zone(tz))
    return (
        f"{_DAYS[here.weekday()]} {here.day} {_MONTHS[here.month - 1]} {here.year}, "
        f"{here.hour:02d}:{here.minute:02d}"
    )


def local_date(moment: datetime, tz: str) -> str:
    """'Mon 23 Nov 2026' in the IANA zone `tz`."""
    here = _utc(moment).astimezone(_zone(tz))
    return f"{_DAYS[here.weekday()]} {here.day} {_MONTHS[here.month - 1]} {here.year}"


def md_text(text: str) -> str:
    """Words from a person (theirs, or another's name or group title), made to render as text.

    Characters that could start markup anywhere (`<img …>`, `<!--`, `[a link](…)`, `*`, `&`…)
    and lines Markdown would read as structure (`# heading`, `1. list`) get a backslash escape,
    which a Markdown viewer shows as the character itself. Nothing is HTML-escaped: emoji and
    right-to-left text pass through as written.
    """
    text = str(text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _STRUCTURE.sub(r"\1\\", _INLINE.sub(r"\\\1", text))


def markdown_environment() -> Environment:
    """Jinja for the Markdown export: no autoescaping (this is not HTML), strict about names."""
    env = Environment(
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["local"] = local
    env.filters["local_date"] = local_date
    env.filters["md_text"] = md_text
    return env


def to_markdown(
    person: ExportPerson,
    entries: Sequence[ExportEntry],
    generated_at: datetime,
    template: Template,
    *,
    shares: Sequence[ExportShare] = (),
    schedules: Sequence[dict[str, Any]] = (),
    team_posts: Sequence[dict[str, Any]] = (),
) -> bytes:
    """The readable export: one Markdown document, entries grouped by sharing episode, then
    what the person has shared and their sessions and reminders (if any)."""
    episodes = group_episodes(entries)
    rendered = template.render(
        person=person,
        generated_at=generated_at,
        episodes=episodes,
        entry_count=len(entries),
        shares=_newest_shares(shares),
        sessions=[
            {**i, "at": datetime.fromisoformat(i["starts_at"].replace("Z", "+00:00"))}
            for i in schedules
            if i["kind"] == "session" and i["state"] == "planned"
        ],
        reminders=next((i for i in schedules if i["kind"] == "reminders"), None),
        steps=[i for i in schedules if i["kind"] == "agreed_step"],
        team_posts=[
            {**p, "at": datetime.fromisoformat(p["created_at"].replace("Z", "+00:00"))}
            for p in team_posts
        ],
    )
    return (rendered.strip() + "\n").encode("utf-8")
