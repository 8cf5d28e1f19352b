"""The supervision pack as a printable PDF: made in memory from what the worker kept, never stored.

fpdf2 with DejaVu Sans (the copy matplotlib ships), so accents, curly quotes and most symbols
print as written. A character the font lacks (most emoji) is never dropped silently and never
stops the PDF: it prints as its Unicode name in brackets, so "🌱" reads "[seedling]", and the
rest of the person's words are untouched. Invisible joiners and skin-tone modifiers go.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.features.journal.entry import section as section_of
from flows.features.supervision import db as sup_db
from flows.features.supervision import steps
from flows.features.supervision.answers import Item
from flows.kernel import render as html
from flows.kernel.model import Document
from flows.kernel.turn import Turn, msg, title_of
from flows.kernel.turn import zone as zone_of
from flows.questions.sets import PROCTOR

FONT = "DejaVu"
_STYLES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf"}
INK = (26, 26, 26)
QUIET = (95, 95, 95)
ACCENT = (0, 114, 178)  # Okabe–Ito blue, as on the /progress picture


@dataclass(frozen=True, slots=True)
class Answer:
    label: str
    text: str


@dataclass(frozen=True, slots=True)
class Entry:
    title: str
    when: str
    answers: tuple[Answer, ...]


@dataclass(frozen=True, slots=True)
class Section:
    title: str  # one of Proctor's three functions of supervision
    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class Pack:
    """Everything printed, as plain text (wording from prompts/, answers as written)."""

    title: str
    subtitle: str
    made: str
    nothing: str  # under a section with no entries
    sections: tuple[Section, ...]
    steps_title: str = ""
    steps: tuple[str, ...] = ()  # next steps agreed in supervision, still open


def document(t: Turn, kept: list[Item]) -> Document:
    """The PDF of these answers (the ones kept in the preview), under Proctor's three functions,
    as a Document whose bytes are made after the transaction."""
    entries = list({i.entry.id: i.entry for i in kept}.values())
    sections = tuple(
        Section(
            html.to_plain(msg(f"proctor_{section}")),
            tuple(
                Entry(
                    title_of(entry.flow),
                    t.when(entry.created_at),
                    tuple(Answer(i.label, i.text) for i in kept if i.entry is entry),
                )
                for entry in entries
                if section_of(entry) == section
            ),
        )
        for section in PROCTOR
    )
    link = sup_db.supervisor_link(t.tx, t.person.id)
    zone = zone_of(t.row.timezone)
    days = sorted(e.created_at.astimezone(zone) for e in entries)
    pack = Pack(
        title=html.to_plain(msg("pack_pdf_title")),
        subtitle=html.to_plain(
            msg(
                "pack_pdf_subtitle",
                name=t.row.name,
                first=days[0].strftime("%-d %B %Y"),
                last=days[-1].strftime("%-d %B %Y"),
            )
        ),
        made=html.to_plain(msg("pack_pdf_made", when=t.when(t.now))),
        nothing=html.to_plain(msg("pack_pdf_nothing")),
        sections=sections,
        steps_title=html.to_plain(msg("pack_pdf_steps")),
        steps=tuple(s.text for s in steps.agreed(t.tx, link.id)) if link else (),
    )
    day = t.now.astimezone(zone).strftime("%Y-%m-%d")
    return Document(f"supervision-pack-{day}.pdf", make=functools.partial(render, pack))


@functools.cache
def _font_folder() -> Path:
    import matplotlib  # only for the path of the fonts it ships

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@functools.cache
def _covered() -> frozenset[int]:
    """Every character every style of the font can draw."""
    from fontTools.ttLib import TTFont

    sets = []
    for name in _STYLES.values():
        with TTFont(_font_folder() / name, lazy=True) as font:
            sets.append(set(font.getBestCmap()))
    return frozenset(set.intersection(*sets))


_INVISIBLE = {0x200D, 0x20E3}  # zero-width joiner, combining keycap
_INVISIBLE_RANGES = ((0xFE00, 0xFE0F), (0x1F3FB, 0x1F3FF), (0xE0020, 0xE007F))


def printable(text: str) -> str:
    """The text with every character the font lacks named instead, in brackets."""
    covered = _covered()
    out: list[str] = []
    for char in text.replace("\r\n", "\n").replace("\t", "    "):
        code = ord(char)
        if code in covered or char == "\n":
            out.append(char)
        elif code in _INVISIBLE or any(low <= code <= high for low, high in _INVISIBLE_RANGES):
            continue
        elif unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn"}:
            continue  # control and format characters print as nothing anyway
        else:
            name = unicodedata.name(char, "")
            out.append(f"[{name.lower()}]" if name else "?")
    return "".join(out)


def start(title: str) -> Any:
    """An A4 fpdf2 document with the fonts loaded and its first page begun (the biography's
    PDF starts the same way)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(True, margin=20)
    folder = _font_folder()
    for style, name in _STYLES.items():
        pdf.add_font(FONT, style, str(folder / name))
    pdf.set_title(printable(title))
    pdf.set_creator("CoReflect")
    pdf.add_page()
    return pdf


def render(pack: Pack) -> bytes:
    """The PDF's bytes: A4, large enough to read, one entry after another under each section."""
    pdf = start(pack.title)

    def write(text: str, size: float, style: str = "", colour: tuple[int, int, int] = INK) -> None:
        pdf.set_font(FONT, style, size)
        pdf.set_text_color(*colour)
        pdf.multi_cell(0, size * 0.5, printable(text), align="L", new_x="LMARGIN", new_y="NEXT")

    write(pack.title, 20, "B")
    pdf.ln(2)
    write(pack.subtitle, 12)
    write(pack.made, 10, "I", QUIET)
    if pack.steps:
        pdf.ln(6)
        write(pack.steps_title, 15, "B", ACCENT)
        for step in pack.steps:
            pdf.ln(1)
            write(f"• {step}", 11.5)
    for section in pack.sections:
        pdf.ln(6)
        write(section.title, 15, "B", ACCENT)
        pdf.set_draw_color(*ACCENT)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        pdf.ln(2)
        if not section.entries:
            write(pack.nothing, 11, "I", QUIET)
        for entry in section.entries:
            pdf.ln(3)
            write(f"{entry.title} · {entry.when}", 12, "B")
            for answer in entry.answers:
                pdf.ln(1)
                write(answer.label, 10.5, "I", QUIET)
                write(answer.text, 11.5)
    return bytes(pdf.output())
