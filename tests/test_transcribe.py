"""Optional local transcription (COREFLECT_TRANSCRIBE_MODEL): Telegram's OGG/Opus decoded with
PyAV to what Whisper listens to, and the words shown first, held sealed, and kept only when the
person presses "Keep the text too".

What is tested here: real decoding of a real OGG/Opus recording (48 kHz mono Opus in Ogg, as
Telegram sends, made with libopus in the test), heard by a small test transcriber that names the
pitches it hears, so silence, a wrong sample rate or a wrong layout fails; the whole
confirm-before-save flow; and faster-whisper's loading (once, lazily, never fetching) against a
stand-in module. Not tested here: faster-whisper with a real model (none can be fetched on this
machine): docs/testing.md.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import sys
import types
import zipfile
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from bot.config import Config, ConfigProblem
from bot.transcribe import RATE, Transcription, Whisper, decode, from_setting
from tests.drivers import Chat, Harness, make_config, running
from tests.test_conversations import PREP_ANSWERS
from tests.test_tidy_chat import tidy_on
from tests.test_voice import count, exported, files_holding

HEARD = "Here is what I heard"
KEEP, JUST = "Keep the text too", "Just the recording"


def ogg_opus(tones: list[tuple[float, float]], rate: int = 48_000) -> bytes:
    """A voice note as Telegram sends one: Opus, mono, 48 kHz, in Ogg; a tone per (Hz, s)."""
    waves = [0.4 * np.sin(2 * np.pi * hz * np.arange(int(rate * s)) / rate) for hz, s in tones]
    samples = np.concatenate(waves).astype(np.float32).reshape(1, -1)
    out = io.BytesIO()
    with av.open(out, mode="w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return out.getvalue()


LOW_HIGH = ogg_opus([(440, 1.0), (880, 1.0)])


class Tones:
    """A test transcriber: says "low" for a 440 Hz half second, "high" for 880 Hz, "what?" for
    any other pitch, nothing for silence. It hears only if the samples really are 16 kHz mono
    float32: at any other rate every pitch lands somewhere else."""

    def __init__(self) -> None:
        self.heard = 0

    def __call__(self, samples: Any) -> str:
        assert samples.dtype == np.float32 and samples.ndim == 1
        self.heard += 1
        words: list[str] = []
        half = RATE // 2
        for start in range(0, len(samples) - half + 1, half):
            chunk = samples[start : start + half]
            if np.abs(chunk).max() < 0.05:
                continue
            hz = np.argmax(np.abs(np.fft.rfft(chunk))) * RATE / len(chunk)
            word = "low" if abs(hz - 440) < 10 else "high" if abs(hz - 880) < 10 else "what?"
            if not words or words[-1] != word:
                words.append(word)
        return " ".join(words)


def transcribing(bot: Harness) -> Tones:
    tones = Tones()
    bot.app.bot_data.transcription = Transcription(tones)
    return tones


async def send_voice(chat: Chat, audio: bytes = LOW_HIGH, duration: int = 2) -> list[str]:
    file_id = f"voice-{len(chat.bot.request.responder.files)}"
    chat.bot.request.responder.files[file_id] = audio
    return await chat.send_update(chat.person.voice(file_id, duration=duration))


def held(bot: Harness) -> int:
    return count(bot, "SELECT COUNT(*) FROM voice_notes WHERE transcript IS NOT NULL")


# ---- decoding ----------------------------------------------------------------------------


def test_telegram_ogg_opus_decodes_to_16khz_mono_float32() -> None:
    with av.open(io.BytesIO(LOW_HIGH)) as container:  # the fixture is what Telegram sends
        stream = container.streams.audio[0]
        assert (stream.codec_context.name, stream.rate, stream.channels) == ("opus", 48_000, 1)
    samples = decode(LOW_HIGH)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - 2 * RATE) < RATE // 50  # two seconds, at 16 kHz
    assert Tones()(samples) == "low high"


def test_only_the_first_half_hour_is_heard() -> None:
    assert len(decode(LOW_HIGH, longest=1)) == RATE  # (a shorter limit here, for speed)
    assert Tones()(decode(LOW_HIGH, longest=1)) == "low"


def test_the_test_transcriber_would_notice_wrong_decoding() -> None:
    samples = decode(LOW_HIGH)
    assert Tones()(np.zeros_like(samples)) == ""  # silence
    assert Tones()(samples[::3].copy()) != "low high"  # the wrong rate
    assert Tones()(samples) == "low high"


async def test_a_recording_that_cannot_be_decoded_gives_no_words_and_logs_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transcription = Transcription(Tones())
    with caplog.at_level(logging.WARNING):
        assert await transcription.text(b"OggS not really a recording") == ""
    assert "could not be transcribed" in caplog.text and "OggS" not in caplog.text


# ---- faster-whisper, loaded once, only from the folder -----------------------------------


def test_whisper_loads_only_the_local_folder_once_and_only_when_needed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    made: list[tuple[str, dict[str, Any]]] = []

    class Segment:
        text = " low and high "

    class WhisperModel:
        def __init__(self, path: str, **options: Any) -> None:
            made.append((path, options))

        def transcribe(self, samples: Any, **options: Any) -> tuple[list[Segment], None]:
            assert samples.dtype == np.float32
            return [Segment(), Segment()], None

    fake = types.ModuleType("faster_whisper")
    fake.WhisperModel = WhisperModel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "faster_whisper", fake)
    transcription = from_setting(tmp_path)
    assert transcription is not None and made == []  # nothing loaded at start
    assert isinstance(transcription.transcriber, Whisper)
    samples = decode(LOW_HIGH)
    assert transcription.transcriber(samples) == "low and high low and high"
    transcription.transcriber(samples)
    assert made == [
        (str(tmp_path), {"device": "cpu", "compute_type": "int8", "local_files_only": True})
    ]
    assert from_setting(None) is None


def test_the_setting_is_checked_at_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Config.from_env({}).transcribe_model is None
    with pytest.raises(ConfigProblem, match="never downloads a model"):
        Config.from_env({"COREFLECT_TRANSCRIBE_MODEL": str(tmp_path / "nowhere")})
    with pytest.raises(ConfigProblem, match=r"model\.bin"):
        Config.from_env({"COREFLECT_TRANSCRIBE_MODEL": str(tmp_path)})  # a folder, no model
    (tmp_path / "model.bin").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # not installed
    with pytest.raises(ConfigProblem, match="run `make voice`"):
        Config.from_env({"COREFLECT_TRANSCRIBE_MODEL": str(tmp_path)})
    monkeypatch.setitem(sys.modules, "faster_whisper", types.ModuleType("faster_whisper"))
    fake = sys.modules["faster_whisper"]
    fake.__spec__ = importlib_spec("faster_whisper")
    found = Config.from_env({"COREFLECT_TRANSCRIBE_MODEL": str(tmp_path)}).transcribe_model
    assert found == tmp_path


def importlib_spec(name: str) -> Any:
    import importlib.machinery

    return importlib.machinery.ModuleSpec(name, None)


# ---- without the setting: exactly as before ----------------------------------------------


async def test_without_the_setting_nothing_is_transcribed_or_imported(
    chat: Chat, bot: Harness
) -> None:
    assert bot.app.bot_data.transcription is None
    replies = await send_voice(chat)
    assert "Kept your voice note" in replies[-1] and not any(HEARD in r for r in replies)
    assert "faster_whisper" not in sys.modules
    assert count(bot, "SELECT COUNT(*) FROM voice_notes") == 1 and held(bot) == 0


# ---- confirm before save -----------------------------------------------------------------


async def test_the_words_are_shown_held_sealed_and_kept_only_on_keep(
    chat: Chat, bot: Harness, data_dir: Path
) -> None:
    tones = transcribing(bot)
    replies = await send_voice(chat)
    assert tones.heard == 1
    assert "Kept your voice note" in replies[-2]
    assert HEARD in replies[-1] and "low high" in replies[-1]
    assert chat.buttons() == [KEEP, JUST]
    assert held(bot) == 1
    await bot.service.store.checkpoint()
    assert files_holding(data_dir, b"low high") == []  # held sealed, never in the clear
    nothing = await chat.send("/entries high")
    assert "Nothing found" in nothing[0]  # not searchable until they say so
    await chat.press(KEEP)
    assert chat.edits()[-1] == "Kept the words with your voice note 📝"
    assert HEARD not in chat.edits()[-1]  # the words leave the chat message
    assert held(bot) == 0
    found = await chat.send("/entries high")
    assert "Nothing found" not in found[0]
    await chat.press(chat.buttons()[0])
    opened = "\n".join(chat.read()[-2:])
    assert "Voice note, 2 s" in opened and "low high" in opened
    await chat.send("/export")
    ((_, body),) = exported(chat).items()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        (json_name,) = [n for n in archive.namelist() if n.endswith(".json")]
        data = json.loads(archive.read(json_name))
    (answer,) = [a for e in data["entries"] for a in e["answers"]]
    assert answer["text"] == "🎙 Voice note, 2 s\nlow high" and answer["audio"]


async def test_just_the_recording_lets_the_words_go(chat: Chat, bot: Harness) -> None:
    transcribing(bot)
    await send_voice(chat)
    await chat.press(JUST)
    assert chat.edits()[-1] == "Kept just the recording; those words are gone."
    assert held(bot) == 0
    assert count(bot, "SELECT COUNT(*) FROM voice_notes") == 1  # the recording stays
    assert "Nothing found" in (await chat.send("/entries high"))[0]
    await chat.send("/entries")
    await chat.press(chat.buttons()[0])
    assert "low high" not in "\n".join(chat.read()[-2:])


async def test_a_second_press_or_a_forged_one_finds_nothing(chat: Chat, bot: Harness) -> None:
    transcribing(bot)
    await send_voice(chat)
    _, buttons = chat.keyboard()
    keep = dict(buttons)[KEEP]
    await chat.press(KEEP)
    for data in [keep, keep.replace(":k:", ":n:"), "vt:k:999:1", "vt:x:1:1", "vt:k:abc", "vt:"]:
        before = len(chat.toasts())
        await chat.press_data(data)
        assert chat.toasts()[before:] == [
            "I couldn't find that. It may have been withdrawn or closed."
        ]
    entry = count(bot, "SELECT entry_id FROM voice_notes")
    other = Chat(bot, person=type(chat.person)(user_id=chat.person.user_id + 1))
    transcribing(bot)
    await send_voice(chat)
    theirs = dict(chat.keyboard()[1])[JUST]
    await other.press_data(theirs)  # someone else's recording
    assert other.toasts()[-1].startswith("I couldn't find that")
    assert held(bot) == 1 and entry


async def test_in_a_question_set_the_set_goes_on_and_the_choice_can_wait(
    chat: Chat, bot: Harness
) -> None:
    transcribing(bot)
    await chat.send("/prepare")
    replies = await send_voice(chat)
    assert HEARD in replies[0] and "Question 2" in replies[-1]  # asked, and the set goes on
    await chat.send("Colleagues know a little")
    await chat.press_under(HEARD, KEEP)  # pressed later, a question further on
    assert held(bot) == 0
    await chat.send("/cancel")
    await chat.press("Keep as a draft")
    found = await chat.send("/entries high")
    assert "Nothing found" not in found[0]


async def test_pressed_after_a_restart(data_dir: Path) -> None:
    config = make_config(data_dir)
    async with running(config) as bot:
        chat = Chat(bot)
        transcribing(bot)
        await send_voice(chat)
        message_id, buttons = chat.keyboard()
    async with running(config) as bot:
        chat = Chat(bot, person=chat.person)
        await chat.press_data(dict(buttons)[KEEP], message_id=message_id)
        assert held(bot) == 0
        assert "Nothing found" not in (await chat.send("/entries low"))[0]


async def test_delete_and_forget_take_the_held_words(chat: Chat, bot: Harness) -> None:
    transcribing(bot)
    await send_voice(chat)
    await chat.send("/entries")
    await chat.press(chat.buttons()[0])
    await chat.press("Delete")
    await chat.press("Yes, delete it")
    assert held(bot) == 0
    await send_voice(chat)
    await send_voice(chat)
    assert held(bot) == 2
    await chat.send("/forget")
    await chat.press("Erase everything")
    await chat.press("Yes, erase it all now")
    with sqlite3.connect(bot.service.store.path) as db:
        assert db.execute("SELECT COUNT(*) FROM voice_notes").fetchone() == (0,)
    db.close()


async def test_kept_words_are_read_like_typed_ones(chat: Chat, bot: Harness) -> None:
    """Words about wanting to end it, kept from a voice note, bring the support lines as typed
    words would; held and not yet kept, they are not read."""
    bot.app.bot_data.transcription = Transcription(lambda samples: "some days I want to end it")
    replies = await send_voice(chat)
    assert not any("Samaritans" in r for r in replies)
    replies = await chat.press(KEEP)
    assert any("Samaritans" in r for r in replies)


async def test_a_recording_sent_again_for_the_same_answer_drops_the_words_held(
    chat: Chat, bot: Harness
) -> None:
    transcribing(bot)
    await chat.send("/prepare")
    await send_voice(chat)
    await chat.send("/back")
    bot.app.bot_data.transcription = None
    await send_voice(chat, audio=ogg_opus([(440, 0.5)]))  # the same answer, no words this time
    assert held(bot) == 0
    await chat.press_under(HEARD, KEEP)
    assert chat.toasts()[-1].startswith("I couldn't find that")


async def test_with_tidy_chat_words_not_yet_settled_are_asked_about_again(
    chat: Chat, bot: Harness
) -> None:
    transcribing(bot)
    await tidy_on(chat)
    await chat.send("/prepare")
    await send_voice(chat)
    heard = [m for m, (text, _) in chat.messages().items() if HEARD in text]
    for answer in PREP_ANSWERS[1:]:
        replies = await chat.send(answer)
    assert set(heard) <= set(chat.deleted())  # gone with the rest of the set
    assert HEARD in replies[-1] and "low high" in replies[-1]  # and asked again, below
    await chat.press(KEEP)
    assert held(bot) == 0
    assert "Nothing found" not in (await chat.send("/entries high"))[0]


async def test_kept_words_are_checked_for_details_that_could_identify_someone(
    chat: Chat, bot: Harness
) -> None:
    bot.app.bot_data.transcription = Transcription(lambda samples: "My client John was upset")
    await send_voice(chat)
    replies = await chat.press(KEEP)
    assert "a name (John)" in replies[-1] and "Keep as written" in chat.buttons()
    await chat.press("Keep as written")
    assert "→ Keep as written" in chat.edits()[-1]


async def test_with_tidy_chat_a_voice_note_on_its_own_goes_once_its_words_are_settled(
    chat: Chat, bot: Harness
) -> None:
    await tidy_on(chat)
    transcribing(bot)
    first = bot.request.responder._last_id.get(chat.chat_id, 0)
    file_id = "voice-tidy"
    bot.request.responder.files[file_id] = LOW_HIGH
    update = chat.person.voice(file_id, duration=2)
    await chat.send_update(update)
    assert not [c for c in chat._mine() if c.method == "deleteMessage"]  # words not settled yet
    last = bot.request.responder._last_id[chat.chat_id]
    replies = await chat.press(KEEP)
    assert replies[-1].startswith("Saved to your journal: Journal, ")
    gone = {int(c.params["message_id"]) for c in chat._mine() if c.method == "deleteMessage"}
    assert {update["message"]["message_id"], last} <= gone and last > first
    found = await chat.send("/entries high")
    assert "Nothing found" not in found[0]
