"""The crash loop: SIGKILL the bot 200 times while several people use it, and lose nothing.

The bot runs as a real process in polling mode against the fake Bot API on 127.0.0.1, which
delivers 10% of the updates it has confirmed a second time (at a random place in a later batch)
and hands out a third of its batches out of order. Four workers and two supervisors act as
people do: each waits for the bot's answer before doing the next thing, and what they do next
depends on what they read (the buttons they press come from the messages they were sent). They
link, go through the preparation question set, write journal entries in several messages, leave
notes, and share entries with their supervisor. Each worker has supervision sessions planned
(as if set up last week), whose hour-before reminders fall due during the run; a worker who
gets one presses "Get ready" and says there is nothing else to bring. Meanwhile the
bot is killed at random moments (during start-up, mid-batch, just after a confirmation) and
started again each time.

Afterwards, checked against the people's own record of what they did:

- every update is confirmed, stored and handled; every answer is in the database, in the
  entry and at the question it was written for; every person heard every question in order
  (a kill may repeat the last message once: the documented outbox window); integrity_check ok;
- no entry, answer or share exists twice, despite the repeated and reordered deliveries;
- every summary a supervisor received was protected and carried only answers a share record
  (what the worker previewed and consented to) lists;
- every reminder arrived and is marked sent, with nothing left in the outbox;
- a repeat of anything (a question, a summary, a reminder) only ever straddles a kill: Telegram
  took it, and the process died before the commit that removes its outbox row (the documented
  window);
- no canary word, nor the token, nor the master key, nor a raw user id, is anywhere in the
  bot's whole log output (run at DEBUG).

To add an activity, write a generator of Steps like `prepare` below, add it to
ACTIVITIES, and add its check to CHECKS: the loop, the kills and the report stay as they are.
COREFLECT_CRASH_KILLS and COREFLECT_CRASH_SEED change the number of kills and the seed.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import random
import re
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_service
from flows.features.sessions import db as sessions_db
from flows.features.sessions import reminders
from flows.kernel import when
from flows.kernel.turn import speaking
from flows.questions.answers import base
from flows.store.core import Store
from flows.store.unit import Unit
from tests.drivers import make_config, plain
from tests.fakeapi import FakeBotAPI, Sent
from tests.offline import Person
from tests.running import TOKEN, start_bot, stop, straddles_kill

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # about 3 minutes unloaded

KILLS = int(os.environ.get("COREFLECT_CRASH_KILLS", "200"))
SEED = int(os.environ.get("COREFLECT_CRASH_SEED", "6"))
STEP_TIMEOUT = 90.0  # wall seconds a person waits for an answer before calling it lost
SESSIONS_EACH = 3  # planned sessions per worker, each with a reminder due during the run
REMINDER = "Your supervision is"
CANARY = re.compile(r"\bqz[a-z]{6}\b")
PREPARATION = [  # (step answered, what the bot must ask next)
    ("experiences", "Question 2 of 6 · with colleagues"),
    ("comfortable_colleagues", "Question 2 of 6 · with the people you support"),
    ("comfortable_people", "Question 3 of 6 · with colleagues"),
    ("helpful_colleagues", "Question 3 of 6 · with the people you support"),
    ("helpful_people", "Question 4 of 6 · with colleagues"),
    ("present_colleagues", "Question 4 of 6 · with the people you support"),
    ("present_people", "Question 5 of 6"),
    ("not_sharing", "Question 6 of 6"),
    ("social_media", "Your preparation"),
]
PRIVATE = {"not_sharing"}  # steps marked `private: true`: left out of a share unless put back
WORKERS = ("Alex", "Bea", "Cy", "Di")
SUPERVISORS = ("Sam", "Tom")


# ---- people and what they do --------------------------------------------------------------


@dataclass
class Step:
    """One thing a person does, then what they wait to read (in a message, an edit or a button).

    `act` builds the update when it is time (None: nothing to send, just wait); `then` runs once
    the answer came, with the message that carried it.
    """

    act: Callable[[Agent], dict[str, Any] | None] | None
    expect: str
    then: Callable[[Agent, Sent], None] | None = None
    ready: Callable[[Agent], bool] | None = None  # not before this holds (another's progress)


@dataclass
class Entry:
    """What a person knows they wrote in one entry: canary -> the step it answered."""

    flow: str
    answers: dict[str, str] = field(default_factory=dict)


@dataclass
class Agent:
    sim: Simulation
    person: Person
    script: Iterator[Step]
    entries: list[Entry] = field(default_factory=list)
    shares: list[tuple[int, frozenset[str]]] = field(default_factory=list)  # (supervisor, words)
    answered: set[str] = field(default_factory=set)  # reminder buttons already pressed
    step: Step | None = None
    acted: bool = False
    mark: int = 0  # messages to this chat before the current step's action
    since: float = 0.0
    done: bool = False
    failure: str | None = None

    @property
    def chat(self) -> int:
        return self.person.user_id

    def text(self, words: str) -> Callable[[Agent], dict[str, Any]]:
        return lambda a: a.person.text(words)

    def press(self, label: str) -> Callable[[Agent], dict[str, Any] | None]:
        """Press the button labelled `label` (or starting with it) on the newest message with it."""

        def act(a: Agent) -> dict[str, Any] | None:
            for sent in reversed(a.sim.fake.sent_to(a.chat)):
                for text, data in sent.buttons:
                    if (text == label or text.startswith(label)) and sent.message_id:
                        return a.person.press(data, message_id=sent.message_id)
            a.failure = f"no button {label!r} to press"
            return None

        return act

    def tick(self) -> None:
        """Do the next thing, or look for the answer to the last one."""
        if self.done or self.failure:
            return
        fake = self.sim.fake
        if self.step is None:
            self.step, self.acted = next(self.script, None), False
            if self.step is None:
                self.done = True
                return
        if not self.acted:
            if self.step.ready is not None and not self.step.ready(self):
                return
            self.acted = True
            if self.step.act is not None:  # a wait step keeps the mark: the answer may be in
                self.mark = len(fake.sent_to(self.chat))
            self.since = time.monotonic()
            update = self.step.act(self) if self.step.act else None
            if update is not None:
                self.sim.push(update)
            return
        sent = fake.sent_to(self.chat)
        for k in range(self.mark, len(sent)):
            message = sent[k]
            seen = plain(str(message.params.get("text", ""))) + " ".join(
                t for t, _ in message.buttons
            )
            if self.step.expect in seen:
                self.mark = k + 1
                if self.step.then:
                    self.step.then(self, message)
                self.step = None
                return
        if time.monotonic() - self.since > STEP_TIMEOUT:
            tail = [
                f"{m.method} {plain(str(m.params.get('text', '')))[:60]!r} {m.buttons[:4]}"
                for m in sent[-6:]
            ]
            self.failure = f"waited in vain for {self.step.expect!r}; last: {tail}"


def words(agent: Agent) -> str:
    """A canary (letters only, so nothing reads as a phone number) in a varied answer."""
    canary = agent.sim.canary()
    tail = agent.sim.rng.choice(
        ["went <fine> & calm 🌱", "שלום, a good day", "ok", "👩🏽‍⚕️ thinking it through " * 3, ""]
    )
    return f"{canary} {tail}".strip()


def link_worker(agent: Agent, supervisor: int) -> Iterator[Step]:
    def keep_code(a: Agent, message: Sent) -> None:
        code = re.search(r"/link ([A-Z2-7-]+)", str(message.params.get("text")))
        assert code, message.params
        a.sim.codes[a.chat] = code.group(1)

    yield Step(agent.text("/supervisor"), "Create an invite")
    yield Step(agent.press("Create an invite"), "/link ", keep_code)
    yield Step(None, "Yes, link")  # the supervisor has asked
    yield Step(agent.press("Yes, link"), "You're linked with")
    agent.sim.linked[agent.chat] = supervisor


def link_supervisor(agent: Agent, workers: list[int]) -> Iterator[Step]:
    for worker in workers:
        yield Step(
            lambda a, w=worker: a.person.text(f"/link {a.sim.codes[w]}"),  # type: ignore[misc]
            "invited you to link",
            ready=lambda a, w=worker: w in a.sim.codes,  # type: ignore[misc]
        )
        yield Step(agent.press("Yes, link"), "I've asked")
        yield Step(None, "confirmed: you're linked")


def prepare(agent: Agent, opener: Step | None = None) -> Iterator[Step]:
    entry = Entry("preparation")
    yield opener or Step(agent.text("/prepare"), "Question 1 of 6")
    for step_id, asked_next in PREPARATION:
        said = words(agent)
        entry.answers[said.split()[0]] = step_id
        yield Step(agent.text(said), asked_next)
    agent.entries.append(entry)


def journal(agent: Agent) -> Iterator[Step]:
    entry = Entry("journal")
    yield Step(agent.text("/journal"), "A free journal entry")
    for _ in range(agent.sim.rng.randint(1, 3)):
        said = words(agent)
        entry.answers[said.split()[0]] = "writing"
        yield Step(agent.text(said), "✓ Kept")
    yield Step(agent.text("/done"), "Saved to your journal")
    agent.entries.append(entry)


def note(agent: Agent) -> Iterator[Step]:
    said = f"{words(agent)} – to come back to later"  # more than a few words: kept at once
    yield Step(agent.text(said), "Kept as a note")
    agent.entries.append(Entry("note", {said.split()[0]: "writing"}))  # a one-message journal


def share(agent: Agent) -> Iterator[Step]:
    supervisor = agent.sim.linked.get(agent.chat)
    if supervisor is None or not agent.entries:
        return
    name = agent.sim.names[supervisor]
    newest = agent.entries[-1]  # the entry list is newest first
    yield Step(agent.text("/share"), "What would you like to share?")
    yield Step(agent.press("One entry"), "Which entry?")
    # The picker lists entries newest first, numbered; "Share with…" is the preview's button.
    yield Step(agent.press("1"), f"Share with {name}")
    yield Step(agent.press(f"Share with {name}"), f"Shared with {name}")
    # Answers private by design ("What I'm not prepared to share") start left out.
    kept = frozenset(word for word, step in newest.answers.items() if step not in PRIVATE)
    agent.shares.append((supervisor, kept))


def reminder_waiting(agent: Agent) -> tuple[int, str] | None:
    """(message id, "Get ready" data) of a reminder this worker has not acted on yet."""
    for sent in agent.sim.fake.sent_to(agent.chat):
        for text, data in sent.buttons:
            if text == "Get ready" and data not in agent.answered and sent.message_id:
                return sent.message_id, data
    return None


def answer_reminder(agent: Agent, message_id: int, data: str) -> Iterator[Step]:
    """A supervision reminder came: "Get ready" shows what is marked to bring and asks for
    anything else; this worker has nothing else to add."""
    agent.answered.add(data)
    yield Step(
        lambda a: a.person.press(data, message_id=message_id), "Anything else you'd like to bring?"
    )
    yield Step(agent.press("Nothing else"), "You're ready")


ACTIVITIES: dict[str, tuple[float, Callable[[Agent], Iterator[Step]]]] = {
    "prepare": (0.35, prepare),
    "journal": (0.25, journal),
    "note": (0.2, note),
    "share": (0.2, share),
}


def worker_script(agent: Agent, supervisor: int) -> Iterator[Step]:
    yield from link_worker(agent, supervisor)
    names, weights = zip(*[(n, w) for n, (w, _) in ACTIVITIES.items()], strict=True)
    while not agent.sim.winding_down:
        waiting = reminder_waiting(agent)
        if waiting is not None:
            agent.sim.episodes["reminder"] += 1
            yield from answer_reminder(agent, *waiting)
            continue
        kind = agent.sim.rng.choices(names, weights)[0]
        agent.sim.episodes[kind] += 1
        yield from ACTIVITIES[kind][1](agent)


# ---- the simulation ------------------------------------------------------------------------


class Simulation:
    def __init__(self, fake: FakeBotAPI, rng: random.Random) -> None:
        self.fake = fake
        self.rng = rng
        self.codes: dict[int, str] = {}
        self.linked: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.pushed: list[int] = []
        self.kill_times: list[float] = []  # time.monotonic(), the fake's clock too
        self.reminders: dict[int, int] = {}  # nudge id -> worker
        self.episodes: Counter[str] = Counter()
        self.winding_down = False
        self._canaries = itertools.count(SEED * 1_000_000)
        self.agents: list[Agent] = []
        sups = [Person(7_340_001 + n, name) for n, name in enumerate(SUPERVISORS)]
        for n, name in enumerate(WORKERS):
            person = Person(7_350_001 + n, name)
            supervisor = sups[n % len(sups)].user_id
            agent = Agent(self, person, iter(()))
            agent.script = worker_script(agent, supervisor)
            self.agents.append(agent)
        for n, person in enumerate(sups):
            agent = Agent(self, person, iter(()))
            mine = [w.chat for k, w in enumerate(self.agents) if k % len(sups) == n]
            agent.script = link_supervisor(agent, mine)
            self.agents.append(agent)
        self.names = {a.chat: a.person.first_name for a in self.agents}

    def canary(self) -> str:
        n = next(self._canaries)
        letters = ""
        for _ in range(6):
            n, r = divmod(n, 26)
            letters += chr(ord("a") + r)
        return "qz" + letters

    def push(self, update: dict[str, Any]) -> None:
        self.pushed.append(int(update["update_id"]))
        self.fake.push(update)

    def tick(self) -> None:
        for agent in self.agents:
            agent.tick()

    @property
    def settled(self) -> bool:
        return all(a.done or a.failure for a in self.agents)

    @property
    def workers(self) -> list[Agent]:
        return [a for a in self.agents if a.person.first_name in WORKERS]

    def reminders_arrived(self) -> bool:
        return set(self.reminders) <= set(reminder_copies(self))

    def straddles_kill(self, first: float, again: float) -> bool:
        return straddles_kill(first, again, self.kill_times)


async def plan_sessions(sim: Simulation, data_dir: Path, span: float) -> None:
    """Sessions each worker set up earlier: each starts an hour and a bit from now, so its
    hour-before reminder falls due during the run (the day-before one is already past)."""
    service = await open_service(make_config(data_dir, token=TOKEN))
    now = datetime.now(UTC)
    count = SESSIONS_EACH * len(sim.workers)

    def work(tx: Unit) -> dict[int, int]:
        for agent in sim.workers:
            tx.person(agent.chat, "Europe/London")
        for agent in sim.agents:  # whatever the hour the run starts: nothing waits for morning
            tx.person(agent.chat, "Europe/London")
            quiet_none = sessions_db.ReminderSettings(quiet_start="00:00", quiet_end="00:00")
            sessions_db.set_reminder_settings(tx, agent.chat, quiet_none)
        for n in range(count):
            worker = sim.workers[n % len(sim.workers)].chat
            starts = (now + timedelta(hours=1, seconds=3 + span * n / count)).replace(microsecond=0)
            local = when.iso_local(when.to_local(starts, "Europe/London"))
            sessions_db.session_create(tx, worker, worker, local, starts, None, None)
        for agent in sim.workers:
            reminders.plan(tx, agent.chat, now)
        rows = tx.conn.execute("SELECT id, person_id FROM nudges").fetchall()
        return {int(nudge_id): int(person_id) for nudge_id, person_id in rows}

    def in_wording(tx: Unit) -> dict[int, int]:
        with speaking(service.catalogue):  # as every unit of work runs (reminders name sets)
            return work(tx)

    try:
        sim.reminders = await service.store.run(in_wording)
    finally:
        await service.store.close()
    assert len(sim.reminders) == count, sim.reminders


def reminder_copies(sim: Simulation) -> dict[int, list[float]]:
    """Nudge id -> when each copy of its reminder reached the chat of the worker it is for."""
    copies: dict[int, list[float]] = {}
    for agent in sim.workers:
        for sent in sim.fake.sent_to(agent.chat):
            if sent.method != "sendMessage" or REMINDER not in str(sent.params.get("text")):
                continue
            ids = {int(d.split(":")[1]) for _, d in sent.buttons if d.startswith("N:")}
            assert len(ids) == 1, sent.params  # nothing was shared as a pack: it has buttons
            nudge_id = ids.pop()
            assert sim.reminders.get(nudge_id) == agent.chat, (nudge_id, agent.chat)
            copies.setdefault(nudge_id, []).append(sent.at)
    return copies


def test_crash_loop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(SEED)
    data_dir = tmp_path / "data"
    log_path = tmp_path / "bot.log"
    env = {"COREFLECT_LOG_LEVEL": "DEBUG"}
    started = time.monotonic()
    with (
        FakeBotAPI(TOKEN, redeliver_rate=0.10, shuffle_rate=0.33, seed=SEED) as fake,
        open(log_path, "ab") as log,
    ):
        sim = Simulation(fake, rng)
        asyncio.run(plan_sessions(sim, data_dir, span=max(10.0, KILLS * 0.45)))
        kills = during_start = 0
        bot = start_bot(fake, data_dir, log, **env)
        try:
            while kills < KILLS:
                polls = fake.get_updates_calls
                spawned = time.monotonic()
                if rng.random() < 0.15:  # mid start-up: migrations, getMe, the outbox flush
                    kill_at = spawned + rng.uniform(0.0, 0.7)
                    during_start += 1
                else:
                    kill_at = None
                while True:
                    sim.tick()
                    now = time.monotonic()
                    if kill_at is None and fake.get_updates_calls > polls:
                        kill_at = now + rng.expovariate(1 / 0.25)
                    if kill_at is not None and now >= kill_at:
                        break
                    if now - spawned > 30:
                        pytest.fail("the bot did not start polling within 30 s")
                    time.sleep(0.002)
                sim.kill_times.append(time.monotonic())
                bot.send_signal(signal.SIGKILL)
                bot.wait(10)
                kills += 1
                bot = start_bot(fake, data_dir, log, **env)
            sim.winding_down = True
            deadline = time.monotonic() + 120
            while not (sim.settled and sim.reminders_arrived()) and time.monotonic() < deadline:
                sim.tick()
                time.sleep(0.005)
            quiet_since = len(fake.calls)
            time.sleep(1.5)
            while len(fake.calls) != quiet_since:
                quiet_since = len(fake.calls)
                time.sleep(1.0)
            bot.send_signal(signal.SIGTERM)
            assert bot.wait(10) == 0
        finally:
            stop(bot)
        failures = [f"{a.person.first_name}: {a.failure}" for a in sim.agents if a.failure]
        assert not failures, failures
        fake.assert_valid()
        report = asyncio.run(examine(sim, data_dir))
        report.update(
            kills=kills,
            kills_during_start_up=during_start,
            updates=len(sim.pushed),
            delivered_twice=fake.redelivered,
            batches_out_of_order=fake.shuffled,
            minutes=round((time.monotonic() - started) / 60, 1),
        )
        assert fake.confirmed_below > max(sim.pushed)  # everything was confirmed in the end
        inbox = report.pop("inbox")
        assert set(sim.pushed) <= set(inbox) and all(inbox.values()), "an update was not handled"
        for check in CHECKS:
            check(sim, report)
        scan_logs(log_path.read_bytes(), sim, data_dir)
    with capsys.disabled():
        print("\ncrash loop: " + ", ".join(f"{k} {v}" for k, v in report.items()))


async def examine(sim: Simulation, data_dir: Path) -> dict[str, Any]:
    """Read back, decrypted, what the database holds for everyone."""
    with sqlite3.connect(data_dir / "coreflect.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        inbox = dict(db.execute("SELECT update_id, handled_at IS NOT NULL FROM inbox").fetchall())
        shares = db.execute("SELECT worker_id, supervisor_id, answers FROM shares").fetchall()
        statuses = db.execute("SELECT status, COUNT(*) FROM entries GROUP BY status").fetchall()
        nudges = dict(db.execute("SELECT id, state FROM nudges").fetchall())
        (outbox,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
    store = await Store.open(data_dir)
    try:

        def read(tx: Unit) -> dict[int, dict[int, dict[str, str]]]:
            out: dict[int, dict[int, dict[str, str]]] = {}
            for agent in sim.agents:
                row = tx.person(agent.chat, "Europe/London")
                ids = tx.conn.execute(
                    "SELECT id FROM entries WHERE person_id = ?", (agent.chat,)
                ).fetchall()
                out[agent.chat] = {i: tx.answers(row.cipher, i) for (i,) in ids}
            return out

        held = await store.run(read)
    finally:
        await store.close()
    return {
        "inbox": inbox,
        "held": held,
        "shares": shares,
        "statuses": dict(statuses),
        "nudges": nudges,
        "outbox": outbox,
    }


# ---- the checks (one per kind of activity) -------------------------------------------------


def check_entries(sim: Simulation, report: dict[str, Any]) -> None:
    """Every answer kept, once, in its own entry at its own question; no entry twice."""
    held = report.pop("held")
    answers = lost = doubled = 0
    for agent in sim.agents:
        expected = Counter(frozenset(e.answers.items()) for e in agent.entries)
        found: Counter[frozenset[tuple[str, str]]] = Counter()  # canary -> step, per entry
        for values in held[agent.chat].values():
            where = {
                word: base(step) for step, text in values.items() for word in CANARY.findall(text)
            }
            found[frozenset(where.items())] += 1
        answers += sum(len(e.answers) for e in agent.entries)
        lost += sum((expected - found).values())
        doubled += sum((found - expected).values())
        assert found == expected, (agent.person.first_name, expected - found, found - expected)
    written = {w for a in sim.agents for e in a.entries for w in e.answers}
    kept = {
        w
        for person in held.values()
        for values in person.values()
        for t in values.values()
        for w in CANARY.findall(t)
    }
    report.update(
        answers=answers,
        answers_lost=len(written - kept),
        entries_lost=lost,
        entries_doubled=doubled,
    )
    statuses = report.pop("statuses")
    assert set(statuses) <= {"saved"}, statuses  # nothing left half-way


def check_questions(sim: Simulation, report: dict[str, Any]) -> None:
    """Each person heard every question, in order; a kill repeats at most the last message."""
    order = ["Question 1 of 6"] + [asked for _, asked in PREPARATION[:-1]]
    repeats = 0
    for agent in sim.agents:
        asked = [
            (plain(str(s.params["text"])).split("\n")[0], s.at)
            for s in sim.fake.sent_to(agent.chat)
            if s.method == "sendMessage" and plain(str(s.params["text"])).startswith("Question ")
        ]
        heard = [q for k, (q, _) in enumerate(asked) if k == 0 or asked[k - 1][0] != q]
        for (q, first), (again, at) in itertools.pairwise(asked):
            if q == again:
                repeats += 1
                assert sim.straddles_kill(first, at), f"{q!r} repeated without a kill between"
        episodes = sum(e.flow == "preparation" for e in agent.entries)
        assert heard == order * episodes, (agent.person.first_name, heard)
    report["repeated_questions"] = repeats


def check_shares(sim: Simulation, report: dict[str, Any]) -> None:
    """Each share once, with exactly the answers previewed; a supervisor only ever saw answers
    a share record lists, and always as a protected message."""
    held = report["held"]
    found: Counter[tuple[int, int, frozenset[str]]] = Counter()
    consented: dict[int, set[str]] = {}
    for worker, supervisor, answers in report.pop("shares"):
        words = frozenset(
            word
            for entry_id, step in json.loads(answers)
            for key, text in held[worker][entry_id].items()
            if base(key) == step
            for word in CANARY.findall(text)
        )
        found[(worker, supervisor, words)] += 1
        consented.setdefault(supervisor, set()).update(words)
    expected = Counter(
        (agent.chat, supervisor, words)
        for agent in sim.agents
        for supervisor, words in agent.shares
    )
    assert found == expected, (found - expected, expected - found)
    received: Counter[tuple[int, frozenset[str]]] = Counter()
    arrivals: dict[tuple[int, frozenset[str]], list[float]] = {}
    for agent in sim.agents:
        if agent.person.first_name not in SUPERVISORS:
            continue
        for sent in sim.fake.sent_to(agent.chat):
            carried = frozenset(CANARY.findall(str(sent.params.get("text", ""))))
            if carried and sent.method == "sendMessage":
                received[(agent.chat, carried)] += 1
                arrivals.setdefault((agent.chat, carried), []).append(sent.at)
                assert sent.params.get("protect_content") is True
                assert carried <= consented.get(agent.chat, set()), carried
    # Every share reached its supervisor. A kill between Telegram taking a summary and its
    # outbox row going sends it once more (the documented window): never more than that.
    shared: Counter[tuple[int, frozenset[str]]] = Counter(
        (supervisor, words) for (_, supervisor, words), n in found.items() for _ in range(n)
    )
    shared = Counter({k: v for k, v in shared.items() if k[1]})
    assert all(received[k] >= n for k, n in shared.items()), shared - received
    for key, times in arrivals.items():  # each copy beyond those shared needs a kill before it
        straddled = sum(sim.straddles_kill(a, b) for a, b in itertools.pairwise(times))
        assert received[key] - shared[key] <= straddled, (key, times, sim.kill_times)
    report.update(
        shares=sum(found.values()),
        shares_doubled=0,
        summaries_received=sum(received.values()),
        summaries_sent_twice=sum((received - shared).values()),
    )


def check_nudges(sim: Simulation, report: dict[str, Any]) -> None:
    """Every reminder arrived and is marked sent; a second copy only across a kill."""
    copies = reminder_copies(sim)
    assert set(copies) == set(sim.reminders), set(sim.reminders) - set(copies)
    twice = 0
    for nudge_id, times in copies.items():
        for first, again in itertools.pairwise(times):
            twice += 1
            assert sim.straddles_kill(first, again), f"reminder {nudge_id} repeated without a kill"
    states = report.pop("nudges")
    # The workers' reminders, and their supervisors' own for the same sessions (planned as each
    # link was made during the run), all sent.
    assert set(sim.reminders) <= set(states), set(sim.reminders) - set(states)
    assert all(state == "sent" for state in states.values()), states
    assert report.pop("outbox") == 0, "something was left in the outbox"
    report.update(
        reminders=len(sim.reminders),
        supervisor_reminders=len(states) - len(sim.reminders),
        reminders_lost=len(set(sim.reminders) - set(copies)),
        reminders_sent_twice=twice,
        reminders_answered=sum(len(a.answered) for a in sim.agents),
    )


CHECKS: list[Callable[[Simulation, dict[str, Any]], None]] = [
    check_questions,
    check_shares,
    check_nudges,
    check_entries,  # last: it takes the decrypted entries out of the report
]


def scan_logs(output: bytes, sim: Simulation, data_dir: Path) -> None:
    """Nothing secret in the bot's whole log output, and it really was logging at DEBUG."""
    text = output.decode("utf-8", "replace")
    assert "update handled" in text and "person=" in text
    key = (data_dir / "master.key").read_text().strip()
    for secret in (TOKEN, key, base64.b64decode(key).hex()):
        assert secret not in text
    assert not CANARY.search(text), CANARY.search(text)
    for agent in sim.agents:
        assert str(agent.chat) not in text
    assert "Traceback" not in text
