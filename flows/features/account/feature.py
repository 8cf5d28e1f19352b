"""The account as a feature: /start, /help, /settings, /support, /export and /forget."""

from __future__ import annotations

from flows.features.account.export import export
from flows.features.account.settings import (
    settings,
    tidy_button,
    timezone_button,
    typed_timezone,
    welcome,
)
from flows.kernel.feature import Feature
from flows.kernel.model import Button, Reply
from flows.kernel.turn import Turn, flow_list, msg, wording
from flows.store import audit


def support(t: Turn) -> None:
    support = wording().support
    t.say(msg("support", lines=support.lines, organisation=support.organisation))


# Where other features say what erasing everything will also do (end a link and tell them,
# withdraw what was shared, cancel sessions), without the account importing them:
FORGET_ALSO = "account.forget_also"  # (t) -> list of {"what", "name", "count"} for forget_confirm


def forget(t: Turn, stage: str) -> None:
    """Erase everything, after asking twice; the person's data key goes with their rows."""
    if stage == "ask":
        t.conv.pending = {"kind": "forget"}
        t.conv.turn += 1
        also = [item for hook in t.also(FORGET_ALSO) for item in hook(t)]
        t.say(
            msg("forget_confirm", count=t.tx.count_entries(t.person.id), also=also),
            [
                [Button(msg("button_forget"), f"f:{t.conv.turn}:1")],
                [Button(msg("button_keep_everything"), f"f:{t.conv.turn}:no")],
            ],
        )
    elif stage == "1" and (t.conv.pending or {}).get("kind") == "forget":
        t.conv.pending = {"kind": "forget_again"}
        t.conv.turn += 1
        t.say(
            msg("forget_really"),
            [
                [Button(msg("button_forget_now"), f"f:{t.conv.turn}:2")],
                [Button(msg("button_keep_everything"), f"f:{t.conv.turn}:no")],
            ],
        )
    elif stage == "2" and (t.conv.pending or {}).get("kind") == "forget_again":
        for before in t.desk.hooks("before_forget"):
            before(t)
        t.tx.forget_person(t.person.id)
        audit.record(t.tx, "erased", t.person.id, detail="forget")
        t.out.forgot = True
        t.out.replies.clear()
        t.say(msg("forgotten"))
    else:
        t.conv.pending = None
        t.say(msg("forget_kept"))
        t.resume()


def _start(t: Turn, args: str) -> None:
    t.say(msg("welcome_back", name=t.person.first_name))
    t.resume()


def _help(t: Turn, args: str) -> None:
    t.say(msg("help", flows=flow_list()))
    t.resume()


def _support(t: Turn, args: str) -> None:
    support(t)
    t.still_in_flow()


def _export(t: Turn, args: str) -> None:
    export(t)
    t.still_in_flow()


def _forgetting(t: Turn, value: str) -> None:
    if (t.conv.pending or {}).get("kind") not in {"forget", "forget_again"}:
        t.stale()
    else:
        forget(t, value)


def _offer_support(t: Turn) -> None:
    """Words that sounded distressed: once per entry, a gentle line about support, straight after
    what they wrote was acknowledged. Words about wanting to die, ending it, suicide or self-harm:
    the urgent lines themselves, in the same place (even after a gentle line in that entry).
    Never instead of anything: the words are saved and the conversation carries on."""
    level = t.support_level
    if t.support_entry is None or not t.tx.offer_support(t.support_entry, level):
        return
    if level >= 2:
        text = msg("support_urgent", lines=wording().support.urgent_lines)
    else:
        text = msg("support_offer")
    t.out.replies.insert(min(t.support_at, len(t.out.replies)), Reply(text))


FEATURE = Feature(
    name="account",
    commands={
        "start": _start,
        "help": _help,
        "settings": lambda t, args: settings(t),
        "support": _support,
        "export": _export,
        "forget": lambda t, args: forget(t, "ask"),
    },
    menu_first=("support",),  # near the top: before the question sets
    menu=("settings", "help", "export", "forget"),
    turn_buttons={"z": timezone_button, "f": _forgetting, "td": tidy_button},
    pending=frozenset({"timezone", "forget", "forget_again"}),
    typed={"timezone": typed_timezone},
    welcome=welcome,
    after=_offer_support,
)
