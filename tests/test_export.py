"""/export: the JSON shape, the Markdown layout, and that a person's words survive both intact."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pytest

from flows.kernel.export import (
    EXPORT_VERSION,
    ExportAnswer,
    ExportEntry,
    ExportPerson,
    ExportShare,
    document,
    filenames,
    local,
    markdown_environment,
    md_text,
    to_json,
    to_markdown,
)

GENERATED = datetime(2026, 11, 23, 14, 5, tzinfo=UTC)
START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # Mon 1 Jun 2026, 09:00 in London
LATE = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)  # Tue 2 Jun 2026, 00:30 in London

TRICKY = (
    "I said <nothing> & it was fine 🌱\n"
    "# not a heading\n"
    "- not a list either\n"
    "> not a quote\n"
    "1. not numbered\n"
    "```\n"
    "שלום – RTL stays as written"
)


def answer(
    step: str, label: str, text: str, value: str | None = None, at: datetime = START
) -> ExportAnswer:
    return ExportAnswer(step, label, text, text if value is None else value, at)


def entry(
    id: int,
    flow: str,
    title: str,
    created_at: datetime,
    answers: tuple[ExportAnswer, ...],
    *,
    episode_id: int | None = None,
    status: str = "saved",
    flagged: bool = False,
    tags: tuple[str, ...] = (),
) -> ExportEntry:
    return ExportEntry(
        id=id,
        flow=flow,
        title=title,
        status=status,
        episode_id=id if episode_id is None else episode_id,
        created_at=created_at,
        updated_at=created_at + timedelta(minutes=5),
        flagged=flagged,
        tags=tags,
        answers=answers,
    )


PERSON = ExportPerson(id=424242, timezone="Europe/London", created_at=START - timedelta(days=30))

PREPARATION = entry(
    10,
    "preparation",
    "Preparation",
    START,
    (
        answer("experiences", "Experiences I could draw on", TRICKY),
        answer("ready", "How ready do you feel?", "Not sure", "not_sure"),
    ),
)
IN_THE_MOMENT = entry(
    11,
    "in_the_moment",
    "In the moment",
    START + timedelta(hours=3),
    (answer("sharing_now", "What I'm about to share", "A bit about my own recovery"),),
    episode_id=10,
)
REFLECTION = entry(
    12,
    "reflection",
    "Reflection",
    START + timedelta(days=2),
    (answer("went_well", "What went well", "They nodded and opened up"),),
    episode_id=10,
    flagged=True,
)
JOURNAL = entry(
    20,
    "journal",
    "Journal",
    LATE,
    (
        answer("writing.1", "", "First part of the day", at=LATE),
        answer("writing.2", "", "- second part, starting with a dash", at=LATE),
        answer("note.1", "", "A note I added later", at=LATE + timedelta(days=1)),
    ),
    tags=("boundaries", "self_care"),
)
DRAFT = entry(
    30,
    "top_tips",
    "Ten Top Tips",
    START - timedelta(days=5),
    (answer("tip_1", "Tip 1", "Breathe first"),),
    status="draft",
)
ENTRIES = (JOURNAL, DRAFT, REFLECTION, PREPARATION, IN_THE_MOMENT)  # deliberately out of order


def share(
    id: int,
    kind: str,
    shared_at: datetime,
    answers: tuple[tuple[int, str], ...] = ((10, "ready"),),
    *,
    name: str = "Sam",
    with_id: int = 515151,
    expires_at: datetime | None = None,
    ended: str | None = None,
    ended_at: datetime | None = None,
) -> ExportShare:
    return ExportShare(
        id=id,
        kind=kind,
        with_id=with_id,
        with_name=name,
        answers=answers,
        shared_at=shared_at,
        expires_at=expires_at,
        ended=ended,
        ended_at=ended_at,
    )


ODD_NAME = 'Sam "Sunny" <b>O\'Neil</b> & co 🌱'
SHARED_ENTRY = share(  # withdrawn the next day
    1,
    "entry",
    START + timedelta(days=2, hours=1),  # Wed 3 Jun 2026, 10:00 in London
    ((12, "went_well"),),
    expires_at=START + timedelta(days=9),
    ended="withdrawn",
    ended_at=START + timedelta(days=3, hours=9),  # Thu 4 Jun 2026, 18:00
)
SHARED_EPISODE = share(  # a week, then it ran out
    2,
    "episode",
    START + timedelta(days=2, hours=2),  # Wed 3 Jun 2026, 11:00
    ((10, "experiences"), (10, "ready"), (11, "sharing_now"), (12, "went_well")),
    name=ODD_NAME,
    expires_at=START + timedelta(days=9, hours=2),
    ended="expired",
    ended_at=START + timedelta(days=9, hours=2),  # Wed 10 Jun 2026, 11:00
)
SHARED_PACK = share(  # still shared, until withdrawn
    3,
    "pack",
    START + timedelta(days=5),  # Sat 6 Jun 2026, 09:00
    ((12, "went_well"), (20, "writing.1")),
    name="# Sam",
    with_id=616161,
)
SHARED_LATER = share(  # still shared, for a limited time; same moment as the pack, higher id
    4,
    "entry",
    START + timedelta(days=5),
    ((20, "note.1"),),
    name="",
    with_id=616161,
    expires_at=START + timedelta(days=12),  # Sat 13 Jun 2026, 09:00
)
SHARES = (SHARED_EPISODE, SHARED_PACK, SHARED_ENTRY, SHARED_LATER)  # deliberately out of order


@pytest.fixture(scope="module")
def template() -> jinja2.Template:
    source = resources.files("prompts").joinpath("export.md.j2").read_text(encoding="utf-8")
    return markdown_environment().from_string(source)


@pytest.fixture(scope="module")
def exported() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(to_json(PERSON, ENTRIES, GENERATED))
    return data


@pytest.fixture(scope="module")
def markdown(template: jinja2.Template) -> str:
    return to_markdown(PERSON, ENTRIES, GENERATED, template).decode("utf-8")


@pytest.fixture(scope="module")
def exported_shares() -> list[dict[str, Any]]:
    data: dict[str, Any] = json.loads(to_json(PERSON, ENTRIES, GENERATED, shares=SHARES))
    shares: list[dict[str, Any]] = data["shares"]
    return shares


@pytest.fixture(scope="module")
def markdown_shares(template: jinja2.Template) -> str:
    return to_markdown(PERSON, ENTRIES, GENERATED, template, shares=SHARES).decode("utf-8")


def unescape(markdown: str) -> str:
    """What a reader sees once Markdown has dropped the backslash escapes."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def section(markdown: str, heading: str) -> str:
    """The text from a heading line up to the next heading of the same or a higher level."""
    level = heading.split(" ", 1)[0]
    start = markdown.index(heading)
    rest = markdown[start + len(heading) :]
    ends = [m.start() for m in re.finditer(rf"^#{{1,{len(level)}}} ", rest, re.M)]
    return heading + (rest[: ends[0]] if ends else rest)


# --- JSON ------------------------------------------------------------------------------------


def test_json_top_level_shape(exported: dict[str, Any]) -> None:
    assert list(exported) == [
        "format",
        "version",
        "generated_at",
        "person",
        "entries",
        "episodes",
        "shares",
        "schedules",
        "team_posts",
    ]
    assert exported["format"] == "coreflect-export"
    assert exported["version"] == EXPORT_VERSION == 2
    assert exported["generated_at"] == "2026-11-23T14:05:00.000000Z"
    assert exported["person"] == {
        "id": 424242,
        "timezone": "Europe/London",
        "created_at": "2026-05-02T08:00:00.000000Z",
    }
    assert exported["shares"] == [] and exported["schedules"] == []
    assert exported["team_posts"] == []


def test_json_entry_shape(exported: dict[str, Any]) -> None:
    journal = next(e for e in exported["entries"] if e["id"] == 20)
    assert list(journal) == [
        "id",
        "flow",
        "title",
        "status",
        "episode_id",
        "created_at",
        "updated_at",
        "flagged",
        "tags",
        "answers",
    ]
    assert journal["tags"] == ["boundaries", "self_care"]
    assert journal["created_at"] == "2026-06-01T23:30:00.000000Z"
    assert journal["updated_at"] == "2026-06-01T23:35:00.000000Z"
    assert [a["step"] for a in journal["answers"]] == ["writing.1", "writing.2", "note.1"]
    assert list(journal["answers"][0]) == ["step", "label", "text", "value", "answered_at"]


def test_json_holds_every_answer_text_and_value_exactly(exported: dict[str, Any]) -> None:
    by_id = {e["id"]: e for e in exported["entries"]}
    for source in ENTRIES:
        got = by_id[source.id]
        assert (got["status"], got["flagged"], got["flow"], got["title"]) == (
            source.status,
            source.flagged,
            source.flow,
            source.title,
        )
        assert [(a["text"], a["value"], a["label"]) for a in got["answers"]] == [
            (a.text, a.value, a.label) for a in source.answers
        ]
    ready = by_id[10]["answers"][1]
    assert (ready["text"], ready["value"]) == ("Not sure", "not_sure")


def test_json_is_utf8_without_ascii_escapes() -> None:
    raw = to_json(PERSON, ENTRIES, GENERATED)
    assert "🌱".encode() in raw and "שלום".encode() in raw
    assert b"\\u" not in raw
    assert b"<nothing> & it" in raw
    assert raw.endswith(b"}\n") and b'\n  "format"' in raw  # indent=2


def test_json_entries_newest_first_and_episodes_grouped(exported: dict[str, Any]) -> None:
    assert [e["id"] for e in exported["entries"]] == [12, 20, 11, 10, 30]
    # Episodes newest first by when they began; each one's entries oldest first.
    assert exported["episodes"] == [
        {"id": 20, "entry_ids": [20]},
        {"id": 10, "entry_ids": [10, 11, 12]},
        {"id": 30, "entry_ids": [30]},
    ]


def test_json_timestamps_are_utc_with_z(exported: dict[str, Any]) -> None:
    stamps: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.endswith("_at"):
                    stamps.append(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(exported)
    assert len(stamps) == 2 + 2 * len(ENTRIES) + sum(len(e.answers) for e in ENTRIES)
    for stamp in stamps:
        assert stamp.endswith("Z")
        assert datetime.fromisoformat(stamp).utcoffset() == timedelta(0)


QUOTING = entry(
    50,
    "journal",
    "Journal",
    START,
    (
        answer(
            "writing.1", 'A "quoted" label', 'back\\slash, "quotes", tab\t, nul\x00, \u2028 and 🌱'
        ),
    ),
    tags=('odd"tag', "ünïcode"),
)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ENTRIES,
        lambda: (),
        lambda: (entry(1, "journal", "Journal", START, ()),),
        lambda: (QUOTING,),
        lambda: synthetic(50),
    ],
    ids=["sample", "empty", "no-answers", "quoting", "synthetic"],
)
def test_json_matches_the_standard_encoder(make: Any) -> None:
    """`to_json` writes by hand for speed; it must be exactly what json.dumps would write."""
    entries = make()
    expected = json.dumps(document(PERSON, entries, GENERATED), ensure_ascii=False, indent=2)
    assert to_json(PERSON, entries, GENERATED).decode("utf-8") == expected + "\n"
    assert json.loads(to_json(PERSON, entries, GENERATED)) == document(PERSON, entries, GENERATED)


def test_json_converts_other_offsets_to_utc() -> None:
    paris = datetime(2026, 6, 2, 1, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    data = json.loads(to_json(PERSON, [], paris))
    assert data["generated_at"] == "2026-06-02T01:30:00.000000Z"
    assert data["entries"] == [] and data["episodes"] == []


def test_json_shares_shape(exported_shares: list[dict[str, Any]]) -> None:
    pack = next(s for s in exported_shares if s["id"] == 3)
    assert list(pack) == [
        "id",
        "kind",
        "with",
        "answers",
        "shared_at",
        "expires_at",
        "status",
        "ended_at",
    ]
    assert pack == {
        "id": 3,
        "kind": "pack",
        "with": {"id": 616161, "first_name": "# Sam"},
        "answers": [
            {"entry_id": 12, "step": "went_well"},
            {"entry_id": 20, "step": "writing.1"},
        ],
        "shared_at": "2026-06-06T08:00:00.000000Z",
        "expires_at": None,
        "status": "shared",
        "ended_at": None,
    }
    assert list(pack["with"]) == ["id", "first_name"]
    assert list(pack["answers"][0]) == ["entry_id", "step"]


def test_json_shares_newest_first(exported_shares: list[dict[str, Any]]) -> None:
    # By when each was shared; the pack and the later entry were shared at the same moment, so
    # the higher id comes first, as with entries.
    assert [s["id"] for s in exported_shares] == [4, 3, 2, 1]
    assert [s["kind"] for s in exported_shares] == ["entry", "pack", "episode", "entry"]


def test_json_share_status_and_nulls(exported_shares: list[dict[str, Any]]) -> None:
    by_id = {s["id"]: s for s in exported_shares}
    assert {i: (s["status"], s["expires_at"], s["ended_at"]) for i, s in by_id.items()} == {
        1: ("withdrawn", "2026-06-10T08:00:00.000000Z", "2026-06-04T17:00:00.000000Z"),
        2: ("expired", "2026-06-10T10:00:00.000000Z", "2026-06-10T10:00:00.000000Z"),
        3: ("shared", None, None),
        4: ("shared", "2026-06-13T08:00:00.000000Z", None),
    }
    assert by_id[4]["with"] == {"id": 616161, "first_name": ""}


def test_json_share_answers_in_order(exported_shares: list[dict[str, Any]]) -> None:
    episode = next(s for s in exported_shares if s["id"] == 2)
    assert [(a["entry_id"], a["step"]) for a in episode["answers"]] == list(SHARED_EPISODE.answers)


def test_json_share_ended_at_is_null_while_shared() -> None:
    odd = share(9, "entry", START, ended_at=START + timedelta(days=1))  # no `ended`: still shared
    (got,) = json.loads(to_json(PERSON, [], GENERATED, shares=[odd]))["shares"]
    assert (got["status"], got["ended_at"]) == ("shared", None)


def test_json_share_name_round_trips(exported_shares: list[dict[str, Any]]) -> None:
    episode = next(s for s in exported_shares if s["id"] == 2)
    assert episode["with"]["first_name"] == ODD_NAME
    raw = to_json(PERSON, [], GENERATED, shares=[SHARED_EPISODE])
    assert "🌱".encode() in raw and b"<b>O'Neil</b> & co" in raw and b"\\u" not in raw


def test_json_shares_keep_the_rest_as_it_was(exported_shares: list[dict[str, Any]]) -> None:
    with_shares = json.loads(to_json(PERSON, ENTRIES, GENERATED, shares=SHARES))
    without = json.loads(to_json(PERSON, ENTRIES, GENERATED))
    assert with_shares["version"] == EXPORT_VERSION == 2
    assert list(with_shares) == list(without)
    assert {k: v for k, v in with_shares.items() if k != "shares"} == {
        k: v for k, v in without.items() if k != "shares"
    }
    assert to_json(PERSON, ENTRIES, GENERATED, shares=()) == to_json(PERSON, ENTRIES, GENERATED)
    for item in exported_shares:
        for stamp in (item["shared_at"], item["expires_at"], item["ended_at"]):
            assert stamp is None or datetime.fromisoformat(stamp).utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "shares",
    [
        SHARES,
        (SHARED_PACK,),
        (share(5, "entry", START, ()),),  # no answers
        (share(6, "pack", START, ((1, 'odd"step\\'),), name='"\\\t\x00\u2028 🌱'),),
    ],
    ids=["sample", "one", "no-answers", "quoting"],
)
def test_json_with_shares_matches_the_standard_encoder(shares: tuple[ExportShare, ...]) -> None:
    for entries in (ENTRIES, ()):
        expected = json.dumps(
            document(PERSON, entries, GENERATED, shares=shares), ensure_ascii=False, indent=2
        )
        raw = to_json(PERSON, entries, GENERATED, shares=shares)
        assert raw.decode("utf-8") == expected + "\n"
        assert json.loads(raw) == document(PERSON, entries, GENERATED, shares=shares)


# --- Markdown --------------------------------------------------------------------------------


def test_markdown_opening(markdown: str) -> None:
    lines = markdown.splitlines()
    assert lines[0] == "# Your CoReflect journal"
    intro = "\n".join(lines[1:6])
    assert "Mon 23 Nov 2026, 14:05" in intro  # 14:05 UTC is 14:05 in London in November
    assert "everything CoReflect holds about you" in intro
    assert "private to you" in intro and "somewhere safe" in intro
    assert markdown.endswith("\n") and not markdown.endswith("\n\n")


def test_markdown_holds_every_answer(markdown: str) -> None:
    seen = unescape(markdown)
    for source in ENTRIES:
        for a in source.answers:
            assert a.text in seen
            if a.label:
                assert f"**{a.label}**" in markdown


def test_markdown_is_not_html_escaped(markdown: str) -> None:
    assert "I said \\<nothing\\> \\& it was fine 🌱" in markdown
    assert "&lt;" not in markdown and "&amp;" not in markdown
    assert "שלום – RTL stays as written" in markdown


def test_markdown_text_cannot_make_structure(markdown: str) -> None:
    ours = re.compile(r"^(# Your CoReflect journal|## .+ · .+|### .+ · .+)$")
    for line in markdown.splitlines():
        if line.startswith("#"):
            assert ours.match(line), line
        assert not line.startswith(("> ", "- ", "1. ", "```")), line
    assert "\\# not a heading" in markdown
    assert "\\- not a list either" in markdown
    assert "\\- second part, starting with a dash" in markdown


def test_markdown_dates_in_the_persons_zone(markdown: str, template: jinja2.Template) -> None:
    assert "## Journal · Tue 2 Jun 2026, 00:30" in markdown
    assert "Mon 1 Jun 2026" not in section(markdown, "## Journal")
    winter = entry(40, "journal", "Journal", datetime(2026, 12, 1, 23, 30, tzinfo=UTC), ())
    assert (
        "## Journal · Tue 1 Dec 2026, 23:30"
        in to_markdown(PERSON, [winter], GENERATED, template).decode()
    )
    new_york = ExportPerson(PERSON.id, "America/New_York", PERSON.created_at)
    text = to_markdown(new_york, [JOURNAL], GENERATED, template).decode()
    assert "## Journal · Mon 1 Jun 2026, 19:30" in text
    assert "Mon 23 Nov 2026, 09:05 (America/New_York time)" in text


def test_markdown_groups_a_sharing_episode(markdown: str) -> None:
    episode = section(markdown, "## Sharing episode · Mon 1 Jun 2026")
    headings = [line for line in episode.splitlines() if line.startswith("### ")]
    assert headings == [
        "### Preparation · Mon 1 Jun 2026, 09:00",
        "### In the moment · Mon 1 Jun 2026, 12:00",
        "### Reflection · Wed 3 Jun 2026, 09:00",
    ]
    assert "They nodded and opened up" in episode and "First part of the day" not in episode


def test_markdown_episode_order_newest_first(markdown: str) -> None:
    headings = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Journal · Tue 2 Jun 2026, 00:30",
        "## Sharing episode · Mon 1 Jun 2026",
        "## Ten Top Tips · Wed 27 May 2026, 09:00 (draft)",
    ]


def test_markdown_markers_and_tags(markdown: str) -> None:
    assert markdown.count("Brought to supervision") == 1
    assert "Brought to supervision" in section(markdown, "### Reflection")
    assert markdown.count("(draft)") == 1
    assert "Tags: #boundaries #self_care" in section(markdown, "## Journal")
    journal = section(markdown, "## Journal")
    assert "**Note added later** · *Wed 3 Jun 2026, 00:30*" in journal
    assert journal.index("First part of the day") < journal.index("second part")


def test_markdown_with_nothing_yet(template: jinja2.Template) -> None:
    text = to_markdown(PERSON, [], GENERATED, template).decode()
    assert text.startswith("# Your CoReflect journal\n")
    assert "nothing in your journal yet" in text
    assert "## " not in text


def test_markdown_has_no_runs_of_blank_lines(markdown: str) -> None:
    assert "\n\n\n" not in markdown


def shared_items(markdown: str) -> list[str]:
    return [
        line for line in section(markdown, "## What you've shared").splitlines() if line[:2] == "- "
    ]


def test_markdown_no_shares_no_section(markdown: str, template: jinja2.Template) -> None:
    assert "What you've shared" not in markdown and " shared with " not in markdown
    assert markdown.encode() == to_markdown(PERSON, ENTRIES, GENERATED, template, shares=())


def test_markdown_shares_come_after_the_journal(markdown_shares: str, markdown: str) -> None:
    headings = [line for line in markdown_shares.splitlines() if line.startswith("## ")]
    assert headings[-1] == "## What you've shared"
    assert markdown_shares.count("## What you've shared") == 1
    assert markdown_shares.startswith(markdown.rstrip("\n") + "\n\n---\n\n## What you've shared\n")
    assert markdown_shares.endswith("\n") and not markdown_shares.endswith("\n\n")
    assert "\n\n\n" not in markdown_shares


def test_markdown_lists_each_share_newest_first(markdown_shares: str) -> None:
    assert shared_items(markdown_shares) == [
        "- A journal entry, shared with your supervisor on Sat 6 Jun 2026, 09:00 · 1 answer"
        " · shared until Sat 13 Jun 2026, 09:00",
        "- Your supervision pack, shared with \\# Sam on Sat 6 Jun 2026, 09:00 · 2 answers"
        " · still shared, until you withdraw it",
        f"- A sharing episode, shared with {md_text(ODD_NAME)} on Wed 3 Jun 2026, 11:00 · 4 answers"
        " · expired on Wed 10 Jun 2026, 11:00",
        "- A journal entry, shared with Sam on Wed 3 Jun 2026, 10:00 · 1 answer"
        " · withdrawn on Thu 4 Jun 2026, 18:00",
    ]


def test_markdown_shares_hold_no_words(markdown_shares: str) -> None:
    shared = section(markdown_shares, "## What you've shared")
    for source in ENTRIES:
        for a in source.answers:
            assert a.text not in shared and (not a.label or a.label not in shared)


def test_markdown_shares_with_an_empty_journal(template: jinja2.Template) -> None:
    text = to_markdown(PERSON, [], GENERATED, template, shares=[SHARED_ENTRY]).decode()
    assert "nothing in your journal yet" in text
    assert [line for line in text.splitlines() if line.startswith("#")] == [
        "# Your CoReflect journal",
        "## What you've shared",
    ]
    assert shared_items(text) == [
        "- A journal entry, shared with Sam on Wed 3 Jun 2026, 10:00 · 1 answer"
        " · withdrawn on Thu 4 Jun 2026, 18:00"
    ]
    assert "\n\n\n" not in text


@pytest.mark.parametrize(
    "name",
    [
        "# Sam",
        "Sam\n# Boss",
        "Sam\r\n- list",
        "> Sam",
        "1. Sam",
        "```",
        "<!-- Sam",
        "Sam\n\n## Boss",
    ],
)
def test_markdown_share_names_cannot_make_structure(template: jinja2.Template, name: str) -> None:
    shares = [share(1, "entry", START, name=name), share(2, "pack", LATE, name=name)]
    text = to_markdown(PERSON, [JOURNAL], GENERATED, template, shares=shares).decode()
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [
        "# Your CoReflect journal",
        "## Journal · Tue 2 Jun 2026, 00:30",
        "## What you've shared",
    ]
    items = shared_items(text)
    assert len(items) == 2 and all(" shared with " in line for line in items)
    one_line = " ".join(name.split())
    assert all(f"shared with {md_text(one_line)} on " in line for line in items)
    assert unescape(items[0]).startswith(f"- Your supervision pack, shared with {one_line} on ")
    for line in section(text, "## What you've shared").splitlines()[1:]:
        assert not line.startswith(("#", "> ", "1. ", "```", "<")), line


def test_markdown_share_dates_in_the_persons_zone(template: jinja2.Template) -> None:
    new_york = ExportPerson(PERSON.id, "America/New_York", PERSON.created_at)
    text = to_markdown(new_york, [], GENERATED, template, shares=[SHARED_ENTRY]).decode()
    assert shared_items(text) == [
        "- A journal entry, shared with Sam on Wed 3 Jun 2026, 05:00 · 1 answer"
        " · withdrawn on Thu 4 Jun 2026, 13:00"
    ]


# --- Pieces ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("plain words", "plain words"),
        ("# heading", "\\# heading"),
        ("#hashtag", "\\#hashtag"),
        ("> quote", "\\> quote"),
        ("- item", "\\- item"),
        ("* item", "\\* item"),
        ("+ item", "\\+ item"),
        ("---", "\\---"),
        ("===", "\\==="),
        ("12. item", "12\\. item"),
        ("3) item", "3\\) item"),
        ("```python", "\\`\\`\\`python"),
        ("  # indented", "  \\# indented"),
        ("<!-- hide the rest", "\\<!-- hide the rest"),
        ("<3 that", "\\<3 that"),
        ("a < b & c > d", "a \\< b \\& c \\> d"),
        ("<img src=x>", "\\<img src=x\\>"),
        ("[a link](https://x.example)", "\\[a link\\](https://x.example)"),
        ("back\\slash *em* _em_ ~s~ |t|", "back\\\\slash \\*em\\* \\_em\\_ \\~s\\~ \\|t\\|"),
        ("mid # line - stays 1. too", "mid # line - stays 1. too"),
        ("2026 was a year", "2026 was a year"),
        ("emoji 🌱 and עברית", "emoji 🌱 and עברית"),
        ("one\n# two\nthree", "one\n\\# two\nthree"),
        ("one\r\n- two", "one\n\\- two"),
    ],
)
def test_md_text(raw: str, safe: str) -> None:
    assert md_text(raw) == safe


def test_local_formats_in_zone() -> None:
    assert local(LATE, "Europe/London") == "Tue 2 Jun 2026, 00:30"
    assert local(LATE, "UTC") == "Mon 1 Jun 2026, 23:30"
    assert local(LATE, "Not/AZone") == "Mon 1 Jun 2026, 23:30"  # falls back to UTC, never fails


def test_environment_is_markdown_not_html() -> None:
    env = markdown_environment()
    assert not env.autoescape
    assert env.from_string("{{ x }}").render(x="<&>") == "<&>"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()


def test_filenames() -> None:
    assert filenames(GENERATED) == (
        "coreflect-journal-2026-11-23.md",
        "coreflect-journal-2026-11-23.json",
    )


def test_flows_export_does_not_import_telegram() -> None:
    code = "import sys, flows.kernel.export; assert 'telegram' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- Size ------------------------------------------------------------------------------------


def synthetic(count: int) -> list[ExportEntry]:
    entries = []
    for n in range(count):
        at = START + timedelta(minutes=17 * n)
        entries.append(
            entry(
                n + 1,
                "reflection" if n % 3 else "preparation",
                "Reflection" if n % 3 else "Preparation",
                at,
                tuple(
                    answer(f"step_{k}", f"Question {k}", f"Answer {n}.{k} – some words 🌱", at=at)
                    for k in range(5)
                ),
                episode_id=(n // 3) * 3 + 1,
                flagged=n % 7 == 0,
                tags=("work",) if n % 5 == 0 else (),
            )
        )
    return entries


def test_ten_thousand_entries_export(template: jinja2.Template) -> None:
    entries = synthetic(10_000)
    raw_json = to_json(PERSON, entries, GENERATED)
    raw_md = to_markdown(PERSON, entries, GENERATED, template)
    data = json.loads(raw_json)
    assert len(data["entries"]) == 10_000
    assert len(data["episodes"]) == 3334
    assert 5_000_000 < len(raw_json) < 50_000_000
    text = raw_md.decode("utf-8")
    assert text.count("\n## Sharing episode · ") == 3333
    assert text.count("**Question 4**") == 10_000
    assert "Answer 9999.4 – some words 🌱" in text
    assert 1_000_000 < len(raw_md) < 20_000_000


HOSTILE = [
    "<img src=https://tracker.example/p.gif>",
    "[Your account needs checking](https://phish.example/login)",
    "![](https://tracker.example/q.gif)",
    "<https://phish.example>",
    "<!-- everything after this is hidden",
    "<script>alert(1)</script>",
    "&lt;b&gt; `code` *stars* ~~struck~~ | a | table |",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_markdown_shows_other_peoples_words_as_text(
    hostile: str, template: jinja2.Template
) -> None:
    """A supervisor's name, a group's title and an answer can't become an image, a link, an
    HTML comment or any other markup: every character that could start one is escaped, and
    a reader still sees exactly what was written."""
    said = entry(
        50, "journal", "Journal", START, (answer("writing.1", "", f"Before {hostile} after"),)
    )
    text = to_markdown(
        PERSON,
        [said],
        GENERATED,
        template,
        shares=[share(9, "entry", START, name=f"Sam {hostile}")],
        team_posts=[
            {
                "group": {"chat_id": -100, "title": f"Team {hostile}"},
                "status": "posted",
                "mode": "named",
                "created_at": "2026-06-01T09:00:00Z",
            }
        ],
    ).decode("utf-8")
    # Nothing from a person is left able to open a tag, a link, an image or a comment.
    assert not re.search(r"(?<!\\)[<\[\]`*&|~]", text), text
    seen = unescape(text)
    assert f"Before {hostile} after" in seen
    assert f"shared with Sam {hostile} on" in seen
    assert f"in Team {hostile}," in seen
