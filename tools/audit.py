"""`make audit` (and the end of `make lint`): known vulnerabilities in the locked dependencies.

Runs pip-audit on the lock files themselves (no environment is built: every pin is hashed), with
the vulnerability data of the package index. Fails on any known vulnerability. Where that data
cannot be reached (offline, or an index mirror that serves packages but not their vulnerability
records), nothing could be checked: it says so plainly and skips, rather than failing the lint
or, worse, reporting "no known vulnerabilities" for packages it never looked up.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TIMEOUT = 20  # seconds per query to the vulnerability service


def main(locks: list[str]) -> int:
    command = [
        str(Path(sys.executable).with_name("pip-audit")),
        "--disable-pip",
        "--require-hashes",
        "--progress-spinner",
        "off",
        "--timeout",
        str(TIMEOUT),
        "--format",
        "json",
    ]
    for lock in locks:
        command += ["-r", lock]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        # pip-audit stopped before reporting: the service could not be reached at all.
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return skip(f"the vulnerability service could not be reached ({last[:200]})")
    found = [d for d in report.get("dependencies", []) if d.get("vulns")]
    unchecked = [d["name"] for d in report.get("dependencies", []) if d.get("skip_reason")]
    checked = len(report.get("dependencies", [])) - len(unchecked)
    for dep in found:
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            print(f"VULNERABLE {dep['name']} {dep['version']}: {vuln['id']} (fixed in: {fixed})")
    if found:
        print(f"pip-audit: {len(found)} locked package(s) have known vulnerabilities.")
        return 1
    if checked == 0:
        return skip("the index here serves packages but not their vulnerability records")
    if unchecked:
        print(f"pip-audit: could not check {', '.join(unchecked)} (no vulnerability record)")
    print(f"pip-audit: no known vulnerabilities in {checked} locked packages.")
    return 0


def skip(why: str) -> int:
    print(
        f"pip-audit SKIPPED: {why}. Nothing was checked for known vulnerabilities; "
        "run `make audit` where the package index's vulnerability data can be reached.",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["requirements.lock", "requirements-dev.lock"]))
