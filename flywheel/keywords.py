"""Spoken keywords as a speech team records them: espeak-ng words (several voices,
speeds and pitches) placed anywhere in a one-second clip, under steady noise at a chosen
signal-to-noise ratio, and clips truly cut at either edge, for tests, the audio demo and
the benchmarks.

A clip is 1 s of 16-bit mono audio at espeak-ng's 22050 Hz. The *word* is espeak's
output trimmed to where its 20 ms frames are within 40 dB of its loudest one; a whole
clip holds all of it with at least ``MARGIN_S`` of background on each side. SNR is the
mean power of the word over the mean power of the noise, in dB. The noise is steady
(stationary) room noise: white noise through a one-pole low-pass, so most of its energy
sits below 2 kHz as a fan's or a room's does.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from flywheel.errors import SourceError
from flywheel.sample_data import AudioFolder, speak

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-us+f3", "en-gb+f2")
SPEEDS = (130, 160, 190)  # words per minute
PITCHES = (30, 50, 70)  # espeak-ng 0-99
RATE = 22050  # Hz, espeak-ng's output rate
CLIP_S = 1.0
MARGIN_S = 0.05  # background kept before and after a whole word
_TRIM_DB = 40.0  # a word is the span of frames within this of its loudest frame


@dataclass(frozen=True)
class Voice:
    """One way of saying a word."""

    voice: str
    speed: int
    pitch: int

    @property
    def tag(self) -> str:
        """``en-us+f3-160-50``: a file-name-safe id."""
        return f"{self.voice}-{self.speed}-{self.pitch}"


def voices(n: int, seed: int = 0) -> list[Voice]:
    """``n`` distinct voice/speed/pitch combinations, drawn without replacement."""
    every = [Voice(v, s, p) for v in VOICES for s in SPEEDS for p in PITCHES]
    picks = np.random.default_rng(seed).permutation(len(every))[:n]
    return [every[i] for i in sorted(picks)]


@cache
def spoken_word(word: str, voice: Voice) -> np.ndarray:
    """espeak-ng's ``word`` in ``voice``, trimmed to the word itself: float32 (N,)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SourceError("espeak-ng is not on PATH; install it (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        audio, rate = speak(espeak, Path(tmp), word, voice.voice, voice.speed, voice.pitch)
    if rate != RATE:
        raise SourceError(f"espeak-ng wrote {rate} Hz audio; expected {RATE}")
    frame = RATE // 50  # 20 ms
    n = len(audio) // frame
    power = np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-20  # (F,)
    level = 10 * np.log10(power)
    on = np.flatnonzero(level >= level.max() - _TRIM_DB)
    word_audio = audio[on[0] * frame : (on[-1] + 1) * frame]
    return word_audio.astype(np.float32)


def room_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Steady low-passed noise with unit mean power: float32 (n,)."""
    from scipy.signal import lfilter

    white = rng.normal(0.0, 1.0, n + 200)
    alpha = 0.7  # one-pole low-pass, corner near 1.2 kHz at 22050 Hz
    shaped = lfilter([1 - alpha], [1.0, -alpha], white)[200:]  # drop the warm-up
    return (shaped / np.sqrt(np.mean(shaped**2))).astype(np.float32)


def place(
    word: np.ndarray,
    snr_db: float | None,
    rng: np.random.Generator,
    level_dbfs: float = -20.0,
    cut: str | None = None,
    cut_at: float = 0.5,
) -> np.ndarray:
    """A 1 s clip (RATE,) float32 holding ``word`` (N,) at ``level_dbfs`` mean power.

    ``cut`` None: the whole word at a uniform offset (``MARGIN_S`` from either edge);
    ``"start"``: the clip starts ``cut_at`` of the way into the word; ``"end"``: it
    stops there. ``snr_db`` None: no noise (digital silence around the word)."""
    length = round(RATE * CLIP_S)
    gain = 10 ** (level_dbfs / 20) / np.sqrt(np.mean(word**2) + 1e-20)
    word = word * gain
    clip = np.zeros(length, np.float32)
    split = round(len(word) * cut_at)
    if cut == "start":
        part = word[split:][:length]
        clip[: len(part)] = part
    elif cut == "end":
        part = word[:split][-length:]
        clip[length - len(part) :] = part
    else:
        margin = round(RATE * MARGIN_S)
        word = word[: length - 2 * margin]
        start = int(rng.integers(margin, length - margin - len(word) + 1))
        clip[start : start + len(word)] = word
    if snr_db is not None:
        noise_power = 10 ** ((level_dbfs - snr_db) / 10)
        noise = room_noise(length, rng) * np.float32(np.sqrt(noise_power))  # (RATE,)
        return np.clip(clip + noise, -1.0, 1.0).astype(np.float32)
    return np.clip(clip, -1.0, 1.0)


@dataclass(frozen=True)
class KeywordClip:
    word: str
    voice: Voice
    snr_db: float | None  # None: clean
    cut: str | None  # None (whole), "start" or "end"
    audio: np.ndarray  # (RATE,) float32

    @property
    def name(self) -> str:
        snr = "clean" if self.snr_db is None else f"snr{self.snr_db:g}"
        return f"{self.word}-{self.voice.tag}-{snr}" + (f"-cut-{self.cut}" if self.cut else "")


def keyword_clips(
    words: Sequence[str],
    n_voices: int,
    snrs: Sequence[float | None],
    seed: int = 0,
    cuts: Sequence[str | None] = (None,),
) -> Iterator[KeywordClip]:
    """Every word x ``n_voices`` voices x SNR x cut, each placed at its own random
    offset (a cut at 25-60% of the word). Deterministic for a given ``seed``."""
    rng = np.random.default_rng(seed)
    for word in words:
        for voice in voices(n_voices, seed):
            audio = spoken_word(word, voice)
            for snr in snrs:
                for cut in cuts:
                    at = float(rng.uniform(0.25, 0.6))
                    clip = place(audio, snr, rng, cut=cut, cut_at=at)
                    yield KeywordClip(word, voice, snr, cut, clip)


def write_keywords_folder(
    dest: Path,
    words: Sequence[str],
    voice_list: Sequence[Voice],
    snrs: Sequence[float | None] = (None, 40, 30, 20, 15, 10),
    noise: float = 0.0,
    seed: int = 0,
) -> AudioFolder:
    """Each word in each voice as a 1 s WAV (the word at a random place, under steady
    room noise at an SNR drawn from ``snrs``), with a manifest whose hashtags name the
    wrong word for a ``noise`` share of the clips, and a taxonomy ``word: ["#word"]``.
    Every clip is a whole word: a correct ingest quarantines none of them."""
    from flywheel.sample_data import SampleWriter, assign_roles, wav_bytes

    rng = np.random.default_rng(seed)
    writer = SampleWriter(Path(dest), {w: [f"#{w}"] for w in words}, rng)
    combos = [(w, v) for w in words for v in voice_list]
    roles = assign_roles(len(combos), rng, noise)
    for (word, voice), role in zip(combos, roles, strict=True):
        snr = snrs[int(rng.integers(len(snrs)))]
        clip = place(spoken_word(word, voice), snr, rng)
        kind = "clean" if snr is None else f"snr{snr:g}"
        rel = f"clips/{word}/{voice.tag}-{kind}.wav"
        writer.add(rel, wav_bytes(clip, RATE), word, f"kw-{word}-{voice.tag}", role)
    return writer.finish(AudioFolder, ("undecodable", "truncated", "near_silent", "cut_off"))
