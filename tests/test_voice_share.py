"""A voice note shared with the supervisor only through the preview and consent words have: it
shows as its label, can be left out, reaches the supervisor after the summary as a protected
voice message, waits out their quiet hours sealed, and is deleted on withdrawal and /forget
like the summary. Whole conversations over the offline Bot API, and the whole journey once over
real HTTP to the fake Bot API (the bot as its own process)."""

from __future__ import annotations

import base64
import io
import re
import signal
import sqlite3
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flows.store.unit import Unit, voice_aad
from tests.drivers import Chat, Clock, Harness, link
from tests.fakeapi import FakeBotAPI, Sent
from tests.offline import Call, Person
from tests.running import TOKEN, start_bot
from tests.test_pack_pdf import pdf_text
from tests.test_voice import opens

CANARY = b"OggS\x00CANARY-shared-voice-51d0e2-" * 40  # stands in for the recording's bytes
LEAVE_OUT = "Leave out: How it helped, what worked"


def rows(bot: Harness, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(bot.config.data_dir / "coreflect.db") as db:
        found = db.execute(sql).fetchall()
    db.close()
    return found


def files_holding(data_dir: Path, secret: bytes) -> list[str]:
    return sorted(p.name for p in data_dir.rglob("*") if p.is_file() and secret in p.read_bytes())


def leaked(data_dir: Path) -> list[str]:
    """Files holding the recording in the clear, raw or as it would sit in a JSON payload."""
    return files_holding(data_dir, b"CANARY-shared-voice") + files_holding(
        data_dir, base64.b64encode(CANARY)[40:120]
    )


async def reflect_with_voice(worker: Chat, duration: int = 72) -> None:
    """A reflection whose first answer is written and whose second is spoken."""
    await worker.send("/reflect")
    await worker.send("It went well, they smiled")
    worker.bot.request.responder.files["rec"] = CANARY
    await worker.send_update(worker.person.voice("rec", duration=duration))
    for _ in range(2):
        await worker.send("/skip")
    await worker.press("Maybe later")


async def open_preview(worker: Chat) -> str:
    await worker.send("/share")
    await worker.press("One entry")
    return "\n".join(await worker.press(worker.buttons()[0]))


async def share_voice(bot: Harness, worker: Chat) -> list[int]:
    """A reflection with a spoken answer, shared as previewed: the ids of what Sam received."""
    await reflect_with_voice(worker)
    await open_preview(worker)
    await worker.press("Share with Sam")
    return sorted(int(m) for (m,) in rows(bot, "SELECT message_id FROM share_messages"))


def received(supervisor: Chat, since: int = 0) -> list[Call]:
    """What reached the supervisor's chat as messages and voice messages, in order."""
    sent = [c for c in supervisor._mine() if c.method in {"sendMessage", "sendVoice"}]
    return sent[since:]


async def test_previewed_shared_protected_after_the_summary_and_withdrawn_with_it(
    bot: Harness, linked: tuple[Chat, Chat], data_dir: Path
) -> None:
    worker, supervisor = linked
    await reflect_with_voice(worker)
    before = len(received(supervisor))
    preview = await open_preview(worker)
    assert "Voice note, 1 min 12 s" in preview  # labelled like the journal, never the audio
    assert len(received(supervisor)) == before
    await worker.press("Share with Sam")
    assert "Shared with Sam" in worker.edits()[-1]

    summary, voice = received(supervisor, before)
    assert summary.method == "sendMessage" and "It went well" in summary.params["text"]
    assert "Voice note, 1 min 12 s" in summary.params["text"]
    assert voice.method == "sendVoice"
    assert voice.params["protect_content"] is True
    assert getattr(voice.params["voice"], "content", None) == CANARY
    assert voice.params.get("duration") == 72
    assert "How it helped" in str(voice.params.get("caption"))

    # Nothing of it in the clear anywhere in the data directory, WAL included.
    await bot.service.store.checkpoint()
    assert leaked(data_dir) == []

    # Opened again from /summaries: the recording comes with it, protected, as a copy too.
    await supervisor.send("/summaries")
    await supervisor.press_summary(1)
    again = received(supervisor)[-1]
    assert again.method == "sendVoice" and again.params["protect_content"] is True

    ids = sorted(int(m) for (m,) in rows(bot, "SELECT message_id FROM share_messages"))
    assert len(ids) == 5  # the summary and its recording, twice, and the /summaries list
    await worker.send("/shared")
    await worker.press("Withdraw 1")
    await worker.press("Withdraw it")
    assert sorted(supervisor.deleted()) == ids
    await bot.service.store.scrubbed()
    assert leaked(data_dir) == []


async def test_left_out_it_is_never_sent(bot: Harness, linked: tuple[Chat, Chat]) -> None:
    worker, supervisor = linked
    await reflect_with_voice(worker)
    before = len(received(supervisor))
    await open_preview(worker)
    await worker.press_under("Voice note, 1 min 12 s", LEAVE_OUT)
    assert "(left out)" in worker.edits()[-1]
    await worker.press_under("would be shared with Sam", "Share with Sam")
    (summary,) = received(supervisor, before)
    assert summary.method == "sendMessage" and "Voice note" not in summary.params["text"]
    (answers,) = rows(bot, "SELECT answers FROM shares")
    assert '"helped"' not in answers[0]

    # Put back in a second share, it goes.
    await open_preview(worker)
    await worker.press_under("Voice note, 1 min 12 s", LEAVE_OUT)
    await worker.press_under("(left out)", "Put back: How it helped, what worked")
    assert "Voice note, 1 min 12 s" in worker.edits()[-1]
    await worker.press_under("would be shared with Sam", "Share with Sam")
    assert [c.method for c in received(supervisor, before + 1)] == ["sendMessage", "sendVoice"]


async def test_forget_deletes_the_supervisors_copy_of_the_recording(
    bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    ids = await share_voice(bot, worker)
    assert len(ids) == 2  # the summary and its recording
    await worker.send("/forget")
    await worker.press(worker.buttons()[0])
    await worker.press(worker.buttons()[0])
    assert sorted(supervisor.deleted()) == ids
    assert rows(bot, "SELECT COUNT(*) FROM voice_notes") == [(0,)]


async def test_quiet_hours_hold_the_recording_sealed_like_the_summary(
    bot: Harness, clock: Clock, data_dir: Path
) -> None:
    clock.now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    alex = Chat(bot, Person(user_id=1001, first_name="Alex"))
    sam = Chat(bot, Person(user_id=2002, first_name="Sam"))
    await link(alex, sam)
    clock.now = datetime(2026, 12, 2, 22, 30, tzinfo=UTC)  # Sam's quiet hours
    await reflect_with_voice(alex)
    before = len(received(sam))
    await open_preview(alex)
    await alex.press("Share with Sam")
    assert received(sam, before) == []
    # Waiting in the outbox, sealed with Alex's key: nothing of the audio on disk in the clear.
    assert rows(bot, "SELECT sealed_for, COUNT(*) FROM outbox WHERE chat_id = 2002") == [(1001, 2)]
    await bot.service.store.checkpoint()
    assert leaked(data_dir) == []
    clock.now = datetime(2026, 12, 3, 7, 59, tzinfo=UTC)
    await bot.app.bot_data.alarm.run_due()
    assert received(sam, before) == []
    clock.now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    await bot.app.bot_data.alarm.run_due()
    assert [c.method for c in received(sam, before)] == ["sendMessage", "sendVoice"]
    assert received(sam)[-1].params["protect_content"] is True
    assert rows(bot, "SELECT COUNT(*) FROM share_messages") == [(2,)]


async def test_the_pack_pdf_carries_only_the_label_while_the_shared_pack_carries_the_recording(
    bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    worker.bot.request.responder.files["memo"] = CANARY
    await worker.send_update(worker.person.voice("memo", duration=72))
    await bot.service.store.run(lambda tx: tx.set_flag(1, True))  # "Bring to supervision"
    await worker.send("/share")
    preview = "\n".join(await worker.press("Supervision pack (1)"))
    assert "Voice note, 1 min 12 s" in preview
    before = len(received(supervisor))
    await worker.press_under("isn't struck through", "📄 A PDF to print")
    (pdf,) = [c for c in bot.request.calls if c.method == "sendDocument"]
    assert "Voice note, 1 min 12 s" in pdf_text(pdf)
    assert b"CANARY-shared-voice" not in pdf.params["document"].content
    assert not [c for c in bot.request.calls if c.method == "sendVoice"]  # printed: no audio
    await worker.press_under("isn't struck through", "Share with Sam")
    assert [c.method for c in received(supervisor, before)] == ["sendMessage", "sendVoice"]


def test_only_sharing_export_and_the_journal_open_recordings() -> None:
    """The audio is opened in three places only: the journal (play back), /export, and a share
    through the preview. A co-reflection reveal, a team post or the pack PDF carry the label."""
    import flows

    folder = Path(flows.__file__).parent
    readers = sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*.py")
        if re.search(r"\bvoice_notes\(|FROM voice_notes", path.read_text())
    )
    assert readers == [
        "features/account/export.py",
        "features/journal/voice.py",
        "features/supervision/answers.py",
        "store/unit.py",
    ]


async def test_to_a_supervisor_who_allows_no_voice_messages_it_goes_as_a_file(
    bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    bot.request.voice_forbidden = {supervisor.chat_id}  # their Telegram privacy setting
    await reflect_with_voice(worker)
    await open_preview(worker)
    await worker.press("Share with Sam")
    (document,) = [c for c in supervisor._mine() if c.method == "sendDocument"]
    assert document.params["protect_content"] is True
    assert getattr(document.params["document"], "content", None) == CANARY
    ids = sorted(int(m) for (m,) in rows(bot, "SELECT message_id FROM share_messages"))
    assert len(ids) == 2  # the summary and the file, both deleted on withdrawal
    await worker.send("/shared")
    await worker.press("Withdraw 1")
    await worker.press("Withdraw it")
    assert sorted(supervisor.deleted()) == ids


async def test_unlinking_deletes_the_recording_with_the_summary(
    bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    ids = await share_voice(bot, worker)
    await worker.send("/supervisor")
    await worker.press("Unlink Sam")
    await worker.press(worker.buttons()[0])  # withdrawing what was shared is the default
    assert sorted(supervisor.deleted()) == ids and len(ids) == 2


async def test_a_recording_changed_after_the_preview_means_a_new_preview(
    bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    await reflect_with_voice(worker)
    before = len(received(supervisor))
    await open_preview(worker)

    def record_again(tx: Unit) -> None:  # the same length, other words
        cipher = tx.person(worker.chat_id).cipher
        (step,) = tx.voice_notes(cipher, 1)
        sealed = cipher.seal(b"OggS other words", voice_aad(1, step))
        tx.conn.execute("UPDATE voice_notes SET audio = ? WHERE entry_id = 1", (sealed,))

    await bot.service.store.run(record_again)
    replies = await worker.press("Share with Sam")
    assert "Something changed since that preview" in replies[0]
    assert received(supervisor, before) == []
    await worker.press("Share with Sam")
    assert [c.method for c in received(supervisor, before)] == ["sendMessage", "sendVoice"]


# ---- the whole journey over real HTTP --------------------------------------------------------


class Remote:
    """A person talking to the bot process through the fake Bot API, over real HTTP."""

    def __init__(self, fake: FakeBotAPI, person: Person) -> None:
        self.fake, self.person = fake, person

    def _mine(self) -> list[Sent]:
        return self.fake.sent_to(self.person.user_id)

    def _wait(self, before: int, want: Any, timeout: float = 20) -> Any:
        def seen(_: object) -> bool:
            return any(want(s) for s in self._mine()[before:])

        assert self.fake.wait_for(seen, timeout), [
            (s.method, str(s.params.get("text", ""))[:80]) for s in self._mine()[-4:]
        ]
        return next(s for s in self._mine()[before:] if want(s))

    def send(self, update: dict[str, Any], want: Any) -> Any:
        before = len(self._mine())
        self.fake.push(update)
        return self._wait(before, want)

    def say(self, text: str, expect: str) -> Any:
        return self.send(self.person.text(text), lambda s: expect in str(s.params.get("text")))

    def press(self, label: str, want: Any) -> Any:
        """Press the newest button so labelled (waiting for it to arrive), then wait for want."""
        self._wait(0, lambda s: label in dict(s.buttons))
        pressed = next(s for s in reversed(self._mine()) if label in dict(s.buttons))
        data = dict(pressed.buttons)[label]
        return self.send(self.person.press(data, pressed.message_id or 1), want)


def daytime_zone() -> str:
    """A time zone where it is now about noon, so nobody's quiet hours hold a message back."""
    hours = (12 - datetime.now(UTC).hour + 12) % 24 - 12  # -12…11
    return "Etc/GMT" + (f"+{-hours}" if hours <= 0 else f"-{hours}")


@pytest.mark.slow
def test_over_real_http_kept_exported_shared_after_preview_withdrawn_deleted_forgotten(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    alex, sam = Person(user_id=7101, first_name="Alex"), Person(user_id=7202, first_name="Sam")
    with FakeBotAPI(TOKEN) as fake:
        fake.responder.files["rec"] = CANARY
        bot = start_bot(fake, data_dir, COREFLECT_TIMEZONE=daytime_zone())
        try:
            worker, supervisor = Remote(fake, alex), Remote(fake, sam)
            worker.say("/supervisor", "")
            invite = worker.press("Create an invite", lambda s: "/link " in str(s.params))
            code = re.search(r"/link ([A-Z2-7-]+)", invite.params["text"])
            assert code, invite.params["text"]
            supervisor.say(f"/link {code.group(1)}", "invited you to link")
            supervisor.press("Yes, link", lambda s: "asked Alex" in str(s.params))
            worker.press("Yes, link", lambda s: "linked" in str(s.params.get("text")))

            # A reflection with a spoken answer, kept like words.
            worker.say("/reflect", "1 of 5")
            worker.say("It went well, they smiled", "2 of 5")
            worker.send(alex.voice("rec", duration=72), lambda s: "3 of 5" in str(s.params))
            worker.say("/skip", "4 of 5")
            worker.say("/skip", "5 of 5")
            worker.press("Maybe later", lambda s: True)

            # Exported in the zip.
            zipped = worker.send(alex.text("/export"), lambda s: s.method == "sendDocument")
            body = getattr(zipped.params["document"], "content", b"")
            with zipfile.ZipFile(io.BytesIO(body)) as archive:
                assert CANARY in [archive.read(n) for n in archive.namelist()]

            # Shared only after the preview; reaches Sam protected; withdrawn, deleted there.
            worker.say("/share", "What would you like to share?")
            picked = worker.press("One entry", lambda s: bool(s.buttons))
            first = picked.buttons[0][0]
            worker.press(first, lambda s: "would be shared" in str(s.params.get("text")))
            assert not [s for s in supervisor._mine() if s.method == "sendVoice"]
            worker.press("Share with Sam", lambda s: "Shared with" in str(s.params))
            voice = supervisor._wait(0, lambda s: s.method == "sendVoice")
            assert voice.params["protect_content"] in (True, "true", "True")
            worker.say("/shared", "")
            worker.press("Withdraw 1", lambda s: True)
            worker.press("Withdraw it", lambda s: True)
            supervisor._wait(
                0,
                lambda s: (
                    s.method == "deleteMessage" and int(s.params["message_id"]) == voice.message_id
                ),
            )

            # Deleted by Delete, then everything by /forget.
            worker.say("/entries", "")
            listing = next(s for s in reversed(worker._mine()) if opens(s))
            worker.send(
                alex.press(opens(listing)[0], listing.message_id or 1),
                lambda s: s.method == "sendVoice",
            )
            worker.press("Delete", lambda s: True)
            worker.press("Yes, delete it", lambda s: "Deleted" in str(s.params.get("text")))
            worker.say("/forget", "Erase everything?")
            worker.press("Erase everything", lambda s: True)
            worker.press("Yes, erase it all now", lambda s: "Done" in str(s.params))
        finally:
            bot.send_signal(signal.SIGTERM)
            bot.wait(10)
        fake.assert_valid()
    assert leaked(data_dir) == []
