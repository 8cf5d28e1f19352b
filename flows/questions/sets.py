"""A question set as data: its steps, choices and where each answer leads, as a state machine
(`transitions`) built once at start-up. Loading and validating them is `catalogue`'s work."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jinja2 import Template
from transitions import Machine

END = "end"
PROCTOR = ("formative", "normative", "restorative")  # Proctor's three functions of supervision


class PromptError(Exception):
    """A question set or message template is broken; the text names the file and the step."""


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: str
    caution: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    label: str
    ask: Template
    input: str  # "text" or "choice"
    optional: bool
    choices: tuple[Choice, ...]
    next: str
    branches: tuple[tuple[frozenset[str], str], ...]
    # Private by design ("What I'm not prepared to share"): a preview starts with it left out.
    private: bool = False
    # Shown beside the entry wherever it is listed (who a /moment check was about sharing with).
    in_list: bool = False

    def choice(self, value: str) -> Choice | None:
        return next((c for c in self.choices if c.value == value), None)

    def match_typed(self, text: str) -> Choice | None:
        """A typed 'yes' or 'not sure' counts as pressing that button."""
        wanted = " ".join(text.lower().replace("_", " ").split()).strip(" .!")
        for choice in self.choices:
            if wanted in {choice.label.lower(), choice.value.replace("_", " ")}:
                return choice
        return None


class _Cursor:
    """The model the machine moves; the engine sets `state` from the database before each use."""

    state: str


@dataclass(slots=True)
class Flow:
    name: str
    command: str
    menu: str
    title: str
    link_to: tuple[str, ...]
    intro: Template
    summary: Template
    steps: dict[str, Step]
    source: str
    proctor: str = "formative"  # the supervision pack section its entries go to by default
    together: bool = False  # answered by both sides of a link in a co-reflection round
    # One living document (a plan): running it again starts from the latest version's answers,
    # each to keep or change; each change is a new dated version (flows/features/plans).
    plan: bool = False
    _machine: Any = field(default=None, repr=False)
    _cursor: _Cursor = field(default_factory=_Cursor, repr=False)

    @property
    def first(self) -> str:
        return next(iter(self.steps))

    def position(self, step_id: str) -> int:
        return list(self.steps).index(step_id) + 1

    def advance(self, step_id: str, value: str | None) -> str:
        """The step after `step_id` for this answer (None if skipped), fired through the machine."""
        self._cursor.state = step_id
        self._machine.events["answer"].trigger(self._cursor, value=value)
        return self._cursor.state

    def build_machine(self) -> None:
        states = [*self.steps, END]
        machine = Machine(
            model=self._cursor,
            states=states,
            initial=self.first,
            auto_transitions=False,
            send_event=True,
        )
        for step in self.steps.values():
            for values, target in step.branches:
                machine.add_transition("answer", step.id, target, conditions=[_answer_in(values)])
            machine.add_transition("answer", step.id, step.next)
        self._machine = machine


def _answer_in(values: frozenset[str]) -> Any:
    def condition(event: Any) -> bool:
        return event.kwargs.get("value") in values

    return condition
