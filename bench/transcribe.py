"""Local transcription's own cost: decoding a voice note (Telegram's OGG/Opus, 48 kHz mono) to
the 16 kHz mono float32 samples Whisper hears, with PyAV, as bot/transcribe.py does before the
model runs. The model itself is not measured: none can be fetched here (docs/testing.md).

    .venv/bin/python bench/transcribe.py            # 1, 10 and 45 minutes of sound
    .venv/bin/python bench/transcribe.py --quick    # 1 and 5 minutes

Target: a minute's voice note decoded within a second, small beside the model's own time.
The recordings are made here with libopus (a voice-like mix of drifting tones and noise at
about 32 kbit/s, the rate Telegram's voice notes use), then each is decoded three times.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import av  # noqa: E402
import numpy as np  # noqa: E402

from bench import figures  # noqa: E402
from bench.figures import Figure  # noqa: E402
from bot.transcribe import LONGEST, RATE, decode  # noqa: E402

SOURCE_RATE = 48_000  # what Telegram's voice notes are


def recording(minutes: float) -> bytes:
    """`minutes` of voice-like sound as OGG/Opus, made a second at a time."""
    rng = np.random.default_rng(7)
    out = io.BytesIO()
    with av.open(out, mode="w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=SOURCE_RATE, layout="mono")
        stream.bit_rate = 32_000
        t = np.arange(SOURCE_RATE) / SOURCE_RATE
        for second in range(int(minutes * 60)):
            pitch = 120 + 60 * np.sin(second / 3)
            wave = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in (1, 2, 3))
            samples = 0.2 * wave * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
            samples += 0.02 * rng.standard_normal(SOURCE_RATE)
            frame = av.AudioFrame.from_ndarray(
                samples.astype(np.float32).reshape(1, -1), format="flt", layout="mono"
            )
            frame.sample_rate = SOURCE_RATE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    lengths = [1, 5] if args.quick else [1, 10, 45]
    found: list[Figure] = []
    print(f"{'minutes':>8} {'size':>9} {'decode (best of 3)':>19} {'samples held':>13}")
    for minutes in lengths:
        audio = recording(minutes)
        times, samples = [], np.zeros(0, dtype=np.float32)
        for _ in range(3):
            started = time.perf_counter()
            samples = decode(audio)
            times.append(time.perf_counter() - started)
        best = min(times)
        held = samples.nbytes / 2**20
        print(f"{minutes:>8} {len(audio) / 2**20:>7.2f}MB {best:>17.3f} s {held:>10.1f} MB")
        assert len(samples) <= LONGEST * RATE
        if minutes == 1:
            found.append(
                Figure(
                    "transcribe",
                    "decode a 1-minute voice note",
                    f"{best:.3f} s",
                    "≤ 1 s",
                    best <= 1.0,
                )
            )
        if minutes * 60 > LONGEST:
            limit = LONGEST * RATE * 4 / 2**20
            found.append(
                Figure(
                    "transcribe",
                    f"samples held for a {minutes}-minute note",
                    f"{held:.0f} MB",
                    f"≤ {limit:.0f} MB (first {LONGEST // 60} min)",
                    held <= limit,
                )
            )
    for figure in found:
        print(f"{figure.name}: {figure.value} (target {figure.target})")
    figures.report(found)
    return 0 if all(f.met is not False for f in found) else 1


if __name__ == "__main__":
    sys.exit(main())
