"""The biography for team materials: a clean PDF to print and plain text to copy, holding exactly
the answers the person keeps. Each answer can be left out first; which ones ride in the button
data as a bit mask over the answers in order ("pb:<entry>:<mask>[:make]"), so nothing is stored
and an old button still means what it showed."""

from __future__ import annotations

import functools

from flows.features.supervision import pack_pdf
from flows.kernel import render
from flows.kernel.ids import number
from flows.kernel.model import Button, Document, Reply
from flows.kernel.turn import Turn, label_of, msg, wording
from flows.questions import answers as content
from flows.store.rows import EntryRow

BIOGRAPHY = "biography"  # the set whose plan can be printed for team materials


def offer(entry: EntryRow) -> list[list[Button]]:
    """Under an opened biography (its latest version): the way to the PDF and plain text."""
    if entry.flow != BIOGRAPHY or entry.superseded_at is not None:
        return []
    return [[Button(msg("button_biography_out"), f"pb:{entry.id}:0:open")]]


def button(t: Turn, rest: str) -> None:
    entry_text, _, rest = rest.partition(":")
    mask_text, _, action = rest.partition(":")
    entry_id, mask = number(entry_text), number(mask_text, 3)
    entry = t.tx.entry(t.person.id, entry_id) if entry_id is not None else None
    flow = wording().flows.get(BIOGRAPHY)
    if (
        entry is None
        or flow is None
        or entry.flow != BIOGRAPHY
        or entry.superseded_at is not None
        or entry.status != "saved"
        or mask is None
        or action not in {"", "open", "make"}
    ):
        t.not_found()
        return
    answers = {
        k: v
        for k, v in content.collapse(flow, t.tx.answers(t.row.cipher, entry.id)).items()
        if k in flow.steps
    }
    keys = list(answers)
    if mask >= 1 << len(keys):
        t.not_found()
        return
    kept = [(label_of(flow, k), answers[k]) for i, k in enumerate(keys) if not mask >> i & 1]
    if action == "make":
        if not kept:
            t.out.toast = msg("biography_nothing_kept")
            return
        title = render.to_plain(msg("biography_pdf_title", name=t.row.name))
        day = t.now.strftime("%Y-%m-%d")
        t.out.documents = [
            Document(f"biography-{day}.pdf", make=functools.partial(pdf, title, kept))
        ]
        t.say(
            msg(
                "biography_text",
                title=title,
                answers=[{"label": la, "text": tx} for la, tx in kept],
            )
        )
        return
    items = [
        {"label": label_of(flow, k), "text": render.shorten(answers[k], 200), "out": mask >> i & 1}
        for i, k in enumerate(keys)
    ]
    rows = [
        [
            Button(
                render.to_plain(
                    msg("button_put_back" if mask >> i & 1 else "button_leave_out", label=label)
                ),
                f"pb:{entry.id}:{mask ^ (1 << i)}",
            )
        ]
        for i, label in enumerate(label_of(flow, k) for k in keys)
    ]
    rows.append([Button(msg("button_biography_make"), f"pb:{entry.id}:{mask}:make")])
    text = msg("biography_preview", items=items)
    if action == "open":
        t.say(text, rows)
    else:
        t.out.replace = Reply(text, rows)


def pdf(title: str, kept: list[tuple[str, str]]) -> bytes:
    """A clean page: the title, then each kept answer under its label."""
    doc = pack_pdf.start(title)

    def write(
        text: str, size: float, style: str = "", colour: tuple[int, int, int] = pack_pdf.INK
    ) -> None:
        doc.set_font(pack_pdf.FONT, style, size)
        doc.set_text_color(*colour)
        doc.multi_cell(
            0, size * 0.5, pack_pdf.printable(text), align="L", new_x="LMARGIN", new_y="NEXT"
        )

    write(title, 20, "B")
    for label, text in kept:
        doc.ln(5)
        write(label, 12, "B", pack_pdf.ACCENT)
        doc.ln(1)
        write(text, 11.5)
    return bytes(doc.output())
