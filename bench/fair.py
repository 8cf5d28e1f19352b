"""Fair and fast under Telegram's limits (issue 21), side by side in one run, over real HTTP
against the fake Bot API answering 429 past Telegram's documented limits (tests/fakeapi.py with
`limits=True`: 30 messages a second overall, 20 a minute a group, each tolerating a burst of
its size; every send, copy, forward and edit is counted).

    .venv/bin/python bench/fair.py            # the full run (about ten minutes)
    .venv/bin/python bench/fair.py --quick    # a smoke run (small sizes)

(a) ten people at once through /prepare, each sending the next step as soon as the last reply
    of the one before has come: CoReflect; PTB ConversationHandler + PicklePersistence +
    AIORateLimiter; the same without a limiter. Latency is from the update being offered to
    the bot's last reply of the step reaching the server. How many replies a step brings is
    learned first from one person going through alone (two flows: the first brings a welcome).
(b) the same ten people, taking THINK seconds to answer, while 10,000 weekly reminders fall due
    (CoReflect); they keep going until the last reminder is out.
(c) a stranger's group sending 100 /teamgroup at once while another person sends /help twenty
    times, one after another; (d) the same with one person sending 300 long messages at once.
    The other person's p99 is set beside theirs with nothing else happening (the baseline).

Each bot runs in its own process and polls the fake exactly as it polls Telegram. The fake and
this driver share one process and compete with the bot for the cores. Answer text is generated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench import figures  # noqa: E402
from bench.figures import Figure  # noqa: E402
from bench.load import WORDS, bot_process, percentile  # noqa: E402
from flows.store.core import DB_NAME  # noqa: E402
from tests.fakeapi import FakeBotAPI  # noqa: E402
from tests.offline import Person  # noqa: E402

TOKEN = "424243:FAIR-bench-token"
PEOPLE = 10
# Seconds a person takes to answer (on average) in the second run of (a). In the first they
# answer at once, so ten people keep the bot at Telegram's 30 a second and every step queues
# (Little's law: 10 people / 30 steps a second = 330 ms a step, whatever the bot does).
THINK = 2.0
STEP_TIMEOUT = 8.0  # seconds without the step's last reply: the flow is counted unfinished
OTHERS = 3  # people sending /help side by side in each phase of (c) and (d)
REMINDER_ID = 800_000_000
LONDON = ZoneInfo("Europe/London")


# ---- the bots, each in its own process --------------------------------------------------------


def ptb_process(base_url: str, data_dir: str, limiter: bool) -> None:
    """PTB's own way (bench/flows.py's baseline), polling with PTB's Updater."""
    from telegram.ext import AIORateLimiter, ApplicationBuilder

    from bench.flows import baseline_application

    builder: Any = ApplicationBuilder().token(TOKEN).base_url(base_url)
    if limiter:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    app, _ = baseline_application(
        Path(data_dir) / "ptb.pickle", durable=False, request=None, builder=builder
    )

    async def refused(update: object, context: Any) -> None:
        """What Telegram refused is lost (a stock bot has no outbox); logged by the figures."""

    app.add_error_handler(refused)
    app.run_polling(poll_interval=0.0, timeout=10, stop_signals=(signal.SIGTERM,))


class Bot:
    """A bot process against the fake, started and stopped around one scenario."""

    def __init__(self, variant: str, fake: FakeBotAPI, data_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--bot", variant, fake.base_url, str(data_dir)],
            cwd=_HERE.parent,
        )
        polling = fake.wait_for(lambda calls: any(c.method == "getUpdates" for c in calls), 60)
        assert polling, f"{variant} never started polling"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ---- people ---------------------------------------------------------------------------------


def answer_text(rng: random.Random, low: int = 100, high: int = 300) -> str:
    length = rng.randint(low, high)
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < length:
        words.append(rng.choice(WORDS))
    return " ".join(words)[:length]


def replies(fake: FakeBotAPI, chat: int) -> list[Any]:
    """Calls to this chat, leaving out "I'm catching up" (a person past their allowance)."""
    return [s for s in fake.sent_to(chat) if "catching up" not in str(s.params.get("text"))]


async def until_quiet(fake: FakeBotAPI, chat: int, quiet: float = 1.0) -> int:
    """How many calls to this chat, once none has come for `quiet` seconds."""
    seen, since = -1, time.monotonic()
    while True:
        count = len(replies(fake, chat))
        if count != seen:
            seen, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return count
        await asyncio.sleep(0.02)


async def step(fake: FakeBotAPI, person: Person, text: str, expect: int) -> float | None:
    """Offer one update; ms until the step's last reply (`expect` calls), or None."""
    before = len(replies(fake, person.user_id))
    offered = time.monotonic()
    fake.push(person.text(text))
    deadline = offered + STEP_TIMEOUT
    while time.monotonic() < deadline:
        sent = replies(fake, person.user_id)
        if len(sent) - before >= expect:
            return (sent[before + expect - 1].at - offered) * 1000
        await asyncio.sleep(0.003)
    return None


async def calibrate(fake: FakeBotAPI, steps: int, rng: random.Random) -> list[list[int]]:
    """Replies per step of a first flow and of a later one, from one person alone."""
    person = Person(REMINDER_ID - 1, "Cal")
    counts: list[list[int]] = []
    for _ in range(2):
        flow: list[int] = []
        for index in range(steps):
            before = len(replies(fake, person.user_id))
            fake.push(person.text("/prepare" if index == 0 else answer_text(rng)))
            flow.append(await until_quiet(fake, person.user_id) - before)
        counts.append(flow)
    assert all(n > 0 for flow in counts for n in flow), f"a step brought no reply: {counts}"
    print(f"  replies per step: first flow {counts[0]}, later {counts[1]}", flush=True)
    return counts


async def crowd(
    fake: FakeBotAPI,
    counts: list[list[int]],
    flows: int,
    rng: random.Random,
    first: int,
    stop: asyncio.Event | None = None,
    think: float = 0.0,
) -> dict[str, Any]:
    """PEOPLE people at once, `flows` times each through /prepare (or until `stop`)."""
    latencies: list[float] = []
    finished = 0
    steps = 0

    async def one(n: int) -> None:
        nonlocal finished, steps
        person = Person(first + n, f"P{n}")
        for round_ in range(flows):
            if stop is not None and stop.is_set():
                return
            expected = counts[0 if round_ == 0 else 1]
            for index, expect in enumerate(expected):
                text = "/prepare" if index == 0 else answer_text(rng)
                if think:
                    await asyncio.sleep(rng.uniform(0.5, 1.5) * think)
                took = await step(fake, person, text, expect)
                steps += 1
                if took is None:
                    await until_quiet(fake, person.user_id, 0.5)
                    fake.push(person.text("/cancel"))  # start the next flow afresh
                    await until_quiet(fake, person.user_id, 0.5)
                    break
                latencies.append(took)
            else:
                finished += 1

    refused = fake.refused
    started = time.monotonic()
    await asyncio.gather(*(one(n) for n in range(PEOPLE)))
    wall = time.monotonic() - started
    return {
        "steps_per_s": len(latencies) / wall,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "finished": finished,
        "flows": PEOPLE * flows,
        "refused": fake.refused - refused,
        "steps": steps,
    }


# ---- the scenarios --------------------------------------------------------------------------


def scenario_a(args: argparse.Namespace, work: Path) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for variant, name in (
        ("ours", "CoReflect"),
        ("ptb-limiter", "PTB ConversationHandler + PicklePersistence + AIORateLimiter"),
        ("ptb", "the same without a limiter"),
    ):
        if args.variants and variant not in args.variants:
            continue
        data_dir = work / f"a-{variant}"
        data_dir.mkdir(mode=0o700)
        with FakeBotAPI(limits=True) as fake:
            bot = Bot(variant, fake, data_dir)
            try:
                rng = random.Random(21)
                counts = asyncio.run(calibrate(fake, args.steps, rng))
                for think, first in ((0.0, 900_000_000), (THINK, 901_000_000)):
                    key = name if not think else f"{name}, {THINK:.0f} s to answer"
                    results[key] = asyncio.run(
                        crowd(fake, counts, args.flows, rng, first, think=think)
                    )
                    print(f"  (a) {key}: {_fmt(results[key])}", flush=True)
            finally:
                bot.stop()
    return results


def populate_reminders(data_dir: Path, people: int, due: datetime) -> None:
    """`people` people whose weekly reminder falls due at `due` (London time)."""

    async def run() -> None:
        from bench.flows import config_for
        from bot.app import open_service
        from flows.features.sessions import db as sessions_db
        from flows.features.sessions import reminders
        from flows.features.sessions.db import ReminderSettings
        from flows.kernel.turn import speaking
        from flows.store.unit import Unit

        service = await open_service(config_for(data_dir, "NORMAL"))
        local = due.astimezone(LONDON)
        quiet = local + timedelta(hours=12)  # quiet hours well away from the due time
        settings = ReminderSettings(
            weekly_day=local.weekday(),
            weekly_time=local.strftime("%H:%M"),
            quiet_start=quiet.strftime("%H:%M"),
            quiet_end=(quiet + timedelta(minutes=1)).strftime("%H:%M"),
        )
        planned_at = due - timedelta(minutes=5)
        service.store.clock = lambda: planned_at
        ids = [REMINDER_ID + n for n in range(people)]
        for start in range(0, people, 1000):
            chunk = ids[start : start + 1000]

            def work(tx: Unit, chunk: list[int] = chunk) -> None:
                with speaking(service.catalogue):  # as every unit of work runs
                    for person_id in chunk:
                        tx.person(person_id, "Europe/London")
                        tx.set_welcomed(person_id)
                        sessions_db.set_reminder_settings(tx, person_id, settings)
                        reminders.plan(tx, person_id, planned_at)

            await service.store.run(work)
        await service.store.close()

    asyncio.run(run())


def scenario_b(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data_dir = work / "b"
    data_dir.mkdir(mode=0o700)
    now = datetime.now(LONDON)
    due = (now + timedelta(seconds=150)).replace(second=0, microsecond=0)
    populate_reminders(data_dir, args.reminders, due)
    ids = range(REMINDER_ID, REMINDER_ID + args.reminders)
    with FakeBotAPI(limits=True) as fake:
        bot = Bot("ours", fake, data_dir)
        try:
            rng = random.Random(22)
            counts = asyncio.run(calibrate(fake, args.steps, rng))
            while datetime.now(LONDON) < due - timedelta(seconds=3):
                time.sleep(0.1)
            refused = fake.refused

            async def both() -> dict[str, Any]:
                stop = asyncio.Event()
                load = asyncio.create_task(
                    crowd(fake, counts, 10**6, rng, 910_000_000, stop, think=THINK)
                )
                deadline = time.monotonic() + args.reminders / 20 + 120
                while time.monotonic() < deadline:
                    if sum(len(fake.sent_to(i)) > 0 for i in ids) >= args.reminders:
                        break
                    await asyncio.sleep(0.5)
                stop.set()
                return await load

            interactive = asyncio.run(both())
            sends = Counter[int]()
            times: list[float] = []
            for i in ids:
                for sent in fake.sent_to(i):
                    if sent.method == "sendMessage":
                        sends[i] += 1
                        times.append(sent.at)
            rate = len(times) / (max(times) - min(times)) if len(times) > 1 else 0.0
            window = (min(times), max(times)) if times else (0.0, 0.0)
            everything = sum(
                1
                for c in fake.sent_calls()
                if c.method.startswith("send") and window[0] <= c.at <= window[1]
            )
            total = everything / (window[1] - window[0]) if window[1] > window[0] else 0.0
            return {
                "interactive": interactive,
                "rate": rate,
                "total": total,
                "lost": args.reminders - len(sends),
                "doubled": sum(1 for c in sends.values() if c > 1),
                "refused": fake.refused - refused,
            }
        finally:
            bot.stop()


def scenario_cd(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data_dir = work / "cd"
    data_dir.mkdir(mode=0o700)
    # Other people, OTHERS for each phase, each sending /help `helps` times in a row: more from
    # one person would meet their own allowance (bot/inbox.py) and measure that instead.
    others = [Person(920_000_010 + n, f"Oz{n}") for n in range(3 * OTHERS)]
    stranger = Person(920_000_002, "Stranger")
    flooder = Person(920_000_003, "Flo")
    group = {"id": -920_000_004, "type": "group", "title": "Anyone's group"}
    results: dict[str, Any] = {}
    expects: dict[int, int] = {}
    with FakeBotAPI(limits=True) as fake:
        bot = Bot("ours", fake, data_dir)
        try:

            async def ready(other: Person) -> int:
                """Welcomed, and how many replies /help brings."""
                fake.push(other.text("/start"))
                await until_quiet(fake, other.user_id)
                before = len(replies(fake, other.user_id))
                fake.push(other.text("/help"))
                return await until_quiet(fake, other.user_id) - before

            async def helps(other: Person) -> list[float]:
                expect = expects[other.user_id]
                done: list[float] = []
                for _ in range(args.helps):
                    took = await step(fake, other, "/help", expect)
                    done.append(took if took is not None else STEP_TIMEOUT * 1000)
                return done

            async def phase(n: int) -> float:
                group = others[n * OTHERS : (n + 1) * OTHERS]
                times = await asyncio.gather(*(helps(o) for o in group))
                return percentile([t for each in times for t in each], 99)

            async def run() -> None:
                for other in others:
                    expects[other.user_id] = await ready(other)
                results["baseline"] = await phase(0)
                calls = len(fake.calls)
                fake.push_all(
                    [stranger.in_group(group, "/teamgroup") for _ in range(args.strangers)]
                )
                results["c"] = await phase(1)
                await until_quiet(fake, group["id"])
                new = fake.calls[calls:]
                results["c_member_calls"] = sum(c.method == "getChatMember" for c in new)
                results["c_group_replies"] = len(fake.sent_to(group["id"]))
                rng = random.Random(23)
                flood = [flooder.text(answer_text(rng, 3000, 4000)) for _ in range(args.flood)]
                fake.push_all(flood)
                results["d"] = await phase(2)
                results["flood_ids"] = [u["update_id"] for u in flood]

            asyncio.run(run())
            time.sleep(1.0)
        finally:
            bot.stop()
    with sqlite3.connect(data_dir / DB_NAME) as db:
        ids = results.pop("flood_ids")
        kept = db.execute(
            f"SELECT COUNT(*), COUNT(handled_at) FROM inbox WHERE update_id IN"
            f" ({','.join('?' * len(ids))})",
            ids,
        ).fetchone()
    results["d_kept"], results["d_handled"] = int(kept[0]), int(kept[1])
    return results


# ---- the report -----------------------------------------------------------------------------


def _fmt(r: dict[str, Any]) -> str:
    return (
        f"{r['steps_per_s']:.1f} steps/s, p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms,"
        f" {r['finished']}/{r['flows']} flows, {r['refused']} 429s"
    )


def report(
    args: argparse.Namespace, a: dict[str, Any], b: dict[str, Any], cd: dict[str, Any]
) -> None:
    ours, ptb = a["CoReflect"], a["PTB ConversationHandler + PicklePersistence + AIORateLimiter"]
    print(f"\n(a) {PEOPLE} people at once through /prepare, fake Bot API with Telegram's limits")
    print(f"{'bot':62} {'steps/s':>8} {'p50':>8} {'p99':>8} {'flows':>8} {'429s':>6}")
    for name, r in a.items():
        print(
            f"{name:62} {r['steps_per_s']:8.1f} {r['p50']:6.0f}ms {r['p99']:6.0f}ms"
            f" {r['finished']:>3}/{r['flows']:<4} {r['refused']:6d}"
        )
    ratio = ours["steps_per_s"] / ptb["steps_per_s"] if ptb["steps_per_s"] else float("inf")
    inter = b["interactive"]
    print(
        f"\n(b) the same while {args.reminders:,} weekly reminders fall due:"
        f" interactive p99 {inter.get('p99', float('nan')):.0f} ms (target <= 1,000),"
        f" reminders at {b['rate']:.1f}/s (target >= 27; everything sent meanwhile"
        f" {b['total']:.1f}/s of Telegram's 30), lost {b['lost']}, doubled"
        f" {b['doubled']}, 429s {b['refused']}"
    )
    print(
        f"(c) {args.strangers} /teamgroup from a stranger's group: another person's /help p99"
        f" {cd['c']:.0f} ms against {cd['baseline']:.0f} ms alone (target <= 2x);"
        f" getChatMember {cd['c_member_calls']}, replies in the group {cd['c_group_replies']}"
    )
    print(
        f"(d) one person sending {args.flood} long messages: another's /help p99 {cd['d']:.0f} ms"
        f" against {cd['baseline']:.0f} ms alone (target <= 2x); the flooder's messages kept"
        f" {cd['d_kept']}/{args.flood} ({cd['d_handled']} handled by the end, at their pace)"
    )
    base = cd["baseline"]
    figures.report(
        [
            Figure("fair", "(a) p50", f"{ours['p50']:.0f} ms", "<= 150 ms", ours["p50"] <= 150),
            Figure("fair", "(a) p99", f"{ours['p99']:.0f} ms", "<= 500 ms", ours["p99"] <= 500),
            Figure("fair", "(a) 429s drawn", str(ours["refused"]), "0", ours["refused"] == 0),
            Figure(
                "fair",
                "(a) steps/s vs PTB+AIORateLimiter",
                f"{ours['steps_per_s']:.1f} vs {ptb['steps_per_s']:.1f} ({ratio:.1f}x)",
                ">= 1.5x",
                ratio >= 1.5,
            ),
            Figure(
                "fair",
                "(a) flows finished",
                f"{ours['finished']}/{ours['flows']}",
                "all",
                ours["finished"] == ours["flows"],
            ),
            Figure(
                "fair",
                "(b) interactive p99",
                f"{inter.get('p99', float('nan')):.0f} ms",
                "<= 1,000 ms",
                inter.get("p99", 1e9) <= 1000,
            ),
            Figure("fair", "(b) reminders/s", f"{b['rate']:.1f}", ">= 27", b["rate"] >= 27),
            Figure(
                "fair",
                "(b) reminders lost/doubled",
                f"{b['lost']}/{b['doubled']}",
                "0/0",
                b["lost"] == 0 and b["doubled"] == 0,
            ),
            Figure(
                "fair",
                "(c) other's p99 vs alone",
                f"{cd['c']:.0f} vs {base:.0f} ms",
                "<= 2x",
                cd["c"] <= 2 * base,
            ),
            Figure(
                "fair",
                "(c) getChatMember for a stranger",
                str(cd["c_member_calls"]),
                "0",
                cd["c_member_calls"] == 0,
            ),
            Figure(
                "fair",
                "(d) other's p99 vs alone",
                f"{cd['d']:.0f} vs {base:.0f} ms",
                "<= 2x",
                cd["d"] <= 2 * base,
            ),
            Figure(
                "fair",
                "(d) flooder's messages kept",
                f"{cd['d_kept']}/{args.flood}",
                "all",
                cd["d_kept"] == args.flood,
            ),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--bot":
        variant, base_url, data_dir = argv[1:4]
        if variant == "ours":
            bot_process(base_url, data_dir, limited=True)
        else:
            ptb_process(base_url, data_dir, limiter=variant == "ptb-limiter")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["a", "b", "cd"], action="append")
    parser.add_argument("--variants", nargs="*", help="(a) only these: ours ptb-limiter ptb")
    args = parser.parse_args(argv)
    from bench.flows import preparation_set

    args.steps = 1 + len(preparation_set()["steps"])
    args.flows = 2 if args.quick else 6
    args.reminders = 1_000 if args.quick else 10_000
    args.strangers = 100
    args.flood = 100 if args.quick else 300
    args.helps = 12
    work = Path(tempfile.mkdtemp(prefix="coreflect-fair-"))
    try:
        only = args.only or ["a", "b", "cd"]
        a = scenario_a(args, work) if "a" in only else {}
        b = scenario_b(args, work) if "b" in only else {}
        cd = scenario_cd(args, work) if "cd" in only else {}
        print(a, b, cd, flush=True)
        if a and b and cd:
            report(args, a, b, cd)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
