"""`make bench`: every benchmark, one after another, then one table of figures and targets.

    .venv/bin/python bench/run.py            # everything (several minutes)
    .venv/bin/python bench/run.py --quick    # a smoke run of each
    .venv/bin/python bench/run.py load       # only the named ones

Each benchmark is a script that prints its own report and hands its headline figures to
bench/figures.py. To add one, add a line to BENCHMARKS.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench.figures import Figure, read  # noqa: E402

# name, script, extra arguments. One line per benchmark.
BENCHMARKS: list[tuple[str, str, list[str]]] = [
    ("flows", "bench/flows.py", []),
    ("journal", "bench/journal.py", []),
    ("nudges", "bench/nudges.py", []),
    ("progress", "bench/progress.py", []),
    ("load", "bench/load.py", []),
    ("backup", "bench/backup.py", []),
    ("fair", "bench/fair.py", []),
    ("transcribe", "bench/transcribe.py", []),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("only", nargs="*", help="run only these benchmarks")
    parser.add_argument("--quick", action="store_true", help="a smoke run of each")
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHMARKS if not args.only or b[0] in args.only]
    figures: list[Figure] = []
    failed: list[str] = []
    for name, script, extra in chosen:
        with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as handle:
            path = handle.name
        command = [sys.executable, script, *extra, *(["--quick"] if args.quick else [])]
        print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
        started = time.monotonic()
        done = subprocess.run(
            command, cwd=_HERE.parent, env={**os.environ, "COREFLECT_BENCH_FIGURES": path}
        )
        took = time.monotonic() - started
        got = read(path)
        os.unlink(path)
        if done.returncode != 0 or not got:
            failed.append(name)
        figures += got
        print(f"=== {name}: {took:.0f} s", flush=True)
    print_table(figures, quick=args.quick)
    if failed:
        print(f"FAILED to run: {', '.join(failed)}")
    return 1 if failed else 0


def print_table(figures: list[Figure], quick: bool) -> None:
    print()
    print(f"CoReflect benchmarks — python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    if quick:
        print("QUICK RUN: small sizes and short runs; targets are judged on the full run")
    rows = [
        (
            f.bench,
            f.name,
            f.value,
            f.target or "–",
            "–" if f.met is None else ("met" if f.met else "MISSED"),
        )
        for f in figures
    ]
    header = ("bench", "figure", "value", "target", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line.rstrip())
    print("-" * len(line.rstrip()))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    judged = [f for f in figures if f.met is not None]
    missed = [f for f in judged if not f.met]
    if judged:
        print(f"targets: {len(judged) - len(missed)} of {len(judged)} met")


if __name__ == "__main__":
    sys.exit(main())
