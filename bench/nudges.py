"""Nudge benchmark: 10,000 people with a reminder due at the same minute.

    .venv/bin/python bench/nudges.py            # 10,000 people (about a minute of real time)
    .venv/bin/python bench/nudges.py --quick    # 1,000 people, a few seconds

Each person has a weekly reflection reminder at Monday 09:00, so 10,000 nudges fall due at once.
They go out the production way: `Alarm.run_due` moves them into the outbox (marked sent in the
same transaction) and sends them through PTB's AIORateLimiter, as `build_application` sets it up,
to an in-process Telegram that enforces 30 messages a second (a token bucket: 30 a second, bursts
of up to 30) and answers anything over with a 429 and retry_after, as Telegram does.

Time is simulated: the event loop runs on a clock that moves with real time while anything is
working (our code, PTB, SQLite on its thread) and skips ahead only while every task is waiting
on a timer (the rate limiter, a retry_after). So "simulated s" is what the send would take
against Telegram's limit, CPU time included, without waiting minutes for it.

Side by side in the same run:
- CoReflect: the durable nudges above.
- PTB, no rate limiter: a stock bot sending the same 10,000 messages at once; what Telegram
  refuses with 429 is lost (PTB does not retry without a rate limiter).
- PTB + AIORateLimiter at 30/s, no outbox: PTB's default limiter (exactly at Telegram's limit)
  with three retries, fired from memory. CoReflect runs the same limiter at 29/s.

Also measured: start-up with 10,000 pending schedules (open the database, migrate, check the key,
build the Application, getMe, arm the alarm from the rows), in real time.
Targets: all delivered in <= 350 simulated s (>= 95% of the 333 s ceiling), 0 429s, 0 duplicates,
start-up <= 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import selectors
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as `python bench/nudges.py`, Python puts bench/ first on sys.path, and bench/flows.py would
# shadow the `flows` package. Take bench/ off the path and put the repository root on it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from telegram.ext import AIORateLimiter, ApplicationBuilder  # noqa: E402
from telegram.request import RequestData  # noqa: E402

from bench import figures  # noqa: E402
from bench.figures import Figure  # noqa: E402
from bench.flows import LeanRequest, config_for  # noqa: E402
from bot.app import App, open_service  # noqa: E402
from bot.telegram_bot import build_application  # noqa: E402
from flows.features.sessions import db as sessions_db  # noqa: E402
from flows.features.sessions import reminders  # noqa: E402
from flows.features.sessions.db import ReminderSettings  # noqa: E402
from flows.kernel.turn import speaking  # noqa: E402
from flows.store.unit import Unit  # noqa: E402

TOKEN = "123456:BENCH-token"
FIRST_ID = 700_000_000
DUE = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # Monday 09:00 in London (GMT)
LIMIT = 30  # Telegram: about 30 messages a second to different chats


# ---- a clock that skips idle waits ------------------------------------------------------------


class SimLoop(asyncio.SelectorEventLoop):
    """Real time while anything runs; when every task waits on a timer, jump to that timer."""

    def __init__(self) -> None:
        self.skipped = 0.0
        self.busy = 0  # database calls in flight on aiosqlite's thread: wait for them for real
        super().__init__(_Selector(self))

    def time(self) -> float:
        return time.monotonic() + self.skipped


class _Selector(selectors.DefaultSelector):
    def __init__(self, loop: SimLoop) -> None:
        super().__init__()
        self.loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        events = super().select(0)
        if events or timeout == 0:
            return events
        if self.loop.busy or timeout is None:
            return super().select(timeout)
        self.loop.skipped += timeout
        return []


def count_database_work(loop: SimLoop, db: Any) -> None:
    """Mark the loop busy while aiosqlite's thread works, so no wait is skipped meanwhile."""
    original = db._execute

    async def counted(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop.busy += 1
        try:
            return await original(fn, *args, **kwargs)
        finally:
            loop.busy -= 1

    db._execute = counted


# ---- Telegram with its limit --------------------------------------------------------------------


class LimitedTelegram(LeanRequest):
    """Accepts 30 messages a second (bursts of up to 30) and answers the rest with a 429."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens = float(LIMIT)
        self.last: float | None = None
        self.refused = 0
        self.accepted: Counter[int] = Counter()
        self.first_at: float | None = None
        self.last_at = 0.0

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, **kwargs: Any
    ) -> tuple[int, bytes]:
        if url.endswith("/sendMessage") and request_data is not None:
            now = asyncio.get_running_loop().time()
            if self.last is not None:
                self.tokens = min(float(LIMIT), self.tokens + (now - self.last) * LIMIT)
            self.last = now
            if self.tokens < 1.0:
                self.refused += 1
                body = {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1},
                }
                return 429, json.dumps(body).encode()
            self.tokens -= 1.0
            self.accepted[int(request_data.parameters["chat_id"])] += 1
            self.first_at = now if self.first_at is None else self.first_at
            self.last_at = now
        status, body_bytes = await super().do_request(url, method, request_data, **kwargs)
        return int(status), bytes(body_bytes)


# ---- the people ---------------------------------------------------------------------------------


async def plan_people(
    service: App, ids: list[int], settings: ReminderSettings, planned_at: datetime
) -> None:
    """People with these reminder settings, their reminders planned at `planned_at`, a
    thousand to a unit of work (also bench/fair.py's reminders)."""
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]

        def work(tx: Unit, chunk: list[int] = chunk) -> None:
            with speaking(service.catalogue):  # as every unit of work runs
                for person_id in chunk:
                    tx.person(person_id, "Europe/London")
                    tx.set_welcomed(person_id)
                    sessions_db.set_reminder_settings(tx, person_id, settings)
                    reminders.plan(tx, person_id, planned_at)

        await service.store.run(work)


async def populate(data_dir: Path, people: int) -> None:
    service = await open_service(config_for(data_dir, "NORMAL"))
    service.store.clock = lambda: DUE - timedelta(days=1)
    settings = ReminderSettings(weekly_day=0, weekly_time="09:00")
    await plan_people(
        service, [FIRST_ID + n for n in range(people)], settings, DUE - timedelta(days=1)
    )
    await service.store.close()


# ---- the variants -------------------------------------------------------------------------------


async def ours(data_dir: Path, people: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, SimLoop)
    started = time.perf_counter()
    config = config_for(data_dir, "FULL")
    service = await open_service(config)
    request = LimitedTelegram()
    app = build_application(config, service, request=request)
    await app.initialize()
    nudger = app.bot_data.alarm
    service.store.clock = lambda: DUE - timedelta(minutes=1)
    await nudger.rearm()  # what start-up does once nothing is due yet
    startup = time.perf_counter() - started
    pending = await service.store.run(
        lambda tx: tx.conn.execute("SELECT COUNT(*) FROM nudges WHERE state = 'pending'").fetchone()
    )
    assert nudger.armed_for == DUE, nudger.armed_for
    count_database_work(loop, service.store.db)

    t0, wall = loop.time(), time.perf_counter()
    service.store.clock = lambda: DUE + timedelta(seconds=loop.time() - t0)
    await nudger.run_due()
    while nudger.armed_for < DUE + timedelta(hours=1):  # the alarm's retry, after 429s
        await asyncio.sleep(max(0.0, (nudger.armed_for - service.store.clock()).total_seconds()))
        await nudger.run_due()
    await service.store.flush_sent()
    result = _result(request, people, t0, time.perf_counter() - wall)
    result["startup_s"] = startup
    result["pending"] = int(pending[0])
    left = await service.store.run(
        lambda tx: tx.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()
    )
    result["left_in_outbox"] = int(left[0])
    await app.shutdown()
    await service.store.close()
    return result


async def stock(people: int, limiter: bool) -> dict[str, Any]:
    """A bot that sends every reminder from memory at once, as a plain PTB bot would."""
    loop = asyncio.get_running_loop()
    request = LimitedTelegram()
    builder = ApplicationBuilder().token(TOKEN).updater(None).request(request)
    if limiter:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))  # 30/s, PTB's default
    app = builder.build()
    await app.initialize()
    lost = 0

    async def send(chat_id: int) -> None:
        nonlocal lost
        try:
            await app.bot.send_message(chat_id, "It's your weekly reflection time.")
        except Exception:
            lost += 1

    t0, wall = loop.time(), time.perf_counter()
    await asyncio.gather(*(send(FIRST_ID + n) for n in range(people)))
    result = _result(request, people, t0, time.perf_counter() - wall)
    result["lost"] = lost
    await app.shutdown()
    return result


def _result(request: LimitedTelegram, people: int, t0: float, wall: float) -> dict[str, Any]:
    delivered = len(request.accepted)
    return {
        "simulated_s": request.last_at - t0,
        "wall_s": wall,
        "refused_429": request.refused,
        "delivered": delivered,
        "duplicates": sum(n - 1 for n in request.accepted.values() if n > 1),
        "lost": people - delivered,
    }


def run(coroutine: Any) -> Any:
    loop = SimLoop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 people")
    args = parser.parse_args(argv)
    people = 1_000 if args.quick else args.people
    ceiling = people / LIMIT
    with tempfile.TemporaryDirectory(prefix="coreflect-nudges-") as tmp:
        template = Path(tmp) / "template"
        asyncio.run(populate(template, people))
        data = Path(tmp) / "ours"
        shutil.copytree(template, data)
        results = {
            "CoReflect (outbox, AIORateLimiter)": run(ours(data, people)),
            "PTB, no rate limiter": run(stock(people, limiter=False)),
            "PTB + AIORateLimiter 30/s, no outbox": run(stock(people, limiter=True)),
        }
    mine = results["CoReflect (outbox, AIORateLimiter)"]
    print(f"\nNudges: {people:,} people due at the same minute; Telegram limit {LIMIT}/s")
    print(f"(ceiling: {ceiling:.0f} simulated s to send them all)\n")
    print(
        f"{'variant':38} {'simulated s':>11} {'real s':>7} {'429s':>6} {'delivered':>9}"
        f" {'duplicates':>10} {'lost':>6}"
    )
    for name, r in results.items():
        print(
            f"{name:38} {r['simulated_s']:11.1f} {r['wall_s']:7.1f} {r['refused_429']:6d}"
            f" {r['delivered']:9,d} {r['duplicates']:10d} {r['lost']:6d}"
        )
    share = ceiling / mine["simulated_s"] if mine["simulated_s"] else 0.0
    target_s = ceiling / 0.95
    print()
    print(
        f"CoReflect: all delivered in {mine['simulated_s']:.1f} simulated s"
        f" ({share:.1%} of the ceiling; target <= {target_s:.0f} s, i.e. >= 95%):"
        f" {'met' if mine['simulated_s'] <= target_s and mine['lost'] == 0 else 'NOT met'}"
    )
    print(
        f"CoReflect: 429s {mine['refused_429']} (target 0), duplicates {mine['duplicates']}"
        f" (target 0), left in the outbox {mine['left_in_outbox']}"
    )
    print(
        f"Start-up with {mine['pending']:,} pending schedules: {mine['startup_s']:.2f} s"
        f" (target <= 2 s): {'met' if mine['startup_s'] <= 2 else 'NOT met'}"
    )
    delivered_ok = mine["simulated_s"] <= target_s and mine["lost"] == 0
    figures.report(
        [
            Figure(
                "nudges",
                f"{people:,} nudges due at once, all delivered",
                f"{mine['simulated_s']:.1f} simulated s ({share:.1%} of the ceiling)",
                f"≤ {target_s:.0f} s",
                delivered_ok,
            ),
            Figure("nudges", "429s", str(mine["refused_429"]), "0", mine["refused_429"] == 0),
            Figure("nudges", "duplicates", str(mine["duplicates"]), "0", mine["duplicates"] == 0),
            Figure(
                "nudges",
                f"start-up with {mine['pending']:,} pending schedules",
                f"{mine['startup_s']:.2f} s",
                "≤ 2 s",
                mine["startup_s"] <= 2,
            ),
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
