"""/export: everything held about the person, as Markdown and JSON, made in memory."""

from __future__ import annotations

import functools
from typing import Any

from flows.kernel import export as export_format
from flows.kernel.model import Document
from flows.kernel.turn import Turn, label_of, msg, title_of, wording
from flows.questions import answers as content


def export(t: Turn) -> None:
    """Everything held about the person, as Markdown and JSON, made in memory."""
    rows = t.tx.entries(t.person.id, limit=-1)
    entries = []
    for entry in rows:
        raw = t.tx.answers(t.row.cipher, entry.id)
        times = t.tx.answer_times(entry.id)
        flow = wording().flows.get(entry.flow)
        answers = tuple(
            export_format.ExportAnswer(
                step=key,
                label=label_of(flow, key),
                text=content.display(flow.steps.get(content.base(key)) if flow else None, raw[key]),
                value=raw[key],
                answered_at=times[key],
            )
            for key in content.ordered(flow, raw)
        )
        entries.append(
            export_format.ExportEntry(
                id=entry.id,
                flow=entry.flow,
                title=title_of(entry.flow),
                status=entry.status,
                episode_id=entry.episode_id,
                created_at=entry.created_at,
                updated_at=entry.updated_at or entry.created_at,
                flagged=entry.flagged,
                tags=tuple(content.tags(content.collapse(flow, raw))),
                answers=answers,
            )
        )
    parts: dict[str, Any] = {}
    for part in t.desk.hooks("export"):
        parts.update(part(t.tx, t.person.id, t.now))
    person = export_format.ExportPerson(t.person.id, t.row.timezone, t.row.created_at)
    generated = t.now
    md_name, json_name = export_format.filenames(generated)
    template = wording().export_template
    # Read and opened in the unit; written out after it, in a worker thread, so a long journal
    # never holds up the database thread everyone shares (Engine._make_files).
    t.out.documents = [
        Document(
            md_name,
            make=functools.partial(
                export_format.to_markdown, person, entries, generated, template, **parts
            ),
        ),
        Document(
            json_name,
            make=functools.partial(export_format.to_json, person, entries, generated, **parts),
        ),
    ]
    t.say(msg("export_ready", count=len(entries)))
