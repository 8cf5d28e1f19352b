"""Supply chain: everything installed comes from the hash-pinned lock files, `make run` never
reinstalls (so never reaches the network) once .venv exists, and the audit fails on a known
vulnerability but skips, saying so, when no vulnerability data could be reached."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tools import audit

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^ ;\\]+)")


def locked(name: str) -> dict[str, list[tuple[str, list[str]]]]:
    """{package: [(version, hashes)]} of a lock file (one entry per marker variant)."""
    pins: dict[str, list[tuple[str, list[str]]]] = {}
    current: list[str] = []
    for line in (ROOT / name).read_text().splitlines():
        if match := PIN.match(line):
            current = []
            pins.setdefault(_norm(match[1]), []).append((match[2], current))
        elif "--hash=sha256:" in line:
            current.append(line.split("--hash=sha256:")[1].split()[0])
        else:
            assert not line.strip() or line.lstrip().startswith("#"), f"{name}: {line!r}"
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    return {_norm(re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0]) for r in requirements}


def test_every_dependency_is_pinned_with_hashes_and_dev_agrees_with_runtime() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev = locked("requirements.lock"), locked("requirements-dev.lock")
    for pins in (runtime, dev):
        for name, variants in pins.items():
            for version, hashes in variants:
                assert hashes and all(len(h) == 64 for h in hashes), (name, version)
    assert _requirement_names(project["dependencies"]) <= set(runtime)
    assert "setuptools" in runtime  # the project is installed with no build environment
    assert _requirement_names(project["optional-dependencies"]["dev"]) <= set(dev)
    for name, variants in runtime.items():
        assert [v for v, _ in dev[name]] == [v for v, _ in variants], name


def _fake_checkout(tmp_path: Path) -> Path:
    for name in ("Makefile", "pyproject.toml", "requirements.lock", "requirements-dev.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").touch()
    return tmp_path


def _make_dry(where: Path, target: str) -> str:
    done = subprocess.run(
        ["make", "-n", target], cwd=where, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_run_never_reinstalls_once_the_venv_exists(tmp_path: Path) -> None:
    where = _fake_checkout(tmp_path)
    first = _make_dry(where, "run")
    assert "--require-hashes -r requirements.lock" in first
    assert "--no-deps --no-build-isolation -e ." in first
    assert "install --upgrade" not in first and "-e '.[dev]'" not in first
    (where / ".venv" / ".run-installed").touch()
    later = os.stat(where / ".venv" / ".run-installed").st_mtime + 60
    for name in ("requirements.lock", "pyproject.toml"):
        os.utime(where / name, (later, later))  # changed since .venv was built
    again = _make_dry(where, "run")
    assert "pip" not in again and ".venv/bin/coreflect" in again
    # `make test` installs the dev lock, with hashes, when it changed.
    assert "--require-hashes -r requirements-dev.lock" in _make_dry(where, "test")


class _Done:
    def __init__(self, stdout: str, stderr: str = "", returncode: int = 0) -> None:
        self.stdout, self.stderr, self.returncode = stdout, stderr, returncode


def _audit_with(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], done: _Done
) -> tuple[int, str]:
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: done)
    code = audit.main(["requirements.lock"])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_the_audit_fails_on_a_known_vulnerability(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    vulnerable: dict[str, Any] = {
        "dependencies": [
            {"name": "jinja2", "version": "3.1.2", "vulns": [{"id": "X-1", "fix_versions": []}]},
            {"name": "pyyaml", "version": "6.0.2", "vulns": []},
        ]
    }
    code, text = _audit_with(monkeypatch, capsys, _Done(json.dumps(vulnerable), returncode=1))
    assert code == 1 and "VULNERABLE jinja2 3.1.2: X-1" in text
    clean = {"dependencies": [{"name": "pyyaml", "version": "6.0.2", "vulns": []}]}
    code, text = _audit_with(monkeypatch, capsys, _Done(json.dumps(clean)))
    assert code == 0 and "no known vulnerabilities in 1" in text


def test_the_audit_skips_plainly_when_no_vulnerability_data_is_reachable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    unreachable = _Done("", "requests.exceptions.ConnectionError: cannot resolve", 1)
    code, text = _audit_with(monkeypatch, capsys, unreachable)
    assert code == 0 and "SKIPPED" in text and "ConnectionError" in text
    # pip-audit itself says "No known vulnerabilities found" here: every package was skipped.
    none_found = {"dependencies": [{"name": "jinja2", "skip_reason": "not found"}], "fixes": []}
    code, text = _audit_with(monkeypatch, capsys, _Done(json.dumps(none_found)))
    assert code == 0 and "SKIPPED" in text and "no known vulnerabilities" not in text
