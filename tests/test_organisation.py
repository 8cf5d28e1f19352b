"""Running CoReflect for an organisation, as whole conversations: who may use it (join codes),
/admin, approved supervisors, leavers, retention and the audit trail (issue 23)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, ConfigProblem
from bot.delivery import sweep
from tests import drivers
from tests.drivers import Chat, Clock, Harness, link, make_config
from tests.offline import Person
from tests.test_supervision import reflect
from tests.test_team import share_newest

ADMIN = Person(user_id=9009, first_name="Ada")
ALEX = Person(user_id=1001, first_name="Alex")
SAM = Person(user_id=2002, first_name="Sam")
JO = Person(user_id=3003, first_name="Jo")
WORDS = "canary-words-about-Priya"


def running(
    data_dir: Path, clock: Clock, **overrides: Any
) -> contextlib.AbstractAsyncContextManager[Harness]:
    return drivers.running(
        make_config(data_dir, admins=frozenset({ADMIN.user_id}), **overrides), clock
    )


def rows(data_dir: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(data_dir / "coreflect.db")) as db:
        return db.execute(sql, args).fetchall()


def audit_actions(data_dir: Path) -> list[str]:
    return [r[0] for r in rows(data_dir, "SELECT action FROM audit ORDER BY id")]


async def new_code(admin: Chat, uses: int = 1) -> str:
    replies = await admin.send(f"/admin code {uses}")
    found = re.search(r"\b([A-Z2-7]{4}(?:-[A-Z2-7]{1,4})+)\b", replies[-1])
    assert found, replies
    return found.group(1)


async def journal(chat: Chat, words: str) -> None:
    await chat.send("/journal")
    await chat.send(words)
    await chat.send("/done")


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_invite_only_refuses_a_stranger_and_a_code_admits_exactly_one(
    data_dir: Path, clock: Clock
) -> None:
    async with running(data_dir, clock, access="invite") as bot:
        stranger = Chat(bot, JO)
        replies = await stranger.send("/start")
        assert len(replies) == 1 and "for the staff of one organisation" in replies[0]
        await stranger.send("hello, I found you on a list")
        assert rows(data_dir, "SELECT COUNT(*) FROM people")[0][0] == 0
        assert rows(data_dir, "SELECT tries FROM access_refusals") == [(2,)]
        # Nothing that names them: only a keyed hash of their id.
        assert str(JO.user_id) not in str(rows(data_dir, "SELECT * FROM access_refusals"))

        admin = Chat(bot, ADMIN)
        code = await new_code(admin, uses=1)
        alex = Chat(bot, ALEX)
        replies = await alex.send(f"/start join_{code.replace('-', '')}")
        assert any("I'm CoReflect" in r for r in replies), replies
        assert rows(data_dir, "SELECT id FROM people WHERE id = ?", ALEX.user_id)
        # The same code does not let a second person in.
        replies = await stranger.send(f"/join {code}")
        assert replies == [
            "That join code doesn't work: it may have expired, been used already or been "
            "revoked. Your CoReflect administrator can give you a new one."
        ]
        assert not rows(data_dir, "SELECT id FROM people WHERE id = ?", JO.user_id)
        # Alex, already in, is simply told so.
        assert (await alex.send(f"/join {code}")) == [
            "You're already in, so there's no need for a join code."
        ]
        # Past a few tries an hour, a stranger gets no answer at all.
        for _ in range(5):
            await stranger.send("/start")
        assert (await stranger.send("/start")) == []
        # A revoked code admits nobody.
        code2 = await new_code(admin, uses=5)
        code_id = rows(data_dir, "SELECT MAX(id) FROM join_codes")[0][0]
        await admin.send(f"/admin revoke {code_id}")
        sam = Chat(bot, SAM)
        assert "doesn't work" in (await sam.send(f"/join {code2}"))[0]
        assert not rows(data_dir, "SELECT id FROM people WHERE id = ?", SAM.user_id)
    actions = audit_actions(data_dir)
    assert actions.count("join_code_created") == 2 and actions.count("join_code_used") == 1
    assert actions.count("join_code_revoked") == 1


async def test_open_access_is_the_default(data_dir: Path, clock: Clock) -> None:
    async with running(data_dir, clock) as bot:
        replies = await Chat(bot, JO).send("/start")
        assert any("I'm CoReflect" in r for r in replies)


async def test_admin_sees_counts_never_words_or_workers_names(data_dir: Path, clock: Clock) -> None:
    async with running(data_dir, clock) as bot:
        alex, sam, admin = Chat(bot, ALEX), Chat(bot, SAM), Chat(bot, ADMIN)
        await link(alex, sam)
        await journal(alex, WORDS)
        replies = await admin.send("/admin")
        shown = "\n".join(replies)
        assert "People: 3" in shown and "Entries this month: 1" in shown
        assert "Supervision links: 1" in shown
        assert WORDS not in shown and "Alex" not in shown
        shown = "\n".join(await admin.press("Supervisors"))
        assert "Sam" in shown and "Alex" not in shown and WORDS not in shown
        # Not an administrator: no such command.
        assert "I don't know /admin" in (await alex.send("/admin"))[0]
        await alex.press_data("ad:new")
        assert not rows(data_dir, "SELECT id FROM join_codes")


async def test_approved_supervisors_only(data_dir: Path, clock: Clock) -> None:
    async with running(data_dir, clock, supervisors="approved") as bot:
        alex, sam, admin = Chat(bot, ALEX), Chat(bot, SAM), Chat(bot, ADMIN)
        await sam.send("/start")
        await alex.send("/supervisor")
        replies = await alex.press("Create an invite")
        code = re.search(r"/link ([A-Z2-7-]+)", replies[-1])
        assert code
        replies = await sam.send(f"/link {code.group(1)}")
        assert "hasn't added you as a supervisor" in replies[-1]
        assert any("hasn't added them as a supervisor" in r for r in alex.read())
        assert not rows(data_dir, "SELECT id FROM links")
        # Approved, the same invite works.
        await admin.send(f"/admin approve {SAM.user_id}")
        await sam.send(f"/link {code.group(1)}")
        await sam.press("Yes, link")
        await alex.press("Yes, link")
        assert rows(data_dir, "SELECT COUNT(*) FROM links WHERE ended_at IS NULL") == [(1,)]
        # Withdrawing approval ends the link, as an unlink would; both are told.
        await admin.send(f"/admin unapprove {SAM.user_id}")
        assert rows(data_dir, "SELECT COUNT(*) FROM links WHERE ended_at IS NULL") == [(0,)]
        assert "no longer lists them as a supervisor" in alex.read()[-1]
        assert "no longer lists you as a supervisor" in sam.read()[-1]
    actions = audit_actions(data_dir)
    assert actions.count("supervisor_approved") == 1
    assert actions.count("supervisor_withdrawn") == 1
    assert actions.count("linked") == 1 and actions.count("unlinked") == 1


async def test_a_leaver_is_reminded_then_erased(data_dir: Path, clock: Clock) -> None:
    async with running(data_dir, clock, leaver_days=30) as bot:
        alex, sam, admin = Chat(bot, ALEX), Chat(bot, SAM), Chat(bot, ADMIN)
        await link(alex, sam)
        await journal(alex, WORDS)
        await admin.send(f"/admin left {ALEX.user_id}")
        assert "recorded that you've left" in alex.read()[-1]
        assert "recorded that they've left" in sam.read()[-1]
        # Still able to export during the period.
        await alex.send("/export")
        clock.advance(days=24)
        await sweep(bot.app.bot, bot.service)
        assert "will be erased on" in alex.read()[-1]
        assert rows(data_dir, "SELECT id FROM people WHERE id = ?", ALEX.user_id)
        clock.advance(days=6, hours=1)
        await sweep(bot.app.bot, bot.service)
        assert not rows(data_dir, "SELECT id FROM people WHERE id = ?", ALEX.user_id)
        assert not rows(data_dir, "SELECT id FROM entries")
        assert rows(data_dir, "SELECT id FROM people WHERE id = ?", SAM.user_id)
    actions = audit_actions(data_dir)
    assert actions.count("leaver_marked") == 1 and actions.count("leaver_erased") == 1
    assert actions.count("exported") == 1


async def test_retention_erases_only_the_old_after_notice_across_a_restart(
    data_dir: Path, clock: Clock
) -> None:
    async with running(data_dir, clock, retention_days=60) as bot:
        alex, sam = Chat(bot, ALEX), Chat(bot, SAM)
        await link(alex, sam)
        await reflect(alex, "an old reflection", "more of it")
        await share_newest(alex)  # still live when the entry's time is up
        clock.advance(days=40)
        await journal(alex, "a newer entry")
        clock.advance(days=7)  # the old one is 47 days old: the notice (60 - 14)
        await sweep(bot.app.bot, bot.service)
        notice = alex.read()[-1]
        assert "1 of your entries reaches that age and will be erased" in notice, notice
        await sweep(bot.app.bot, bot.service)  # the same day again: nothing more
        assert alex.read()[-1] == notice
        assert rows(data_dir, "SELECT COUNT(*) FROM entries") == [(2,)]
        clock.advance(days=13, hours=12)  # past 60 days old, but the fortnight is not over
        await sweep(bot.app.bot, bot.service)
        assert rows(data_dir, "SELECT COUNT(*) FROM entries") == [(2,)]
    clock.advance(days=1, minutes=1)
    async with running(data_dir, clock, retention_days=60) as bot:  # after a restart
        sam = Chat(bot, SAM)
        await sweep(bot.app.bot, bot.service)
        assert rows(data_dir, "SELECT COUNT(*) FROM entries") == [(1,)]
        assert rows(data_dir, "SELECT COUNT(*) FROM shares") == [(0,)]
        assert "has withdrawn what they shared" in sam.read()[-1]
        await sweep(bot.app.bot, bot.service)
        assert rows(data_dir, "SELECT COUNT(*) FROM entries") == [(1,)]
    actions = audit_actions(data_dir)
    assert actions.count("retention_notice") == 1 and actions.count("retention_run") == 3
    assert actions.count("share_withdrawn") == 1


async def test_every_audited_action_writes_one_row_and_edits_are_refused(
    data_dir: Path, clock: Clock
) -> None:
    async with running(data_dir, clock) as bot:
        alex, sam = Chat(bot, ALEX), Chat(bot, SAM)
        await link(alex, sam)
        await journal(alex, "A note I think better of")
        await alex.send("/entries")
        await alex.press("1")
        await alex.press("Delete")
        await alex.press("Yes, delete it")
        await journal(alex, WORDS)
        await alex.send("/export")
        assert audit_actions(data_dir) == ["linked", "entry_deleted", "exported"]
        await alex.send("/forget")
        await alex.press("Erase everything")
        await alex.press("Yes, erase it all now")
    actions = audit_actions(data_dir)
    assert actions == ["linked", "entry_deleted", "exported", "unlinked", "erased"], actions
    trail = str(rows(data_dir, "SELECT * FROM audit"))
    assert str(ALEX.user_id) not in trail and WORDS not in trail and "Alex" not in trail
    assert "think better" not in trail
    with contextlib.closing(sqlite3.connect(data_dir / "coreflect.db")) as db:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE audit SET action = 'nothing'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM audit")


async def test_coreflect_audit_prints_the_trail_and_finds_one_person(
    data_dir: Path, clock: Clock
) -> None:
    async with running(data_dir, clock, audit_days=400) as bot:
        alex, sam = Chat(bot, ALEX), Chat(bot, SAM)
        await link(alex, sam)
        await Chat(bot, JO).send("/export")
        with contextlib.closing(sqlite3.connect(data_dir / "coreflect.db")) as db, db:
            db.execute(
                "INSERT INTO audit (at, action) VALUES ('2020-01-01T00:00:00+00:00', 'exported')"
            )
        await sweep(bot.app.bot, bot.service)  # the daily upkeep prunes rows past 400 days
    assert audit_actions(data_dir) == ["linked", "exported"]
    since = clock.now.date().isoformat()

    def audit(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COREFLECT_")}
        env["COREFLECT_DATA_DIR"] = str(data_dir)
        command = [sys.executable, "-m", "bot", "audit", "--since", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    done = await asyncio.to_thread(audit, since, "--format", "json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert [r["action"] for r in printed] == ["linked", "exported"]
    assert str(ALEX.user_id) not in done.stdout
    done = await asyncio.to_thread(audit, since, "--format", "csv", "--person", str(JO.user_id))
    lines = done.stdout.splitlines()
    assert lines[0] == "id,at,action,actor,subject,detail" and len(lines) == 2
    assert ",exported," in lines[1]
    assert (await asyncio.to_thread(audit, "not a date")).returncode == 1


def test_settings_are_read_and_checked() -> None:
    config = Config.from_env(
        {
            "COREFLECT_ACCESS": "invite",
            "COREFLECT_ADMINS": "12345, 678",
            "COREFLECT_SUPERVISORS": "approved",
            "COREFLECT_RETENTION_DAYS": "365",
            "COREFLECT_HTTP_PORT": "9100",
        }
    )
    assert config.access == "invite" and config.admins == frozenset({12345, 678})
    assert config.supervisors == "approved" and config.retention_days == 365
    assert config.http_port == 9100 and config.http_listen == "127.0.0.1"
    assert (config.leaver_days, config.audit_days) == (30, 400)
    defaults = Config.from_env({})
    assert defaults.access == "open" and defaults.retention_days is None
    assert defaults.http_port is None and defaults.admins == frozenset()
    for bad in (
        {"COREFLECT_ACCESS": "closed"},
        {"COREFLECT_ADMINS": "@ada"},
        {"COREFLECT_SUPERVISORS": "some"},
        {"COREFLECT_RETENTION_DAYS": "0"},
        {"COREFLECT_AUDIT_DAYS": "7"},
        {"COREFLECT_HTTP_PORT": "http"},
    ):
        with pytest.raises(ConfigProblem):
            Config.from_env(bad)
