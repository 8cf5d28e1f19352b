"""Voice notes kept as safely as written words: fetched with getFile, sealed with the person's
own data key (a canary from the audio is in no file of the data directory), listed, played back
protected, deleted by Delete and /forget; too big, nothing kept; a failed download waits in the
durable inbox and is tried again."""

from __future__ import annotations

import io
import json
import signal
import sqlite3
import zipfile
from pathlib import Path

import pytest

from bot.config import Config, ConfigProblem
from bot.inbox import InboxRunner
from flows.kernel import export as export_format
from tests.drivers import Chat, Harness, make_config, running
from tests.fakeapi import FakeBotAPI, Sent
from tests.offline import Person
from tests.test_polling import TOKEN, start_bot

CANARY = b"OggS\x00CANARY-voice-7f3a9c-" * 40  # stands in for the recording's bytes


def count(bot: Harness, sql: str) -> int:
    with sqlite3.connect(bot.service.store.path) as db:
        (found,) = db.execute(sql).fetchone()
    db.close()
    return int(found)


def files_holding(data_dir: Path, secret: bytes) -> list[str]:
    return sorted(p.name for p in data_dir.rglob("*") if p.is_file() and secret in p.read_bytes())


async def send_voice(chat: Chat, audio: bytes = CANARY, duration: int = 72) -> list[str]:
    file_id = f"voice-{len(chat.bot.request.responder.files)}"
    chat.bot.request.responder.files[file_id] = audio
    return await chat.send_update(chat.person.voice(file_id, duration=duration))


def played(chat: Chat) -> list[dict[str, object]]:
    return [c.params for c in chat._mine() if c.method == "sendVoice"]


async def test_a_voice_note_is_kept_sealed_listed_and_played_back_protected(
    chat: Chat, bot: Harness, data_dir: Path
) -> None:
    replies = await send_voice(chat)
    assert "voice note" in replies[-1].lower() and "1 min 12 s" in replies[-1]
    assert count(bot, "SELECT COUNT(*) FROM voice_notes") == 1
    assert count(bot, "SELECT size FROM voice_notes") == len(CANARY)
    assert count(bot, "SELECT duration FROM voice_notes") == 72
    assert [c.method for c in bot.request.calls if c.method == "getFile"] == ["getFile"]
    await bot.service.store.checkpoint()
    assert files_holding(data_dir, b"CANARY-voice") == []  # sealed, never on disk in the clear
    listing = await chat.send("/entries")
    assert "🎙 Voice note, 1 min 12 s" in listing[-1]
    await chat.press(chat.buttons()[0])
    (voice,) = played(chat)
    assert voice["protect_content"] is True
    upload = voice["voice"]
    assert getattr(upload, "content", None) == CANARY  # the recording itself, opened again
    assert voice.get("duration") == 72


async def test_an_audio_file_is_kept_too(chat: Chat, bot: Harness) -> None:
    bot.request.responder.files["memo"] = CANARY
    replies = await chat.send_update(chat.person.audio("memo", duration=5))
    assert "5 s" in replies[-1]
    assert count(bot, "SELECT COUNT(*) FROM voice_notes") == 1


async def test_a_voice_note_answers_a_written_question(chat: Chat, bot: Harness) -> None:
    await chat.send("/prepare")
    replies = await send_voice(chat, duration=9)
    assert "Question 2" in replies[-1]
    assert count(bot, "SELECT COUNT(*) FROM voice_notes") == 1
    assert count(bot, "SELECT COUNT(*) FROM entries WHERE status = 'in_progress'") == 1


async def test_delete_takes_the_recording_with_the_entry(
    chat: Chat, bot: Harness, data_dir: Path
) -> None:
    await send_voice(chat)
    with sqlite3.connect(bot.service.store.path) as db:
        (sealed,) = db.execute("SELECT audio FROM voice_notes").fetchone()
    db.close()
    await chat.send("/entries")
    await chat.press(chat.buttons()[0])
    await chat.press("Delete")
    await chat.press("Yes, delete it")
    assert count(bot, "SELECT COUNT(*) FROM voice_notes") == 0
    assert files_holding(data_dir, bytes(sealed)[-64:]) == []  # not even its ciphertext


async def test_forget_takes_every_recording(chat: Chat, bot: Harness) -> None:
    await send_voice(chat)
    await send_voice(chat, duration=4)
    await chat.send("/forget")
    await chat.press("Erase everything")
    await chat.press("Yes, erase it all now")
    assert count(bot, "SELECT COUNT(*) FROM voice_notes") == 0
    assert count(bot, "SELECT COUNT(*) FROM entries") == 0


async def test_too_big_to_fetch_is_said_kindly_and_nothing_is_kept(
    chat: Chat, bot: Harness
) -> None:
    replies = await chat.send_update(chat.person.voice("huge", duration=3000, size=21 * 2**20))
    assert "too big" in replies[-1] and "20 MB" in replies[-1]
    assert "getFile" not in [c.method for c in bot.request.calls]
    assert count(bot, "SELECT COUNT(*) FROM entries") == 0
    assert count(bot, "SELECT COUNT(*) FROM voice_notes") == 0


async def test_an_organisation_allowance_is_kept_to(data_dir: Path) -> None:
    config = make_config(data_dir, voice_max_mb=1)
    async with running(config) as bot:
        chat = Chat(bot)
        replies = await send_voice(chat, audio=b"x" * (2**20 + 1))  # no size said up front
        assert "1 MB" in replies[-1]
        assert count(bot, "SELECT COUNT(*) FROM entries") == 0
        assert count(bot, "SELECT COUNT(*) FROM voice_notes") == 0


async def test_a_failed_download_waits_in_the_inbox_and_is_tried_again(
    chat: Chat, bot: Harness
) -> None:
    bot.request.responder.files["later"] = CANARY
    update = chat.person.voice("later", duration=20)
    store = bot.service.store
    await store.inbox_add([(update["update_id"], json.dumps(update).encode())])
    runner = InboxRunner(bot.app, bot.service)
    bot.request.fail_methods.add("download")
    await runner.process_batch(await store.inbox_unhandled(limit=100))
    assert [u for u, _ in await store.inbox_unhandled()] == [update["update_id"]]  # not lost
    assert count(bot, "SELECT COUNT(*) FROM entries") == 0
    bot.request.fail_methods.clear()
    await runner.process_batch(await store.inbox_unhandled(limit=100))
    assert await store.inbox_unhandled() == []
    assert count(bot, "SELECT COUNT(*) FROM voice_notes") == 1
    assert "20 s" in chat.read()[-1]


def opens(sent: Sent) -> list[str]:
    """The buttons that open an entry, under a message the bot sent."""
    return [data for _, data in sent.buttons if data.startswith("o:")]


@pytest.mark.slow
def test_over_real_http_a_voice_note_is_fetched_kept_and_played_back(tmp_path: Path) -> None:
    person = Person(user_id=5252)
    data_dir = tmp_path / "data"
    with FakeBotAPI(TOKEN) as fake:
        fake.responder.files["over-http"] = CANARY
        bot = start_bot(fake, data_dir)
        try:
            fake.push(person.voice("over-http", duration=72))
            assert fake.wait_for(
                lambda _: any("1 min 12 s" in t for t in fake.sent_texts(5252)), 20
            )
            fake.push(person.text("/entries"))
            assert fake.wait_for(lambda _: any(opens(s) for s in fake.sent_to(5252)), 20)
            listing = [s for s in fake.sent_to(5252) if opens(s)][-1]
            fake.push(person.press(opens(listing)[0], listing.message_id or 1))
            assert fake.wait_for(
                lambda calls: any(c.method == "sendVoice" for c in calls), timeout=20
            ), [(c.method, str(c.params)[:300]) for c in fake.calls[-4:]]
        finally:
            bot.send_signal(signal.SIGTERM)
            bot.wait(10)
        fake.assert_valid()
        (voice,) = [c.params for c in fake.calls if c.method == "sendVoice"]
        assert voice["protect_content"] is True
        assert getattr(voice["voice"], "content", None) == CANARY
    assert files_holding(data_dir, b"CANARY-voice") == []


def exported(chat: Chat) -> dict[str, bytes]:
    """The files /export sent, by name."""
    docs = [c.params["document"] for c in chat._mine() if c.method == "sendDocument"]
    return {d.filename: d.content for d in docs}


async def test_export_is_one_zip_with_the_recordings(chat: Chat, bot: Harness) -> None:
    await chat.send("Written words, kept next to the recording")
    await send_voice(chat)
    replies = await chat.send("/export")
    assert "one zip file" in replies[-1]
    ((name, body),) = exported(chat).items()
    assert name.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = archive.namelist()
        (audio,) = [n for n in names if n.startswith("audio/")]
        assert archive.read(audio) == CANARY
        (json_name,) = [n for n in names if n.endswith(".json")]
        data = json.loads(archive.read(json_name))
        (md_name,) = [n for n in names if n.endswith(".md")]
        assert "Written words" in archive.read(md_name).decode()
    assert data["version"] == 2
    answers = [a for e in data["entries"] for a in e["answers"]]
    assert [a.get("audio") for a in answers if "audio" in a] == [audio]
    assert any(a["text"].startswith("🎙 Voice note, 1 min 12 s") for a in answers)


async def test_export_over_the_upload_limit_is_split_and_says_so(
    chat: Chat, bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_format, "ZIP_PART_BYTES", len(CANARY) + 10)
    await send_voice(chat)
    await send_voice(chat, duration=5)
    replies = await chat.send("/export")
    assert "3 zip files" in replies[-1] and "50 MB" in replies[-1]
    files = exported(chat)
    assert sorted(files) == [n for n in sorted(files) if "-part" in n] and len(files) == 3
    recordings = []
    for body in files.values():
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            recordings += [archive.read(n) for n in archive.namelist() if n.startswith("audio/")]
    assert recordings == [CANARY, CANARY]


async def test_edit_adds_a_written_note_to_a_voice_note(chat: Chat, bot: Harness) -> None:
    await send_voice(chat)
    await chat.send("/entries")
    await chat.press(chat.buttons()[0])
    await chat.press("Edit")
    await chat.press("Add a note")
    await chat.send("Written afterwards, about the recording")
    await chat.send("/entries")
    await chat.press(chat.buttons()[0])
    opened = "\n".join(chat.read()[-3:])
    assert "Written afterwards" in opened and "Voice note, 1 min 12 s" in opened
    assert len(played(chat)) == 2  # the recording still plays with the note beside it


def test_the_allowance_is_read_from_the_environment() -> None:
    assert Config.from_env({}).voice_max_mb == 20
    assert Config.from_env({"COREFLECT_VOICE_MAX_MB": "5"}).voice_max_mb == 5
    with pytest.raises(ConfigProblem, match="whole number of MB"):
        Config.from_env({"COREFLECT_VOICE_MAX_MB": "lots"})
