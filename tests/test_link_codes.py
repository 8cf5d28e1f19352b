"""Invite codes against guessing: 10,000 random codes are all refused, the wrong-code limit
holds exactly, and a real invite that existed the whole time still works afterwards.

How the guesses are driven, measured on a 2-core machine: one update through the whole PTB
Application takes about 2.4 ms even without the rate limiter (10,000: about 24 s), and the
`bot` fixture's Application keeps PTB's AIORateLimiter (30 calls a second once its burst is
spent), so 10,000 guesses that way would take over five minutes. `bot.service.handle(Person,
Input.from_text("/link CODE"))` runs the same engine code below the Telegram layer (the
transaction, the limit, the invite lookup) at well under a millisecond, so the whole test takes
about 5 s: almost every guess goes that way. One guess in 500 goes through the whole
Application instead (`Chat.send`) and must get the same answer, so the two paths are checked
against each other. The real invite is made and used through the Application. The expiry sweep
(which also prunes old wrong-code records) runs every 1,000 guesses, as it would in production.
"""

from __future__ import annotations

import base64
import random
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.delivery import sweep
from flows.features.supervision.links import new_code
from flows.kernel.model import Input
from flows.kernel.model import Person as Who
from tests.drivers import Chat, Clock, Harness, plain
from tests.offline import Person

DOESNT_WORK = "That code doesn't work"
PAUSED = "paused code checks"
MISSING = "Send the code after /link"
INVITED = "has invited you to link"

WINDOW = timedelta(hours=1)
ALLOWED = 5
SPAN = timedelta(hours=60)  # all guessing happens within this; the real invite lasts 72 hours
STEADY_EVERY = timedelta(minutes=10)  # one guesser, like clockwork: 6 tries an hour
# The other guessers: how many random codes each tries, at random moments within SPAN.
RANDOM_GUESSERS = (5000, 2500, 1000, 600, 300, 140, 100)
TOTAL = 10_000
THROUGH_APP_EVERY = 500  # this one guess in so many goes through the whole Application
SWEEP_EVERY = 1000
B32 = re.compile(r"^[A-Z2-7]{16}$")


def rows(bot: Harness, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(bot.config.data_dir / "coreflect.db") as db:
        return db.execute(sql, args).fetchall()


@dataclass
class Guesser:
    """The rule, modelled on its own: a wrong code is recorded; if five or more wrong codes were
    recorded in the hour before (strictly less than an hour old), the attempt is refused
    unchecked and not recorded. A code with nothing to check is neither."""

    person: Person
    recorded: list[datetime] = field(default_factory=list)

    def expect(self, code: str, now: datetime) -> str:
        if not any(ch.isalnum() for ch in code):
            return MISSING
        if sum(1 for at in self.recorded if at > now - WINDOW) >= ALLOWED:
            return PAUSED
        self.recorded.append(now)
        return DOESNT_WORK


def malformed(rng: random.Random, real: str) -> str:
    """Codes a person might mistype, or a guesser might try, none of them the real one."""
    plain_real = real.replace("-", "")
    near = list(plain_real)
    spot = rng.randrange(len(near))
    near[spot] = rng.choice([c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" if c != near[spot]])
    options = [
        new_code()[: rng.randint(1, 15)],  # too short
        new_code() + new_code()[: rng.randint(1, 8)],  # too long
        new_code().lower(),  # lower case (a fresh code, so still wrong)
        "-".join(re.findall("....", new_code())),  # as shown, with dashes
        " ".join(re.findall("....", new_code())),  # with spaces
        "".join(near),  # the real code with one character changed
        plain_real[:15],  # the real code missing its last character
        plain_real[1:] + "A",  # shifted by one
        new_code().replace("A", "0").replace("B", "8").replace("I", "1"),  # outside base 32
        "<b>" + new_code() + "</b>",
        "ÅÄÖ" + new_code()[:10],
        "🙂" * rng.randint(1, 4),  # nothing to check
        "-- ..",  # nothing to check
        "' OR 1=1 --",
    ]
    return rng.choice(options)


def schedule(rng: random.Random, guessers: int, real: str) -> list[tuple[timedelta, int, str]]:
    """(when, which guesser, code) for TOTAL guesses, in time order; the code as sent: one in
    ten through a deep link (/start link_CODE), which goes through the same check."""
    steady = [
        (STEADY_EVERY * n, 0, new_code()) for n in range(int(SPAN / STEADY_EVERY))
    ]  # guesser 0
    events = list(steady)
    for who, count in enumerate(RANDOM_GUESSERS, start=1):
        for _ in range(count):
            moment = timedelta(seconds=rng.randrange(int(SPAN.total_seconds())))
            if rng.random() < 0.3 and events:  # bursts: several at the same instant
                moment = events[-1][0] if events[-1][1] == who else moment
            code = malformed(rng, real) if rng.random() < 0.05 else new_code()
            events.append((moment, who, f"/start link_{code}" if rng.random() < 0.1 else code))
    assert len(events) == TOTAL and guessers == 1 + len(RANDOM_GUESSERS)
    return sorted(events, key=lambda e: e[0])  # stable: same-instant guesses keep their order


async def test_ten_thousand_guesses_are_refused_and_the_limit_holds(
    bot: Harness, clock: Clock
) -> None:
    worker = Chat(bot, Person(1001, "Alex"))
    await worker.send("/supervisor")
    ready = (await worker.press("Create an invite"))[-1]
    found = re.search(r"/link ([A-Z2-7-]+)", ready)
    assert found, ready
    real = found.group(1)
    assert B32.match(real.replace("-", ""))
    # Stored only as a hash: the code is nowhere in the database in the clear.
    assert rows(bot, "SELECT COUNT(*) FROM invites WHERE supervisor_id IS NULL") == [(1,)]
    for stored in bot.config.data_dir.glob("coreflect.db*"):  # the database and its WAL
        assert real.replace("-", "").encode() not in stored.read_bytes(), stored.name

    rng = random.Random(20_240_611)
    guessers = [Guesser(Person(50_000 + n, f"Guesser{n}")) for n in range(1 + len(RANDOM_GUESSERS))]
    chats = [Chat(bot, g.person) for g in guessers]
    events = schedule(rng, len(guessers), real)
    assert all(real.replace("-", "") not in code.replace("-", "").upper() for _, _, code in events)

    start = swept = clock.now
    got: Counter[tuple[int, str]] = Counter()
    expected: Counter[tuple[int, str]] = Counter()
    mismatches: list[str] = []
    for n, (moment, who, code) in enumerate(events):
        clock.now = start + moment
        if n % SWEEP_EVERY == SWEEP_EVERY - 1:
            await sweep(bot.app.bot, bot.service)
            swept = clock.now
        guesser = guessers[who]
        want = guesser.expect(code.removeprefix("/start link_"), clock.now)
        expected[(who, want)] += 1
        typed = code if code.startswith("/start ") else f"/link {code}"
        if n % THROUGH_APP_EVERY == 0:
            before = len(bot.request.calls)
            answer = (await chats[who].send(typed))[-1]
            others = [
                c
                for c in bot.request.calls[before:]
                if str(c.params.get("chat_id")) != str(guesser.person.user_id)
            ]
            assert not others, f"a guess reached someone else: {others}"
            assert chats[who].sent()[-1].params.get("reply_markup") is None
        else:
            person = guesser.person
            outcome = await bot.service.handle(
                Who(person.user_id, person.first_name, "en"), Input.from_text(typed)
            )
            assert not outcome.others, "a guess reached someone else"
            assert not outcome.replies[-1].buttons, "a guess was offered a link"
            answer = plain(outcome.replies[-1].html)
        if want not in answer:
            mismatches.append(f"#{n} guesser {who} at {moment}: wanted {want!r}, got {answer!r}")
        got[(who, next((w for w in (DOESNT_WORK, PAUSED, MISSING) if w in answer), answer))] += 1
    assert not mismatches, f"{len(mismatches)} answers differ from the rule:\n" + "\n".join(
        mismatches[:10]
    )
    assert got == expected

    # Every guess was refused one way or the other; the limit really bit, and not everyone.
    assert sum(got.values()) == TOTAL
    assert sum(n for (_, w), n in got.items() if w == PAUSED) > 1000
    assert got[(len(guessers) - 1, PAUSED)] < got[(len(guessers) - 1, DOESNT_WORK)]
    # The steady guesser: six an hour, so exactly one in six (the sixth of each hour) paused.
    steady = len([e for e in events if e[1] == 0])
    assert got[(0, PAUSED)] == (steady + 1) // 6
    assert got[(0, DOESNT_WORK)] == steady - (steady + 1) // 6
    # The records kept are exactly the model's, less those the last sweep found an hour old.
    assert rows(bot, "SELECT COUNT(*) FROM link_attempts") == [
        (sum(1 for g in guessers for at in g.recorded if at > swept - WINDOW),)
    ]

    # Nothing linked, nothing claimed, nobody was asked to confirm.
    assert rows(bot, "SELECT COUNT(*) FROM links") == [(0,)]
    assert rows(bot, "SELECT COUNT(*) FROM invites WHERE supervisor_id IS NOT NULL") == [(0,)]
    assert not any("wants to link" in t for t in worker.read())

    # The busiest guesser is paused right now: even the real code is refused unchecked.
    assert clock.now - start < timedelta(hours=72)
    busiest = guessers[1]
    assert busiest.expect(real, clock.now) == PAUSED
    assert PAUSED in (await chats[1].send(f"/link {real}"))[-1]
    assert rows(bot, "SELECT COUNT(*) FROM invites WHERE supervisor_id IS NOT NULL") == [(0,)]

    # Someone who never guessed uses the real invite: it works, and links exactly them.
    supervisor = Chat(bot, Person(2002, "Sam"))
    assert INVITED in (await supervisor.send(f"/link {real}"))[-1]
    await supervisor.press("Yes, link")
    await bot.app.bot_data.alarm.run_due()  # 60 hours on, it may be Alex's quiet hours: 08:00
    clock.now = max(clock.now, bot.app.bot_data.alarm.armed_for or clock.now)
    await bot.app.bot_data.alarm.run_due()
    await worker.press("Yes, link")
    assert "You're linked with Sam" in worker.read()[-1]
    assert rows(bot, "SELECT worker_id, supervisor_id, ended_at FROM links") == [(1001, 2002, None)]


def test_invite_codes_carry_at_least_64_random_bits() -> None:
    codes = [new_code() for _ in range(1000)]
    for code in codes:
        assert B32.match(code), code
        assert len(code) == 16  # 16 base-32 characters: 80 bits
        assert len(base64.b32decode(code)) * 8 >= 64
    assert len(set(codes)) == 1000
    # Not stuck on a few characters: every base-32 character turns up somewhere.
    assert set("".join(codes)) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
