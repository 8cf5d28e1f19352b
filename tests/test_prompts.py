"""Question sets are validated at start-up; a broken one stops start-up naming file and step."""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import open_service
from flows.questions import catalogue as engine
from flows.store.core import StartupProblem
from tests.drivers import make_config


def copy_prompts(tmp_path: Path) -> Path:
    folder = tmp_path / "prompts"
    shutil.copytree(str(resources.files("prompts")), folder)
    return folder


def edit(folder: Path, name: str, change: Callable[[Any], object]) -> None:
    path = folder / name
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))


def test_shipped_prompts_load() -> None:
    cat = engine.load()
    assert list(cat.flows) == [
        "preparation",
        "in_the_moment",
        "reflection",
        "top_tips",
        "journal",
        "coreflection",
        "coproduction",
        "wellness",
        "development",
        "biography",
    ]
    assert len(cat.flows["top_tips"].steps) == 11  # ten tips and a note
    assert len([s for s in cat.flows["reflection"].steps]) == 5
    moment = cat.flows["in_the_moment"]
    assert sum(1 for s in moment.steps.values() if s.input == "text") <= 1
    assert (
        len(moment.steps) + 1 <= 8
    )  # with the optional linking tap, and who it is with (issue 18)


def test_wording_says_sharing_personal_experience() -> None:
    folder = resources.files("prompts")
    for path in folder.iterdir():
        if path.name.endswith(".yaml"):
            text = path.read_text(encoding="utf-8").lower()
            for word in ("disclosure", "patient", "service user"):
                assert word not in text, f"{path.name} says {word!r}"


@pytest.mark.parametrize(
    ("name", "change", "expected"),
    [
        (
            "preparation.yaml",
            lambda d: d["steps"][1].update(next="nowhere"),
            "preparation.yaml: step 'comfortable_colleagues' goes to 'nowhere'",
        ),
        (
            "preparation.yaml",
            lambda d: d["steps"][0].update(next="not_sharing"),
            "preparation.yaml: step 'comfortable_colleagues' can never be reached",
        ),
        (
            "top_tips.yaml",
            lambda d: d["steps"][2].update(ask="Did I {{ oops"),
            "top_tips.yaml: step 'strengths': ask: template does not compile",
        ),
        (
            "in_the_moment.yaml",
            lambda d: d["steps"][4]["choices"][0].update(value="x" * 60),
            "in_the_moment.yaml: step 'benefit'",
        ),
        (
            "reflection.yaml",
            lambda d: d["steps"][1].update(ask="{{ answers.nothing.here }}"),
            "reflection.yaml: step 'helped' does not render",
        ),
        (
            "reflection.yaml",
            lambda d: d["steps"][4].update(next="impact"),
            "reflection.yaml: from step 'impact' the question set never ends",
        ),
        (
            "preparation.yaml",
            lambda d: d["steps"][2].update(id="experiences"),
            "preparation.yaml: step 'experiences': the id is used twice",
        ),
    ],
)
def test_broken_question_set_is_named(
    tmp_path: Path, name: str, change: Callable[[Any], object], expected: str
) -> None:
    folder = copy_prompts(tmp_path)
    edit(folder, name, change)
    with pytest.raises(engine.PromptError) as caught:
        engine.load(folder)
    assert expected in str(caught.value)


def test_missing_message_is_named(tmp_path: Path) -> None:
    folder = copy_prompts(tmp_path)
    edit(folder, "messages.yaml", lambda d: d["messages"].pop("saved"))
    with pytest.raises(engine.PromptError, match=r"missing message.*saved"):
        engine.load(folder)


async def test_start_up_refuses_a_broken_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = copy_prompts(tmp_path)
    edit(folder, "preparation.yaml", lambda d: d["steps"][1].update(next="nowhere"))
    real_load = engine.load
    monkeypatch.setattr(engine, "load", lambda **kw: real_load(folder, **kw))
    with pytest.raises(StartupProblem, match=r"preparation\.yaml: step 'comfortable_colleagues'"):
        await open_service(make_config(tmp_path / "data"))
    assert not (tmp_path / "data" / "coreflect.db").exists()  # nobody was answered


def test_branches_follow_the_answer(tmp_path: Path) -> None:
    folder = copy_prompts(tmp_path)

    def add_branch(d: Any) -> None:
        d["steps"][4]["branches"] = [{"when": ["no"], "to": "timing"}]

    edit(folder, "in_the_moment.yaml", add_branch)
    flow = engine.load(folder).flows["in_the_moment"]
    assert flow.advance("benefit", "no") == "timing"
    assert flow.advance("benefit", "yes") == "okay"
    assert flow.advance("timing", "yes") == engine.END


def test_no_message_line_loses_its_line_break() -> None:
    """With trim_blocks on, a line of words that ends in a {% tag %} runs into the next line
    ("…put it back.Sam can see it…"). End such lines with text, {{ … }} or `+%}`."""
    root = Path(__file__).resolve().parent.parent / "prompts"
    messages = yaml.safe_load((root / "messages.yaml").read_text(encoding="utf-8"))["messages"]
    # Each tag on its own: ".*?" here would let one tag's match run over the words to the next.
    only_tags = re.compile(r"(\{%(?:(?!%\}).)*%\}\s*)+")
    joined = []
    for name, template in messages.items():
        lines = str(template).split("\n")
        for line, following in itertools.pairwise(lines):
            words = line.strip()
            if (
                words.endswith("%}")
                and not words.endswith("+%}")
                and not only_tags.fullmatch(words)
                and following.strip()
            ):
                joined.append(f"{name}: {words[:60]}")
    assert not joined, joined
