"""/export: everything held about the person, as Markdown and JSON, made in memory."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from flows.kernel import export as export_format
from flows.kernel.crypto import Cipher
from flows.kernel.model import Document, Outcome, Reply
from flows.kernel.turn import Turn, label_of, msg, title_of, wording
from flows.questions import answers as content
from flows.store import audit
from flows.store.rows import EntryRow
from flows.store.unit import Unit

PAGE = 200  # entries decrypted per unit of work: others' units run between pages


def export(t: Turn) -> None:
    """Everything held about the person, as Markdown and JSON, made in memory. This unit lists
    the entries and says how many; their words are read a page per unit after it
    (`Outcome.reads`), and the files are written off the database's thread."""
    rows = t.tx.entries(t.person.id, limit=-1, versions=True)  # every version of a plan too
    audit.record(t.tx, "exported", t.person.id, detail=str(len(rows)))
    t.say(msg("export_ready", count=len(rows)))
    reader = _Reader(t.desk, t.row.cipher, t.person.id, t.row.timezone, t.row.created_at, t.now)
    reader.rows = rows
    t.out.reads.append(reader)


class _Reader:
    """Reads an export a page at a time (see `export`), then makes its documents."""

    def __init__(
        self,
        desk: Any,
        cipher: Cipher,
        person_id: int,
        timezone: str,
        created_at: datetime,
        now: datetime,
    ) -> None:
        self.desk, self.cipher, self.person_id, self.now = desk, cipher, person_id, now
        self.person = export_format.ExportPerson(person_id, timezone, created_at)
        self.rows: list[EntryRow] = []
        self.done = 0
        self.entries: list[export_format.ExportEntry] = []
        self.audio: list[tuple[str, bytes]] = []  # voice notes: their path in the zip, bytes
        self.names: tuple[str, str] = ("", "")  # the Markdown's and the JSON's
        self.made: dict[str, bytes] = {}  # both, once written

    def __call__(self, tx: Unit, out: Outcome) -> bool:
        for entry in self.rows[self.done : self.done + PAGE]:
            self._read(tx, entry)
        self.done += PAGE
        if self.done < len(self.rows):
            return False
        self._finish(tx, out)
        return True

    def _read(self, tx: Unit, entry: EntryRow) -> None:
        raw = tx.answers(self.cipher, entry.id)
        times = tx.answer_times(entry.id)
        flow = wording().flows.get(entry.flow)
        voices = {
            key: (_audio_name(entry.id, key, voice.mime), voice.audio)
            for key, voice in tx.voice_notes(self.cipher, entry.id).items()
            if key in raw
        }
        self.audio += [voices[key] for key in content.ordered(flow, raw) if key in voices]
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
        self.entries.append(
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

    def _finish(self, tx: Unit, out: Outcome) -> None:
        parts: dict[str, Any] = {}
        for part in self.desk.hooks("export"):
            parts.update(part(tx, self.person_id, self.now))
        person, entries, generated = self.person, self.entries, self.now
        md_name, json_name = export_format.filenames(generated)
        template = wording().export_template
        if not self.audio:
            # Written out after the unit, in a worker thread, so a long journal never holds
            # up the database thread everyone shares (Engine._make_files).
            out.documents = [
                Document(
                    md_name,
                    make=functools.partial(
                        export_format.to_markdown, person, entries, generated, template, **parts
                    ),
                ),
                Document(
                    json_name,
                    make=functools.partial(
                        export_format.to_json, person, entries, generated, **parts
                    ),
                ),
            ]
            return
        # With voice notes: one zip of the Markdown, the JSON and the recordings (more than one
        # when they would pass Telegram's 50 MB upload limit). Both are written in a worker
        # thread; then `_zip` plans the parts, and the zips are made off the database's thread.
        self.names = (md_name, json_name)

        def write() -> None:
            self.made[md_name] = export_format.to_markdown(
                person, entries, generated, template, **parts
            )
            self.made[json_name] = export_format.to_json(person, entries, generated, **parts)

        out.off_thread.append(write)
        out.reads.append(self._zip)

    def _zip(self, tx: Unit, out: Outcome) -> bool:
        written = [(name, self.made[name]) for name in self.names]
        groups = export_format.plan_parts(written, self.audio)
        out.replies.append(Reply(msg("export_zip", recordings=len(self.audio), parts=len(groups))))
        names = export_format.part_names(self.now, len(groups))
        out.documents = [
            Document(name, make=functools.partial(export_format.zip_group, self.now, group))
            for name, group in zip(names, groups, strict=True)
        ]
        return True


def _audio_name(entry_id: int, step: str, mime: str) -> str:
    """Where a recording goes in the zip: audio/entry-12-writing.1.ogg"""
    extension = {"audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a"}.get(mime, "")
    return f"audio/entry-{entry_id}-{step}{extension or '.audio'}"
