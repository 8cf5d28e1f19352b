"""Plans: the Wellness at Work plan, the development plan and the biography (any question set
marked `plan: true` in prompts/). Each is one living document: running its set again starts
from the latest answers, each to keep or change (flows.questions.runner); a finished run that
changes something is a new dated version and the one before is kept, superseded, out of
/entries, the pack and the share lists but in /export and there to look back through; a run
that changes nothing just marks the plan reviewed today."""

from __future__ import annotations

from flows.features.journal.entry import ENTRY_MORE
from flows.features.plans import biography
from flows.kernel.feature import Feature
from flows.kernel.ids import number
from flows.kernel.model import Button
from flows.kernel.turn import Turn, msg, title_of, wording
from flows.questions.runner import flow_command
from flows.store.rows import EntryRow


def versions(t: Turn, entry: EntryRow) -> list[EntryRow]:
    """Every version of the plan `entry` belongs to, newest first."""
    return t.tx.entries(
        t.person.id,
        limit=-1,
        flows=(entry.flow,),
        episode_id=entry.episode_id,
        statuses=("saved",),
        versions=True,
    )


def _completed(t: Turn, entry_id: int, flow_name: str) -> None:
    flow = wording().flows.get(flow_name)
    entry = t.tx.entry(t.person.id, entry_id)
    if flow is None or not flow.plan or entry is None:
        return
    earlier = [e for e in versions(t, entry) if e.id != entry.id and e.superseded_at is None]
    if not earlier:
        t.say(msg("plan_first_version", title=flow.title))
        return
    previous = earlier[0]
    before, now = t.tx.answers(t.row.cipher, previous.id), t.tx.answers(t.row.cipher, entry.id)
    if before == now:  # nothing changed: the same version, reviewed today
        t.tx.delete_entry(entry.id)
        t.tx.set_entry_status(previous.id, "saved")
        t.say(msg("plan_reviewed", title=flow.title))
        return
    for old in earlier:
        t.tx.set_superseded(old.id)
    if previous.flagged:  # still to bring to supervision, in the same part of the pack
        t.tx.set_flag(entry.id, True)
        t.tx.set_proctor(entry.id, previous.proctor)
    t.say(
        msg(
            "plan_new_version",
            title=flow.title,
            when=t.when(previous.updated_at or previous.created_at),
        )
    )


def _entry_more(t: Turn, entry: EntryRow) -> tuple[list[str], list[list[Button]]]:
    """Under an opened plan: when it was last reviewed, a way to review it, earlier versions."""
    flow = wording().flows.get(entry.flow)
    if flow is None or not flow.plan:
        return [], []
    all_versions = versions(t, entry)
    if entry.superseded_at is not None:
        latest = next((e for e in all_versions if e.superseded_at is None), None)
        rows = [[Button(msg("button_latest_version"), f"o:{latest.id}")]] if latest else []
        return [msg("plan_old_version", when=t.when(entry.updated_at or entry.created_at))], rows
    reviewed = t.when(entry.updated_at or entry.created_at)
    rows = [[Button(msg("button_review_plan"), f"pl:{entry.id}:review")]]
    if len(all_versions) > 1:
        rows.append(
            [Button(msg("button_versions", count=len(all_versions) - 1), f"pl:{entry.id}:v")]
        )
    rows += biography.offer(entry)
    return [msg("plan_reviewed_on", when=reviewed)], rows


def _button(t: Turn, rest: str) -> None:
    """pl:<entry id>:review runs the set again; pl:<entry id>:v lists the earlier versions."""
    entry_text, _, action = rest.partition(":")
    entry_id = number(entry_text)
    entry = t.tx.entry(t.person.id, entry_id) if entry_id is not None else None
    flow = wording().flows.get(entry.flow) if entry is not None else None
    if entry is None or flow is None or not flow.plan or action not in {"review", "v"}:
        t.not_found()
        return
    if action == "review":
        flow_command(t, flow)
        return
    earlier = [e for e in versions(t, entry) if e.superseded_at is not None]
    if not earlier:
        t.not_found()
        return
    found = [
        ({**t.recognisable(e), "when": t.when(e.updated_at or e.created_at)}, f"o:{e.id}")
        for e in earlier[:20]
    ]
    text, rows = t.picker(msg("plan_versions", title=title_of(entry.flow)), found)
    t.say(text, rows)


FEATURE = Feature(
    name="plans",
    buttons={"pl": _button, "pb": biography.button},
    completed=_completed,
    extends={ENTRY_MORE: _entry_more},
)
