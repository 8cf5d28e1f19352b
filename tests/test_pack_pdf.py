"""The supervision pack as a PDF: what the worker kept in the preview, and nothing else."""

from __future__ import annotations

import io
import sqlite3

import pypdf

from flows.features.supervision import pack_pdf
from flows.questions.sets import Flow
from flows.store.unit import Unit
from tests.drivers import Chat, Harness, link, linked_pair
from tests.offline import Call, Person

AWKWARD = "<b>not bold</b> & <script>x</script> 🌱👍🏽 café ‘quoted’"


def words_for(flow: Flow, key: str) -> str:
    return f"{flow.name}-{key} said {AWKWARD}"


async def flag_one_of_everything(bot: Harness, person_id: int) -> dict[str, int]:
    """One flagged entry of every question set a worker can bring to supervision, written as the
    engine writes them, each answer a distinct phrase with HTML-like characters and emoji."""
    service = bot.service
    made: dict[str, int] = {}

    def fill(tx: Unit) -> None:
        row = tx.person(person_id, "Europe/London")
        for flow in service.cat.flows.values():  # co-reflection answers are entries too
            entry_id = tx.create_entry(person_id, flow.name, None)
            for step in flow.steps.values():
                key = f"{step.id}.1" if step.input == "free" else step.id
                value = step.choices[0].value if step.choices else words_for(flow, step.id)
                tx.put_answer(row.cipher, entry_id, key, value)
            tx.put_answer(row.cipher, entry_id, "note.1", words_for(flow, "note"))
            tx.set_entry_status(entry_id, "saved")
            tx.set_flag(entry_id, True)
            made[flow.name] = entry_id

    await service.store.run(fill)
    return made


def pdf_text(call: Call) -> str:
    upload = call.params["document"]
    assert upload.filename.endswith(".pdf") and upload.content.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(upload.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return " ".join(text.split())  # lines wrap wherever the page is full


async def test_the_pack_pdf_holds_every_kind_of_entry_and_nothing_left_out(bot: Harness) -> None:
    worker = Chat(bot, Person(user_id=1001, first_name="Alex & Co"))
    supervisor = Chat(bot, Person(user_id=2002, first_name="Sam"))
    await link(worker, supervisor)
    made = await flag_one_of_everything(bot, worker.chat_id)
    await worker.send("/share")
    preview = "\n".join(await worker.press(f"Supervision pack ({len(made)})"))
    # Leave out the reflection's first answer and the journal entry's only words.
    reflection = bot.service.cat.flows["reflection"]
    first_step = next(iter(reflection.steps.values()))
    out = [
        f"{first_step.label}\n{words_for(reflection, first_step.id)}",
        "Journal entry\n" + words_for(bot.service.cat.flows["journal"], "writing"),
    ]
    for shown in out:
        label, words = shown.split("\n", 1)
        assert shown in preview, shown
        await worker.press_under(words, f"Leave out: {label}")
    # What they're not prepared to share starts left out, saying why; put back, it prints.
    assert "What I'm not prepared to share (left out for now, as it's private by design" in preview
    assert "preparation-not_sharing said" not in preview
    await worker.press_under(
        "What I'm not prepared to share", "Put back: What I'm not prepared to share"
    )
    sends_before = len(supervisor.sent())
    await worker.press_under("isn't struck through", "📄 A PDF to print")
    assert worker.toasts()[-1].startswith("Here's your pack as a PDF")
    [call] = [c for c in bot.request.calls if c.method == "sendDocument"]
    assert str(call.params["chat_id"]) == str(worker.chat_id)
    assert call.params["protect_content"] is True
    assert len(supervisor.sent()) == sends_before  # nothing reached the supervisor
    text = pdf_text(call)

    assert text.startswith("Supervision pack Alex & Co. Entries from")
    for section in ("Learning and development", "Quality and boundaries", "Support and wellbeing"):
        assert section in text
    printed_awkward = (
        "<b>not bold</b> & <script>x</script> [seedling][thumbs up sign] café ‘quoted’"
    )
    for name in made:
        flow = bot.service.cat.flows[name]
        assert flow.title in text
        for step in flow.steps.values():
            key = f"{reflection.name}-{first_step.id}"
            if step.choices:
                continue
            phrase = f"{flow.name}-{step.id} said {printed_awkward}"
            if name == "journal" or f"{flow.name}-{step.id}" == key:
                assert phrase not in text, f"{phrase} was left out but printed"
            else:
                assert phrase in text, phrase
        assert f"{flow.name}-note said {printed_awkward}" in text
    # Nothing about the PDF was stored: no file, no row.
    with sqlite3.connect(bot.config.data_dir / "coreflect.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f"SELECT * FROM {table}"):
                assert not any(isinstance(v, bytes) and v.startswith(b"%PDF") for v in row)
    assert not list(bot.config.data_dir.glob("*.pdf"))
    # The preview is still open: the worker can still share (or keep it private).
    await worker.press_under("isn't struck through", "Share with Sam")
    assert "Shared with Sam" in worker.edits()[-1]


async def test_the_pdf_button_is_only_under_a_pack(bot: Harness) -> None:
    worker, _ = await linked_pair(bot)
    await worker.send("A note for one entry")
    await worker.send("/share")
    await worker.press("One entry")
    await worker.press(worker.buttons()[0])
    assert "Share with Sam" in worker.buttons()
    assert "📄 A PDF to print" not in worker.buttons()


def test_characters_the_font_lacks_are_named_never_dropped() -> None:
    assert pack_pdf.printable("a🌱b") == "a[seedling]b"
    assert pack_pdf.printable("👍🏽 ok") == "[thumbs up sign] ok"  # the skin tone is invisible
    assert pack_pdf.printable("❤️ ok") == "❤️ ok"  # the font has the heart (and its selector)
    assert pack_pdf.printable("Ŵyn, café, ‘quotes’ – <&>") == "Ŵyn, café, ‘quotes’ – <&>"
    assert pack_pdf.printable("line\r\nnext\tend") == "line\nnext    end"


def test_a_pack_with_an_empty_section_renders_and_reads_back() -> None:
    pack = pack_pdf.Pack(
        "Supervision pack",
        "Entries from 1 December 2026.",
        "Made today.",
        "Nothing here this time.",
        (
            pack_pdf.Section(
                "Learning and development",
                (
                    pack_pdf.Entry(
                        "Reflection", "Mon 1 Dec", (pack_pdf.Answer("Q", "Another line. " * 700),)
                    ),
                ),
            ),
            pack_pdf.Section("Quality and boundaries", ()),
        ),
    )
    reader = pypdf.PdfReader(io.BytesIO(pack_pdf.render(pack)))
    assert len(reader.pages) >= 2  # a long answer runs on to the next page
    text = " ".join("\n".join(p.extract_text() for p in reader.pages).split())
    assert "Quality and boundaries Nothing here this time." in text


async def test_without_a_linked_supervisor_the_pack_can_still_be_printed(bot: Harness) -> None:
    worker = Chat(bot, Person(user_id=1001, first_name="Alex"))
    await worker.send("/start")
    assert (await worker.send("/share"))[-1].endswith("/supervisor makes an invite for them.")
    assert worker.sent()[-1].params.get("reply_markup") is None  # nothing flagged: no PDF
    await worker.send("Something to bring: the rota <again> & 🌱")
    await worker.send("Keep this one private")
    for number in ("2", "1"):
        await worker.send("/entries")
        await worker.press(number)
        await worker.press("Bring to supervision")
    replies = await worker.send("/share")
    assert "bring your supervision pack to the meeting as a PDF" in replies[-1]
    replies = await worker.press("📄 My pack as a PDF")
    assert replies[0].startswith("Your supervision pack, as it would print")
    assert worker.buttons() == ["📄 A PDF to print", "Close"]
    assert "Keep this one private" in "\n".join(replies)
    await worker.press_under("Keep this one private", "Leave out: Journal entry")
    await worker.press_under("isn't struck through", "📄 A PDF to print")
    [call] = [c for c in bot.request.calls if c.method == "sendDocument"]
    text = pdf_text(call)
    assert "Something to bring: the rota <again> & [seedling]" in text
    assert "Keep this one private" not in text
    # A forged press of Share under this preview shares nothing with anyone.
    turn = worker.keyboard()[1][0][1].split(":")[1]
    await worker.press_data(f"p:{turn}:send", message_id=worker.keyboard()[0])
    assert worker.toasts()[-1].startswith("I couldn't find that")
    assert [c.method for c in bot.request.calls if c.method == "sendDocument"] == ["sendDocument"]
    await worker.press_under("isn't struck through", "Close")
    assert worker.edits()[-1] == "Closed. Your entries are still in your journal."


def test_agreed_next_steps_are_printed_at_the_top_of_the_pack() -> None:
    pack = pack_pdf.Pack(
        "Supervision pack",
        "Entries from 1 December 2026.",
        "Made today.",
        "Nothing here this time.",
        (pack_pdf.Section("Quality and boundaries", ()),),
        "Next steps we agreed last time",
        ("Try the grounding exercise before the Monday ward round",),
    )
    reader = pypdf.PdfReader(io.BytesIO(pack_pdf.render(pack)))
    text = " ".join("\n".join(p.extract_text() for p in reader.pages).split())
    assert "Next steps we agreed last time • Try the grounding exercise before the Monday" in text
