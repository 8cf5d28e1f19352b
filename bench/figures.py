"""How a benchmark hands its figures to `bench/run.py`, which prints them all in one table.

Each benchmark script still prints its own detailed report; at the end it calls `report()` with
its headline figures. Run alone, that does nothing more; run by `bench/run.py`, the figures are
appended (one JSON object a line) to the file named in COREFLECT_BENCH_FIGURES.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Figure:
    bench: str  # which benchmark: "flows", "journal", "load", …
    name: str  # what was measured, in a few words
    value: str  # the figure as printed, with its unit
    target: str = ""  # e.g. "≥ 300 updates/s"; empty when there is none
    met: bool | None = None  # None: no target


def report(figures: list[Figure]) -> None:
    path = os.environ.get("COREFLECT_BENCH_FIGURES")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        for figure in figures:
            out.write(json.dumps(asdict(figure)) + "\n")


def read(path: str) -> list[Figure]:
    with open(path, encoding="utf-8") as source:
        return [Figure(**json.loads(line)) for line in source if line.strip()]
