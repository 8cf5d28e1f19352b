"""Optional, local transcription of voice notes (COREFLECT_TRANSCRIBE_MODEL).

Only when an operator points COREFLECT_TRANSCRIBE_MODEL at a faster-whisper model folder on this
machine (after `make voice`: this project's voice extra). The recording is decoded here, in
memory, with PyAV (Telegram sends Opus in Ogg; faster-whisper decodes with PyAV itself) to mono
16 kHz float32 samples, and the model turns those into words on this machine: nothing is sent
anywhere and the model is never fetched (`local_files_only`). Without the setting none of this
is imported.

The bot layer calls `Transcription.text` after the download and before the engine's unit of
work, off the event loop and off the database thread, one recording at a time; the words travel
in the Voice input and the journal asks the person before keeping them (journal/voice.py).
"""

from __future__ import annotations

import asyncio
import importlib
import io
import itertools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Samples = npt.NDArray[np.float32]

log = logging.getLogger("coreflect")

RATE = 16_000  # what Whisper models listen at: mono float32 samples, 16 kHz
LONGEST = 30 * 60  # seconds heard at most (115 MB of samples): a 20 MB recording can run hours


class Transcriber(Protocol):
    """Mono float32 samples at 16 kHz in, the words heard out ("" for none)."""

    def __call__(self, samples: Samples) -> str: ...


def decode(audio: bytes, longest: int = LONGEST) -> Samples:
    """A recording (Telegram's OGG/Opus, or any audio PyAV reads) as mono float32 at 16 kHz:
    its first `longest` seconds."""
    import av
    import numpy as np

    parts, held = [], 0
    with av.open(io.BytesIO(audio), mode="r") as container:
        stream = container.streams.audio[0]
        # A second a frame: fewer, larger arrays than one per 20 ms Opus packet
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE, frame_size=RATE)
        # then None: what the resampler still holds
        for frame in itertools.chain(container.decode(stream), [None]):
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray().reshape(-1))
                held += parts[-1].size
            if held >= longest * RATE:
                break
    if not parts:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(parts)[: longest * RATE].astype(np.float32, copy=False)


class Whisper:
    """A faster-whisper model from a folder on this machine, loaded once, when first needed.
    `local_files_only`: a folder that is not a model is an error, never a download."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._model: Any = None

    def __call__(self, samples: Samples) -> str:
        if self._model is None:
            faster_whisper = importlib.import_module("faster_whisper")
            self._model = faster_whisper.WhisperModel(
                str(self.folder), device="cpu", compute_type="int8", local_files_only=True
            )
        segments, _ = self._model.transcribe(samples, vad_filter=True)
        return " ".join(s.text.strip() for s in segments).strip()


class Transcription:
    """Turns a recording's bytes into words with `transcriber`, one recording at a time, in a
    worker thread. A recording that cannot be decoded or heard gives "" (and it is kept all the
    same, as a recording); what was said is never logged."""

    def __init__(self, transcriber: Transcriber) -> None:
        self.transcriber = transcriber
        self._one_at_a_time = asyncio.Lock()

    def _words(self, audio: bytes) -> str:
        return self.transcriber(decode(audio)).strip()

    async def text(self, audio: bytes) -> str:
        async with self._one_at_a_time:
            try:
                return await asyncio.to_thread(self._words, audio)
            except Exception as exc:  # a broken file or model: the recording is kept anyway
                log.warning("a voice note could not be transcribed (%s)", type(exc).__name__)
                return ""


def from_setting(folder: Path | None) -> Transcription | None:
    """The operator's model (COREFLECT_TRANSCRIBE_MODEL), or None: nothing is transcribed."""
    return None if folder is None else Transcription(Whisper(folder))
