"""/export: everything held about the person, as Markdown and JSON, made in memory."""

from __future__ import annotations

import functools
from typing import Any

from flows.kernel import export as export_format
from flows.kernel.model import Document
from flows.kernel.turn import Turn, label_of, msg, title_of, wording
from flows.questions import answers as content
from flows.store import audit


def export(t: Turn) -> None:
    """Everything held about the person, as Markdown and JSON, made in memory."""
    rows = t.tx.entries(t.person.id, limit=-1, versions=True)  # every version of a plan too
    entries = []
    audio: list[tuple[str, bytes]] = []  # voice notes: their path in the zip, their bytes
    for entry in rows:
        raw = t.tx.answers(t.row.cipher, entry.id)
        times = t.tx.answer_times(entry.id)
        flow = wording().flows.get(entry.flow)
        voices = {
            key: (_audio_name(entry.id, key, voice.mime), voice.audio)
            for key, voice in t.tx.voice_notes(t.row.cipher, entry.id).items()
            if key in raw
        }
        audio += [voices[key] for key in content.ordered(flow, raw) if key in voices]
        answers = tuple(
            export_format.ExportAnswer(
                step=key,
                label=label_of(flow, key),
                text=content.display(flow.steps.get(content.base(key)) if flow else None, raw[key]),
                value=raw[key],
                answered_at=times[key],
                audio=voices[key][0] if key in voices else None,
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
    audit.record(t.tx, "exported", t.person.id, detail=str(len(entries)))
    t.say(msg("export_ready", count=len(entries)))
    if not audio:
        # Read and opened in the unit; written out after it, in a worker thread, so a long
        # journal never holds up the database thread everyone shares (Engine._make_files).
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
        return
    markdown = export_format.to_markdown(person, entries, generated, template, **parts)
    data = export_format.to_json(person, entries, generated, **parts)
    # With voice notes: one zip of the Markdown, the JSON and the recordings (more than one
    # when they would pass Telegram's 50 MB upload limit), zipped off the database's thread.
    groups = export_format.plan_parts([(md_name, markdown), (json_name, data)], audio)
    t.say(msg("export_zip", recordings=len(audio), parts=len(groups)))
    names = export_format.part_names(generated, len(groups))
    t.out.documents = [
        Document(name, make=functools.partial(export_format.zip_group, generated, group))
        for name, group in zip(names, groups, strict=True)
    ]


def _audio_name(entry_id: int, step: str, mime: str) -> str:
    """Where a recording goes in the zip: audio/entry-12-writing.1.ogg"""
    extension = {"audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a"}.get(mime, "")
    return f"audio/entry-{entry_id}-{step}{extension or '.audio'}"
