"""The wording the code asks for and the wording prompts/ ships agree, both ways.

There is no hand-kept list of message keys: the code is read for the keys it uses, and the shipped
`prompts/messages.yaml` for the keys it holds. A key built at run time (`proctor_` + a section,
`kind_` + what the identifying check found) is declared below, derived from where its values live.
"""

from __future__ import annotations

import ast
import typing
from collections.abc import Iterator
from pathlib import Path

import yaml

from flows.kernel import identifying
from flows.questions.catalogue import shipped_message_keys
from flows.questions.sets import PROCTOR

ROOT = Path(__file__).resolve().parent.parent
# Keys made at run time from a prefix and a value: every value's key must be shipped.
BUILT_AT_RUN_TIME = {
    "proctor_": PROCTOR,
    "kind_": typing.get_args(identifying.Kind),
}


def _trees() -> Iterator[ast.AST]:
    for folder in ("flows", "bot"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield ast.parse(path.read_text(encoding="utf-8"), str(path))


def _asked_for() -> set[str]:
    """Literal keys passed to `msg(...)` or `….say(...)` (either branch of a conditional too)."""
    found: set[str] = set()
    for tree in _trees():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name not in {"msg", "say"}:
                continue
            first = node.args[0]
            options = [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]
            found |= {
                o.value for o in options if isinstance(o, ast.Constant) and isinstance(o.value, str)
            }
    return found


def _literals() -> set[str]:
    return {
        node.value
        for tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def _prefixes() -> set[str]:
    """The constant start of every f-string: where a key could be built at run time."""
    return {
        node.values[0].value
        for tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        and node.values
        and isinstance(node.values[0], ast.Constant)
        and isinstance(node.values[0].value, str)
    }


def test_every_key_the_code_asks_for_is_shipped() -> None:
    missing = sorted(_asked_for() - shipped_message_keys())
    assert not missing, f"prompts/messages.yaml has no message for: {missing}"


def test_every_key_built_at_run_time_is_shipped_and_declared() -> None:
    shipped = shipped_message_keys()
    for prefix, values in BUILT_AT_RUN_TIME.items():
        assert prefix in _prefixes(), f"{prefix!r} is declared but no code builds it"
        missing = sorted(f"{prefix}{v}" for v in values if f"{prefix}{v}" not in shipped)
        assert not missing, f"prompts/messages.yaml has no message for: {missing}"


def test_every_shipped_key_is_used() -> None:
    built = {f"{prefix}{v}" for prefix, values in BUILT_AT_RUN_TIME.items() for v in values}
    unused = sorted(shipped_message_keys() - _literals() - built)
    assert not unused, (
        f"messages no code uses (remove them, or declare how they are built): {unused}"
    )


def test_the_check_reads_the_shipped_file() -> None:
    data = yaml.safe_load((ROOT / "prompts" / "messages.yaml").read_text(encoding="utf-8"))
    assert set(data["messages"]) == shipped_message_keys()
    assert {"welcome", "help", "stale_toast"} <= _asked_for()  # the reader finds real uses
