"""Backup and restore: how long `coreflect backup` and `coreflect restore` take on a full database.

    .venv/bin/python bench/backup.py            # 1,000 people × 50 entries (about a minute)
    .venv/bin/python bench/backup.py --quick    # 100 people × 20 entries

The database is filled directly through the store (each answer encrypted with its person's key,
100-300 characters, five answers an entry), then backed up three times, once while another
thread keeps writing, and restored once into a fresh directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench import figures  # noqa: E402
from bench.figures import Figure  # noqa: E402
from bot.backup import backup, restore  # noqa: E402
from bot.config import Config  # noqa: E402
from flows.store.core import Store  # noqa: E402
from flows.store.unit import Unit  # noqa: E402

WORDS = ("team", "shift", "ward", "listened", "shared", "story", "hope", "recovery", "calm")


def config(data_dir: Path) -> Config:
    return Config(None, "", data_dir, None, "Europe/London", "FULL")


async def populate(data_dir: Path, people: int, entries: int) -> None:
    store = await Store.open(data_dir)
    rng = random.Random(6)
    try:
        for first in range(0, people, 50):

            def fill(tx: Unit, first: int = first) -> None:
                for person_id in range(first + 1, min(people, first + 50) + 1):
                    row = tx.person(700_000_000 + person_id, "Europe/London")
                    for _ in range(entries):
                        entry = tx.create_entry(row.id, "reflection", None)
                        for step in range(5):
                            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(15, 45)))
                            tx.put_answer(row.cipher, entry, f"s{step}", text)
                        tx.set_entry_status(entry, "saved")

            await store.run(fill)
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--people", type=int, default=1_000)
    parser.add_argument("--entries", type=int, default=50, help="entries per person")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.people, args.entries = 100, 20
    root = Path(tempfile.mkdtemp(prefix="coreflect-backup-bench-"))
    try:
        data = root / "data"
        started = time.perf_counter()
        asyncio.run(populate(data, args.people, args.entries))
        filled = time.perf_counter() - started
        size = (data / "coreflect.db").stat().st_size / 1e6
        times = []
        for n in range(3):
            started = time.perf_counter()
            backup(config(data), root / f"quiet-{n}.db")
            times.append(time.perf_counter() - started)
        stop = threading.Event()

        def keep_writing() -> None:
            async def go() -> None:
                while not stop.is_set():
                    await populate(data, 1, 1)

            asyncio.run(go())

        writer = threading.Thread(target=keep_writing)
        writer.start()
        time.sleep(0.2)
        started = time.perf_counter()
        backup(config(data), root / "busy.db")
        busy = time.perf_counter() - started
        stop.set()
        writer.join()
        fresh = root / "fresh"
        fresh.mkdir()
        shutil.copy(data / "master.key", fresh / "master.key")
        os.chmod(fresh / "master.key", 0o600)
        started = time.perf_counter()
        restore(config(fresh), root / "quiet-0.db")
        restored = time.perf_counter() - started
    finally:
        shutil.rmtree(root, ignore_errors=True)
    entries = args.people * args.entries
    print(
        f"CoReflect backup benchmark — {args.people:,} people × {args.entries} entries"
        f" ({entries:,} entries, {entries * 5:,} encrypted answers), database {size:.1f} MB,"
        f" filled in {filled:.1f} s (not measured); python {sys.version.split()[0]},"
        f" {os.cpu_count()} CPUs"
    )
    if args.quick:
        print("QUICK RUN: a small database")
    print(
        f"backup (online backup API, integrity_check, fsync, rename): "
        f"{' / '.join(f'{t:.2f}' for t in times)} s; while another connection writes:"
        f" {busy:.2f} s; restore (checks, key check, copy, fsync): {restored:.2f} s"
    )
    worst = max([*times, busy])
    figures.report(
        [
            Figure(
                "backup",
                f"backup of {size:.0f} MB ({entries:,} entries), slowest",
                f"{worst:.2f} s",
            ),
            Figure("backup", f"restore of {size:.0f} MB", f"{restored:.2f} s"),
        ]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
