"""The question sets as a feature: their commands (from prompts/), answering, /skip, /back,
/done, /cancel, and the buttons under a question."""

from __future__ import annotations

from flows.kernel.feature import Feature, Handler
from flows.kernel.turn import Turn, msg
from flows.questions import tidy
from flows.questions.check import warning_button
from flows.questions.runner import (
    answer,
    ask,
    back,
    cancel,
    cancel_choice,
    done,
    flow_command,
    identifying_choice,
    keep,
    link,
    replace_typed,
    show_chosen,
    skip,
    switch_choice,
    text,
)


def _flow_command(t: Turn, command: str, args: str) -> bool:
    """/prepare, /moment, … : whatever question sets prompts/ holds (co-reflection aside)."""
    flow = t.cat.by_command(command)
    if flow is None or flow.together:
        return False
    flow_command(t, flow)
    return True


def _pending(t: Turn) -> str | None:
    return (t.conv.pending or {}).get("kind")


def _answer_button(t: Turn, value: str) -> None:
    """A choice, Skip or Done under the current question."""
    if t.conv.flow and _pending(t) in {None, "rewrite"}:
        t.conv.pending = None  # a choice pressed instead of sending a rewrite: carry on
        step = t.step
        if value == "done" and step.input == "free":
            done(t)
            return
        if value == "keep" and keep(t):
            t.out.toast = msg("kept_toast")
            return
        if value == "skip" and step.optional:
            t.out.toast = msg("saved_toast")
            show_chosen(t, msg("skipped_label"))
            answer(t, None)
            return
        choice = step.choice(value)
        if choice is not None:
            t.out.toast = choice.label
            show_chosen(t, choice.label)
            answer(t, choice.value)
            return
    t.stale()


def _while(kind: str, then: Handler) -> Handler:
    """A turn button that only means something while `kind` is what we wait on."""

    def handler(t: Turn, value: str) -> None:
        if _pending(t) != kind:
            t.stale()
        else:
            then(t, value)

    return handler


def _keep_as_written(t: Turn) -> None:
    """Moving on without answering the gentle check keeps what they wrote, as written."""
    identifying_choice(t, "keep")
    t.out.toast = None


def _resume(t: Turn) -> None:
    if t.conv.flow is not None:
        ask(t)


FEATURE = Feature(
    name="questions",
    commands={
        "skip": lambda t, args: skip(t),
        "back": lambda t, args: back(t),
        "done": lambda t, args: done(t),
        "cancel": lambda t, args: cancel(t),
    },
    menu=("cancel",),
    buttons={"l": link, "id": warning_button},
    turn_buttons={
        "a": _answer_button,
        "c": _while("cancel", cancel_choice),
        "s": _while("switch", switch_choice),
        "i": _while("identifying", identifying_choice),
    },
    pending=frozenset({"cancel", "switch", "identifying", "rewrite", "edit"}),
    typed=dict.fromkeys(("rewrite", "edit"), replace_typed),
    # A pending "identifying" is from before warnings stopped pausing: anything but its buttons
    # keeps the answer as written, and words typed then are the next answer.
    interrupted={"identifying": _keep_as_written},
    text=text,
    dynamic_command=_flow_command,
    resume=_resume,
    after=tidy.after,
    guards={tidy.TIDY: tidy.GUARD},
)
