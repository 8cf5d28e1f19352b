"""/progress benchmark: the picture for a person with a year of weekly Ten Top Tips checks.

    .venv/bin/python bench/progress.py            # 100 pictures of each length (~1 minute)
    .venv/bin/python bench/progress.py --quick    # 15 of each, a smoke run

One person has 52 weekly self-checks (ten tips and a note, answers encrypted exactly as the
engine encrypts them), plus preparations, in-the-moment checks and reflections on most weeks,
written through the Store's own functions. Each measured operation is one press of a weeks
button handled end to end by the engine: the transaction that reads and decrypts the checks,
then the drawing (matplotlib's Agg canvas, in a worker thread) and the PNG encoding, until the
photo's bytes are ready. Sending it to Telegram is not included. The very first picture also
pays for importing matplotlib; it is reported on its own, then a few more are drawn as warm-up.
Target: p99 ≤ 300 ms for 52 weeks.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

# Run as `python bench/progress.py`, Python puts bench/ first on sys.path, and bench/flows.py
# would shadow the `flows` package. Take bench/ off the path and put the repository root on it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench import figures  # noqa: E402
from bench.figures import Figure  # noqa: E402
from bot.app import open_service  # noqa: E402
from bot.config import Config  # noqa: E402
from flows.app import App  # noqa: E402
from flows.kernel.model import Input, Person  # noqa: E402
from flows.store.rows import iso, now_utc  # noqa: E402
from flows.store.unit import Unit  # noqa: E402

SEED = 20_261_202
PERSON = Person(700_000_001, "Bench")
TARGET_MS = 300.0
ANSWERS = ["yes", "yes", "partly", "not_this_time"]


async def populate(service: App) -> int:
    """A year of weekly checks and the other question sets; returns how many entries."""
    rng = random.Random(SEED)
    tips = service.cat.flows["top_tips"]
    count = 0

    def fill(tx: Unit) -> None:
        nonlocal count
        row = tx.person(PERSON.id, service.default_timezone)
        tx.set_welcomed(PERSON.id)
        end = now_utc() - timedelta(hours=1)
        stamps: list[tuple[str, str, int]] = []
        for week in range(52):
            moment = end - timedelta(weeks=week, hours=rng.randint(0, 100))
            entry_id = tx.create_entry(PERSON.id, "top_tips", None)
            for step in tips.steps.values():
                value = rng.choice(ANSWERS) if step.choices else "A short note about the day."
                tx.put_answer(row.cipher, entry_id, step.id, value)
            tx.set_entry_status(entry_id, "saved")
            stamps.append((iso(moment), iso(moment), entry_id))
            for name in ("preparation", "in_the_moment", "reflection"):
                for _ in range(rng.randint(0, 2)):
                    other = tx.create_entry(PERSON.id, name, None)
                    tx.put_answer(row.cipher, other, "x", "Some words.")
                    tx.set_entry_status(other, "saved")
                    when = moment - timedelta(hours=rng.randint(1, 60))
                    stamps.append((iso(when), iso(when), other))
        tx.conn.executemany(
            "UPDATE entries SET created_at = ?, updated_at = ? WHERE id = ?", stamps
        )
        count = len(stamps)

    await service.store.run(fill)
    return count


async def timed(service: App, weeks: int) -> tuple[float, float, int]:
    """Wall time (what the person waits) and CPU time of every thread of this process (what
    the work costs, less affected by other programs on the machine), in ms; the PNG's size."""
    started, cpu = time.perf_counter(), time.process_time()
    outcome = await service.handle(PERSON, Input(kind="button", data=f"pg:{weeks}"))
    spent = (time.perf_counter() - started) * 1000
    used = (time.process_time() - cpu) * 1000
    [photo] = outcome.photos
    assert photo.content.startswith(b"\x89PNG"), "no picture was drawn"
    return spent, used, len(photo.content)


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile, as bench/flows.py reports it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


async def run(rounds: int) -> int:
    load = os.getloadavg()  # other work on the machine shows in the wall times
    work = Path(tempfile.mkdtemp(prefix="coreflect-bench-progress-"))
    try:
        config = Config(None, "", work / "data", None, "Europe/London", "NORMAL")
        service = await open_service(config)
        try:
            entries = await populate(service)
            first, _, _ = await timed(service, 52)
            for _ in range(5):
                await timed(service, 52)
            times: dict[int, list[float]] = {w: [] for w in (4, 12, 52)}
            cpu: dict[int, list[float]] = {w: [] for w in times}
            sizes: dict[int, int] = {}
            for _ in range(rounds):  # interleaved, so a slow moment of the machine hits all three
                for weeks in times:
                    spent, used, sizes[weeks] = await timed(service, weeks)
                    times[weeks].append(spent)
                    cpu[weeks].append(used)
        finally:
            await service.store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"/progress: one person, 52 weekly checks and {entries - 52} other entries over a year")
    print(f"  first picture, importing matplotlib: {first:7.1f} ms")
    print(f"  load average before: {load[0]:.2f} (1 min) on {os.cpu_count()} CPUs")
    print(
        f"  {'weeks':>5}  {'n':>4}  {'p50 ms':>8}  {'p99 ms':>8}  {'max ms':>8}"
        f"  {'CPU p50':>8}  {'CPU p99':>8}  {'PNG kB':>7}"
    )
    for weeks, spent in times.items():
        print(
            f"  {weeks:>5}  {len(spent):>4}  {statistics.median(spent):8.1f}"
            f"  {percentile(spent, 0.99):8.1f}  {max(spent):8.1f}"
            f"  {statistics.median(cpu[weeks]):8.1f}  {percentile(cpu[weeks], 0.99):8.1f}"
            f"  {sizes[weeks] / 1024:7.1f}"
        )
    p99 = percentile(times[52], 0.99)
    verdict = "within" if p99 <= TARGET_MS else "OVER"
    print(f"  52 weeks p99 {p99:.1f} ms: {verdict} the {TARGET_MS:.0f} ms target")
    figures.report(
        [
            Figure(
                "progress",
                "/progress, a year of weekly checks, p99",
                f"{p99:.1f} ms",
                f"≤ {TARGET_MS:.0f} ms",
                p99 <= TARGET_MS,
            )
        ]
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="15 rounds instead of 100")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args(argv)
    rounds = args.rounds or (15 if args.quick else 100)
    return asyncio.run(run(rounds))


if __name__ == "__main__":
    raise SystemExit(main())
