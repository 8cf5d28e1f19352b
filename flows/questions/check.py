"""The gentle identifying-detail check on typed answers: it never blocks and never moves words.

A typed answer that may identify someone is saved exactly as written. A warning quotes what looked
identifying ("a name (Jamie Hart) and a phone number (07700 900123)") and offers Keep as written
or Rewrite it, and the conversation carries straight on: the next question follows at once, so
whatever is typed next is the next answer. Only a press on Rewrite it makes the next typed message
a replacement (see `runner.replace_typed`). The warning's buttons carry the entry and the warning's
number; the answer remembers which warning is still open, so a press on one already settled (kept,
rewritten, or answered again) does nothing but say so.
"""

from __future__ import annotations

from flows.kernel import identifying, render
from flows.kernel.ids import number
from flows.kernel.model import Button, Reply
from flows.kernel.turn import Turn, label_of, msg, wording

QUOTE_CHARS = 40


def described(text: str) -> list[dict[str, object]]:
    """Each kind found, with what matched: {"kind": "a name", "quoted": ["Jamie Hart"]}."""
    found: dict[str, list[str]] = {}
    for f in identifying.find(text):
        quoted = render.shorten(text[f.start : f.end], QUOTE_CHARS)
        if quoted not in found.setdefault(f.kind, []):
            found[f.kind].append(quoted)
    return [{"kind": msg(f"kind_{k}"), "quoted": q} for k, q in found.items()]


def _warning(found: list[dict[str, object]]) -> str:
    return msg("identifying_warning", found=found)


def warn(t: Turn, entry_id: int, key: str, text: str) -> bool:
    """If the text may identify someone, say so kindly (with Keep / Rewrite) and carry on."""
    found = described(text)
    if not found:
        return False
    t.conv.turn += 1
    number = t.conv.turn
    t.tx.open_warning(entry_id, key, number)
    data = f"id:{entry_id}:{number}"
    t.say(
        _warning(found),
        [
            [
                Button(msg("button_keep_as_written"), f"{data}:keep"),
                Button(msg("button_rewrite"), f"{data}:rewrite"),
            ]
        ],
    )
    return True


def warning_button(t: Turn, rest: str) -> None:
    """Keep as written, or Rewrite it, pressed under a warning (perhaps a few questions back)."""
    entry_text, _, rest = rest.partition(":")
    number_text, _, value = rest.partition(":")
    entry_id, warning = number(entry_text), number(number_text)
    entry = t.tx.entry(t.person.id, entry_id) if entry_id is not None else None
    key = t.tx.warned_step(entry.id, warning) if entry is not None and warning is not None else None
    if entry is None or key is None or value not in {"keep", "rewrite"}:
        t.out.toast = msg("warning_settled_toast")
        return
    text = t.tx.answers(t.row.cipher, entry.id).get(key, "")
    shown = _warning(described(text))
    if value == "keep":
        t.tx.settle_warning(entry.id, key)
        t.out.toast = msg("kept_toast")
        t.out.replace = Reply(shown + "\n\n" + msg("chosen", label=msg("button_keep_as_written")))
        return
    label = label_of(wording().flows.get(entry.flow), key)
    t.out.replace = Reply(shown + "\n\n" + msg("chosen", label=msg("button_rewrite")))
    t.conv.pending = {
        "kind": "rewrite",
        "entry": entry.id,
        "key": key,
        "then": "rewritten",
        "label": label,
    }
    t.say(msg("rewrite_prompt", label=label))
