"""A non-editable install must still carry the question sets and migrations."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_prompts_and_migrations(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    (wheel,) = tmp_path.glob("coreflect-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped_prompts = {
        f"prompts/{p.name}"
        for p in resources.files("prompts").iterdir()
        if p.name.endswith(".yaml")
    }
    shipped_sql = {
        f"migrations/{p.name}"
        for p in resources.files("migrations").iterdir()
        if p.name.endswith(".sql")
    }
    assert shipped_prompts and shipped_prompts <= names
    assert shipped_sql and shipped_sql <= names
    assert "bot/__main__.py" in names and "flows/app.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "coreflect = bot.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
