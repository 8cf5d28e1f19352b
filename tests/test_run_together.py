"""No run-together lines: every message in prompts/messages.yaml, rendered with sample values down
each of its branches, keeps a sentence apart from the next.

A `{% endif %}` at the end of a line eats that line's newline (trim_blocks), so a template can
read "When is Alex's next supervision?Type a day…" though it looks fine in the file. `{% endif +%}`
keeps the newline. Every variable is a stand-in that is anything the template asks of it (a name,
a list of two, a date, a number), true in one rendering and false in another, and a mix of both in
the rest, so each branch is rendered at least once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jinja2 import Undefined

from flows.kernel import render

ROOT = Path(__file__).resolve().parent.parent
MESSAGES: dict[str, str] = yaml.safe_load(
    (ROOT / "prompts" / "messages.yaml").read_text(encoding="utf-8")
)["messages"]
SEEDS = range(12)  # 0: everything true; 1: everything false; the rest: a mix, by name
# A sentence ending and the next starting with no space, or a word running into the next line.
RUN_TOGETHER = re.compile(r"[.?!…:;,][A-Z]|[a-z][A-Z]|[.?!…]<")
# The name has a capital inside it; two stand-ins side by side ("{{ first }}{{ second }}") are
# only ever both filled when the real values cannot be (a reminder either side of "and").
ALLOWED = {"CoReflect", "ImROC", "SamSam"}


class Sample(Undefined):
    """Whatever a template asks of a variable: "Sam" as text, two of them as a list, a date
    (strftime), a number; true or false as the seed says."""

    seed = 0

    def _truth(self) -> bool:
        if Sample.seed < 2:
            return Sample.seed == 0
        name = str(self._undefined_name)
        return hashlib.sha256(f"{Sample.seed}:{name}".encode()).digest()[0] % 2 == 0

    def __str__(self) -> str:
        return "Sam"

    def __html__(self) -> str:
        return "Sam"

    def __bool__(self) -> bool:
        return self._truth()

    def __iter__(self) -> Iterator[Any]:
        if self._truth():
            yield Sample(name=f"{self._undefined_name}.0")
            yield Sample(name=f"{self._undefined_name}.1")

    def __len__(self) -> int:
        return 2 if self._truth() else 0

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return Sample(name=f"{self._undefined_name}.{name}")

    def __getitem__(self, key: Any) -> Any:
        return Sample(name=f"{self._undefined_name}[{key}]")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return Sample(name=f"{self._undefined_name}()")

    def __index__(self) -> int:
        return 1

    def __eq__(self, other: object) -> bool:
        return self._truth()

    def __ne__(self, other: object) -> bool:
        return not self._truth()

    def __lt__(self, other: object) -> bool:  # type: ignore[override]
        return self._truth()

    __le__ = __gt__ = __ge__ = __lt__  # type: ignore[assignment]

    def __hash__(self) -> int:
        return id(self)

    def _same(self, *other: Any) -> Any:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same
    __mod__ = __rmod__ = __floordiv__ = __rfloordiv__ = __truediv__ = __rtruediv__ = _same
    __neg__ = __pos__ = _same


def _environment() -> Any:
    env = render.environment()
    env.undefined = Sample
    env.tests["defined"] = lambda value: bool(value) if isinstance(value, Sample) else True
    return env


def rendered(key: str, seed: int) -> str:
    Sample.seed = seed
    text = _environment().from_string(MESSAGES[key]).render()
    return render.to_plain(render.tidy(text))


def runs_together(text: str) -> list[str]:
    found = []
    for match in RUN_TOGETHER.finditer(text):
        around = text[max(0, match.start() - 30) : match.end() + 30]
        if not any(word in text[match.start() - 2 : match.end() + 8] for word in ALLOWED):
            found.append(around)
    return found


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_no_sentence_runs_into_the_next(key: str) -> None:
    problems = {spot for seed in SEEDS for spot in runs_together(rendered(key, seed))}
    assert not problems, f"{key}: " + " | ".join(sorted(problems))


def _question_set_templates() -> dict[str, str]:
    found = {}
    for path in sorted((ROOT / "prompts").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "steps" not in data:
            continue
        for part in ("intro", "summary"):
            if data.get(part):
                found[f"{path.name}: {part}"] = data[part]
        for step in data["steps"]:
            found[f"{path.name}: {step['id']}"] = step["ask"]
    return found


QUESTION_SETS = _question_set_templates()


@pytest.mark.parametrize("where", sorted(QUESTION_SETS))
def test_no_sentence_runs_into_the_next_in_a_question_set(where: str) -> None:
    problems = set()
    for seed in SEEDS:
        Sample.seed = seed
        text = _environment().from_string(QUESTION_SETS[where]).render()
        problems |= set(runs_together(render.to_plain(render.tidy(text))))
    assert not problems, f"{where}: " + " | ".join(sorted(problems))


def test_the_check_finds_what_it_is_for() -> None:
    Sample.seed = 0
    broken = "{% if a %}When is it?{% endif %}\nType a day\n{% if b %}back.{% endif %}\nLeaving"
    assert runs_together(render.to_plain(_environment().from_string(broken).render()))
    fixed = "{% if a %}When is it?{% endif +%}\nType a day"
    assert not runs_together(render.to_plain(_environment().from_string(fixed).render()))
    assert rendered("welcome", 0) != rendered("welcome", 1)  # the branches really differ
