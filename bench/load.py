"""Sustained load over real HTTP: a steady 50 and 200 updates a second for 60 seconds each, then
a backlog drained as fast as the bot can.

    .venv/bin/python bench/load.py            # the full run (about three minutes)
    .venv/bin/python bench/load.py --quick    # a smoke run of a few seconds each

The updates are offered through the fake Bot API's getUpdates (tests/fakeapi.py, on 127.0.0.1),
and the bot polls it exactly as it polls Telegram: its own process, our durable inbox, group
commit, the outbox, SQLite synchronous=FULL, every reply a real HTTP sendMessage. The one
difference from production: PTB's AIORateLimiter is off, since it holds sending to Telegram's
30 messages a second and would measure Telegram's limit, not the bot.

The load is people going through the preparation question set (/prepare, then nine answers of
100-300 characters, then again), one message from each person at a time: at R updates a second
there are 10·R people, each writing every 10 seconds, so every reply belongs to one update.

- receipt → reply: from the moment getUpdates handed the update to the bot to the moment the
  bot's first reply to that person reached the fake server (both clocks in this process);
- offer → reply: from the moment the update was queued at the fake server, so it includes the
  long poll's own delay;
- kept up: every update answered, and the last answer within 2 s of the last offer;
- capacity: a backlog of people (three updates each) handed over at once, replies per second
  from the first delivery to the last reply.

The fake server and this load generator share one process and so compete with the bot for the
two cores: capacity here is a lower bound. Answer text is generated and never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench import figures  # noqa: E402
from bench.figures import Figure  # noqa: E402
from flows.store.core import DB_NAME  # noqa: E402
from tests import fakeapi  # noqa: E402
from tests.fakeapi import FakeBotAPI  # noqa: E402
from tests.offline import Person  # noqa: E402

TOKEN = "424242:LOAD-bench-token"
ANSWERS_PER_ROUND = 9  # the preparation set's questions
P99_TARGET_MS = 100.0
CAPACITY_TARGET = 300.0
_TEXT = (
    "colleague team shift ward meeting listened shared story hope recovery boundary careful"
    " today later supervisor felt calm unsure helpful timing choice trust honest kind"
)
WORDS = _TEXT.split()


def bot_process(base_url: str, data_dir: str, limited: bool = False) -> int:
    """The bot as `coreflect telegram` runs it; without Telegram's limits unless `limited`
    (bench/fair.py measures them; here they would measure Telegram, not the bot)."""
    from bot import logs
    from bot.app import open_service
    from bot.config import Config
    from bot.inbox import InboxRunner
    from bot.telegram_bot import build_application

    config = Config(
        token=TOKEN,
        api_base_url=base_url,
        data_dir=Path(data_dir),
        key=None,
        timezone="Europe/London",
        synchronous="FULL",
    )
    logs.configure("WARNING", secrets=(TOKEN,))

    async def run() -> None:
        service = await open_service(config)
        app = build_application(config, service, rate_limited=limited)
        runner = InboxRunner(app, service, poll_timeout=10 if limited else 30)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, runner.stop)
        try:
            await runner.run()
        finally:
            await service.store.close()

    asyncio.run(run())
    return 0


class Crowd:
    """People, each with a place in the preparation set; `next()` is one person's next update."""

    def __init__(self, size: int, first_id: int, rng: random.Random) -> None:
        self.people = [Person(first_id + n, f"L{n}") for n in range(size)]
        self.step = [0] * size
        self.rng = rng
        self.turn = 0

    def next(self) -> tuple[int, dict[str, Any]]:
        n = self.turn % len(self.people)
        self.turn += 1
        person, step = self.people[n], self.step[n]
        self.step[n] = (step + 1) % (ANSWERS_PER_ROUND + 1)
        if step == 0:
            return person.user_id, person.text("/prepare")
        length = self.rng.randint(100, 300)
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < length:
            words.append(self.rng.choice(WORDS))
        return person.user_id, person.text(" ".join(words)[:length])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def first_reply(fake: FakeBotAPI, chat: int, after: float) -> float | None:
    for sent in fake.sent_to(chat):
        if sent.method == "sendMessage" and sent.at >= after:
            return sent.at
    return None


def offer(fake: FakeBotAPI, crowd: Crowd, rate: float, seconds: float) -> dict[str, Any]:
    """Queue `rate` updates a second, evenly, for `seconds`; then wait for the answers."""
    offered: list[tuple[int, int, float]] = []  # update id, chat, when offered
    started = time.monotonic()
    while True:
        now = time.monotonic()
        if now - started >= seconds:
            break
        due = int((now - started) * rate)
        while len(offered) < due:
            chat, update = crowd.next()
            fake.push(update)
            offered.append((update["update_id"], chat, time.monotonic()))
        time.sleep(0.001)
    last_offer = offered[-1][2]
    deadline = time.monotonic() + 30
    pending = list(offered)
    answered: dict[int, float] = {}
    while pending and time.monotonic() < deadline:
        still = []
        for uid, chat, at in pending:
            reply = first_reply(fake, chat, at)
            if reply is None:
                still.append((uid, chat, at))
            else:
                answered[uid] = reply
        pending = still
        if pending:
            time.sleep(0.05)
    receipt = [
        (answered[uid] - fake.delivered_at[uid]) * 1000 for uid, _, _ in offered if uid in answered
    ]
    from_offer = [(answered[uid] - at) * 1000 for uid, _, at in offered if uid in answered]
    last_reply = max(answered.values(), default=last_offer)
    kept_up = not pending and last_reply - last_offer <= 2.0
    return {
        "rate": rate,
        "offered": len(offered),
        "achieved": len(offered) / (last_offer - started),
        "answered": len(answered),
        "p50": percentile(receipt, 50),
        "p95": percentile(receipt, 95),
        "p99": percentile(receipt, 99),
        "max": max(receipt, default=float("nan")),
        "offer_p50": percentile(from_offer, 50),
        "offer_p99": percentile(from_offer, 99),
        "tail_s": last_reply - last_offer,
        "kept_up": kept_up,
    }


def backlog(
    fake: FakeBotAPI, crowd: Crowd, people: int, each: int, database: Path
) -> dict[str, Any]:
    """`people` people with `each` updates apiece, all queued at once: how fast do they go?

    Done means the bot's own inbox has every one of them handled (read from its database, which
    WAL lets us do while it runs) and no reply has reached the server for half a second since:
    a person's first update can bring several replies, so counting replies cannot tell.
    """
    batch = [crowd.next()[1] for _ in range(each * people)]
    ids = [u["update_id"] for u in batch]
    queued = time.monotonic()  # before the push: the bot may start on them at once
    fake.push_all(batch)
    deadline = queued + 300
    complete = False
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        while time.monotonic() < deadline:
            time.sleep(0.25)
            (handled,) = db.execute(
                "SELECT count(*) FROM inbox WHERE update_id BETWEEN ? AND ?"
                " AND handled_at IS NOT NULL",
                (min(ids), max(ids)),
            ).fetchone()
            if handled == len(ids):
                complete = True
                break
    chats = {int(u["message"]["chat"]["id"]) for u in batch}

    def replies() -> list[float]:
        return [
            s.at
            for c in chats
            for s in fake.sent_to(c)
            if s.method == "sendMessage" and s.at >= queued
        ]

    while complete and time.monotonic() - max(replies()) < 0.5:
        time.sleep(0.1)
    sent = replies()
    first = min(fake.delivered_at[uid] for uid in ids)
    last = max(sent)
    return {
        "updates": len(ids),
        "seconds": last - first,
        "per_s": len(ids) / (last - first),
        "replies": len(sent),
        "complete": complete,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each steady run")
    parser.add_argument("--rates", default="50,200", help="updates a second, comma-separated")
    parser.add_argument("--backlog", type=int, default=2_000, help="people in the backlog run")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--bot", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bot:
        return bot_process(*args.bot)
    if args.quick:
        args.seconds, args.backlog = 5.0, 300
    rates = [float(r) for r in args.rates.split(",")]
    fakeapi._Handler.protocol_version = "HTTP/1.1"  # keep-alive, as Telegram's servers do
    fakeapi._Handler.disable_nagle_algorithm = True  # headers and body go as two writes
    rng = random.Random(20_261_202)
    root = Path(tempfile.mkdtemp(prefix="coreflect-load-"))
    results: list[dict[str, Any]] = []
    try:
        with FakeBotAPI(TOKEN) as fake:
            bot = subprocess.Popen(
                [
                    sys.executable,
                    os.environ.get("COREFLECT_LOAD_BOT_SCRIPT", __file__),
                    "--bot",
                    fake.base_url,
                    str(root / "data"),
                ],
                cwd=_HERE.parent,
            )
            try:
                if not fake.wait_for(lambda _: fake.get_updates_calls > 0, 60):
                    print("the bot did not start", file=sys.stderr)
                    return 1
                warm = Crowd(200, 800_000_000, rng)
                offer(fake, warm, 50, 2.0)  # warm-up, not measured
                for n, rate in enumerate(rates):
                    crowd = Crowd(int(rate * 10), 810_000_000 + n * 1_000_000, rng)
                    print(
                        f"offering {rate:.0f} updates/s for {args.seconds:.0f} s…", file=sys.stderr
                    )
                    results.append(offer(fake, crowd, rate, args.seconds))
                print(f"backlog of {args.backlog:,} people × 3 updates…", file=sys.stderr)
                drained = backlog(
                    fake,
                    Crowd(args.backlog, 890_000_000, rng),
                    args.backlog,
                    3,
                    root / "data" / DB_NAME,
                )
                bot.send_signal(signal.SIGTERM)
                bot.wait(20)
            finally:
                if bot.poll() is None:
                    bot.kill()
                    bot.wait()
            violations = len(fake.violations)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print_report(args, results, drained, violations)
    return 0


def print_report(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    drained: dict[str, Any],
    violations: int,
) -> None:
    print(
        "CoReflect sustained load — the bot in its own process polling a fake Bot API on"
        " 127.0.0.1 over real HTTP (keep-alive), durable inbox, SQLite synchronous=FULL,"
        " PTB's rate limiter off; people answering the preparation set, one message each at a"
        " time"
    )
    print(f"command: .venv/bin/python bench/load.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs (shared with the fake server)")
    if args.quick:
        print("QUICK RUN: a few seconds each; targets are judged on the full run")
    print()
    header = (
        f"{'offered/s':>9}  {'for s':>5}  {'updates':>7}  {'answered':>8}  {'p50 ms':>7}"
        f"  {'p95 ms':>7}  {'p99 ms':>7}  {'max ms':>7}  {'offer p99':>9}  {'tail s':>6}"
        f"  {'kept up':>7}"
    )
    print(header)
    print("-" * len(header))
    found: list[Figure] = []
    for r in results:
        print(
            f"{r['achieved']:>9.1f}  {args.seconds:>5.0f}  {r['offered']:>7,}  {r['answered']:>8,}"
            f"  {r['p50']:>7.1f}  {r['p95']:>7.1f}  {r['p99']:>7.1f}  {r['max']:>7.1f}"
            f"  {r['offer_p99']:>9.1f}  {r['tail_s']:>6.2f}  {'yes' if r['kept_up'] else 'NO':>7}"
        )
        rate = f"{r['rate']:.0f}/s"
        target = P99_TARGET_MS if r["rate"] <= 50 else None
        found.append(
            Figure(
                "load",
                f"{rate}: p50 / p95 / p99, receipt → reply",
                f"{r['p50']:.1f} / {r['p95']:.1f} / {r['p99']:.1f} ms",
                f"p99 ≤ {P99_TARGET_MS:.0f} ms" if target else "",
                r["p99"] <= target if target else None,
            )
        )
        found.append(
            Figure("load", f"{rate}: kept up", "yes" if r["kept_up"] else "no", "yes", r["kept_up"])
        )
    print()
    print(
        "p50/p95/p99/max = receipt → reply: getUpdates handing the update to the bot → the"
        " bot's first reply to that person at the server; offer p99 = from the update being"
        " queued (adds the long poll's wake-up); tail = last reply after the last offer; kept up"
        " = every update answered and the tail ≤ 2 s"
    )
    print()
    print(
        f"backlog: {drained['updates']:,} updates ({args.backlog:,} people × 3) drained in"
        f" {drained['seconds']:.1f} s = {drained['per_s']:,.0f} updates/s"
        f" ({drained['replies']:,} replies{'' if drained['complete'] else ', INCOMPLETE'})"
    )
    print(f"Bot API calls that broke the spec: {violations}")
    capacity = drained["per_s"]
    found.append(
        Figure(
            "load",
            "sustained capacity (backlog drained)",
            f"{capacity:,.0f} updates/s",
            f"≥ {CAPACITY_TARGET:.0f} updates/s",
            capacity >= CAPACITY_TARGET and drained["complete"],
        )
    )
    figures.report(found)
    print(
        "targets: "
        + "; ".join(
            f"{f.name} {f.value} ({f.target}): {'met' if f.met else 'MISSED'}"
            for f in found
            if f.met is not None
        )
    )


if __name__ == "__main__":
    sys.exit(main())
