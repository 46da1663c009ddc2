"""Audio clips: decode with libsndfile, reject clips a keyword model cannot learn from.

Checks, in order (each one a ``Rejected.reason``), after the Speech Commands clean-up:

- ``undecodable``: libsndfile cannot open the bytes.
- ``truncated``: a WAV whose ``data`` chunk declares more bytes than the file holds
  (libsndfile silently returns the frames that are there, so we read the header).
- ``near_silent`` and ``cut_off``: decided against the clip's own noise floor
  (``flywheel.modalities.audio_checks``): nothing rises above the floor, or sound is
  already on when the recording starts or still on when it stops.

Levels are RMS in dBFS: 0 dBFS is a full-scale square wave, a full-scale sine is -3.

Network (``archs``): ``speech-cnn``, in the spirit of the PyTorch Speech Commands
tutorial: a clip is resampled to 16 kHz mono, and its loudest ``window_s`` (0.5 s) is
found and put at the centre of a 1 s input, whatever the clip's length (a word at the
start or at the end of a one-second clip gives the same input; see
docs/decisions/audio-loudest-window.md), then turned into a 40-band log-mel spectrogram (25 ms windows, 10 ms hop),
standardised per clip so the gain of the recording does not matter; three conv blocks
classify it.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf

from flywheel.errors import ConfigError
from flywheel.modalities.audio_checks import AudioChecks, find_fault, frame_levels_dbfs

__all__ = [
    "AudioChecks",
    "AudioModality",
    "frame_levels_dbfs",
    "loudest_centre",
    "speech_mel_power",
]
from flywheel.modalities.base import MediaFacts, Modality, Rejected

if TYPE_CHECKING:
    import torch

    from flywheel.networks import Classifier

# Writers that cannot seek back (a pipe) leave a placeholder data size: 0xFFFFFFFF, or
# 0x7FFFF000 from ``espeak-ng --stdout``. Sizes from here up mean "unknown", not "lies".
_UNKNOWN_SIZE = 0x7FFFF000

# The input of ``speech-cnn``: rate in Hz, clip length in seconds, mel bands, and the
# FFT window and hop in samples (25 ms and 10 ms at 16 kHz).
_SPEECH_SPEC: dict[str, Any] = {
    "sample_rate": 16000,
    "clip_s": 1.0,
    "window_s": 0.5,  # the loudest this-long window is centred in the clip_s input
    "n_mels": 40,
    "n_fft": 400,
    "hop": 160,
}


class AudioModality(Modality):
    """Audio in any container libsndfile reads (WAV, FLAC, OGG/Vorbis, AIFF, ...).

    >>> AudioModality().quality_checks
    ('undecodable', 'truncated', 'near_silent', 'cut_off')
    """

    name = "audio"
    mime_prefixes = ("audio/",)
    quality_checks = ("undecodable", "truncated", "near_silent", "cut_off")
    archs = ("speech-cnn",)

    def __init__(self, **checks: float) -> None:
        """``checks``: thresholds by name, see ``AudioChecks`` (all optional)."""
        unknown = sorted(set(checks) - set(AudioChecks.__dataclass_fields__))
        if unknown:
            raise ConfigError(
                f"unknown audio check setting(s) {', '.join(unknown)}; valid: "
                + ", ".join(AudioChecks.__dataclass_fields__)
            )
        self.checks = AudioChecks(**checks)

    def inspect(self, data: bytes, mime: str) -> MediaFacts:
        """Decode, check, and return duration (seconds), sample rate (Hz) and channels."""
        try:
            samples, sample_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except sf.LibsndfileError as err:
            raise Rejected("undecodable", f"libsndfile: {err.error_string} ({mime})") from None
        except (RuntimeError, TypeError, ValueError, EOFError) as err:
            raise Rejected("undecodable", f"libsndfile: {err} ({mime})") from None
        missing = _wav_missing_bytes(data)
        if missing > 0:
            raise Rejected("truncated", f"the WAV header declares {missing} more bytes of audio")
        self._check_levels(samples.mean(axis=1), sample_rate)  # (N, C) -> mono (N,)
        n_frames, channels = samples.shape
        return MediaFacts(
            duration_s=n_frames / sample_rate, sample_rate=int(sample_rate), channels=channels
        )

    def input_spec(self, arch: str | None = None) -> dict[str, Any]:
        """The feature settings of ``arch``, JSON-able.

        >>> AudioModality().input_spec()["n_mels"]
        40
        """
        return {"modality": self.name, "arch": self.resolve_arch(arch), **_SPEECH_SPEC}

    def input_shape(self, spec: Mapping[str, Any] | None = None) -> tuple[int, int, int]:
        """(1, n_mels, frames): frames = clip samples // hop + 1.

        >>> AudioModality().input_shape()
        (1, 40, 101)
        """
        spec = spec if spec is not None else self.input_spec()
        length = round(spec["sample_rate"] * spec["clip_s"])
        return (1, int(spec["n_mels"]), length // int(spec["hop"]) + 1)

    def to_tensor(self, data: bytes, spec: Mapping[str, Any] | None = None) -> torch.Tensor:
        """Bytes -> standardised log-mel spectrogram, float32 (1, n_mels, frames);
        frames = clip samples // hop + 1 (101 for 1 s)."""
        import torch
        import torchaudio.functional as AF

        spec = spec if spec is not None else self.input_spec()
        try:
            samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, EOFError) as err:
            raise Rejected("undecodable", f"libsndfile: {err}") from None
        wave = torch.from_numpy(samples.mean(axis=1))  # (N,) mono
        if rate != spec["sample_rate"]:
            wave = AF.resample(wave, int(rate), int(spec["sample_rate"]))
        length = round(spec["sample_rate"] * spec["clip_s"])
        if spec.get("window_s"):
            window = round(spec["sample_rate"] * spec["window_s"])
            wave = _centre_loudest(wave, length, window)  # (L,)
        else:  # checkpoints from before window_s: the loudest clip_s, not centred
            wave = _loudest_window(wave, length)  # (L,)
        mel = _mel(spec["sample_rate"], spec["n_fft"], spec["hop"], spec["n_mels"])(wave)
        logmel = torch.log(mel + 1e-6)  # (n_mels, frames)
        logmel = (logmel - logmel.mean()) / (logmel.std() + 1e-5)
        return logmel.unsqueeze(0).to(torch.float32)  # (1, n_mels, frames)

    def build_model(
        self,
        num_classes: int,
        arch: str | None = None,
        pretrained: bool | None = None,
        freeze_backbone: bool = False,
    ) -> Classifier:
        """A small conv net on log-mel spectrograms (no pretrained weights)."""
        from flywheel.networks import SmallConvNet

        self.resolve_arch(arch)
        if pretrained:
            raise ConfigError("speech-cnn has no pretrained weights; leave pretrained unset")
        model = SmallConvNet(in_channels=1, num_classes=num_classes, widths=(16, 32, 64))
        if freeze_backbone:
            model.freeze_backbone()
        return model

    def _check_levels(self, mono: np.ndarray, sample_rate: int) -> None:
        level = frame_levels_dbfs(mono, sample_rate, self.checks.frame_ms)  # (F,) dBFS
        fault = find_fault(level, self.checks)
        if fault is not None:
            raise Rejected(*fault)


def loudest_start(mono: np.ndarray, window: int) -> int:
    """Start of the ``window`` samples of ``mono`` (N,) with the most energy (0 when
    the clip is shorter than the window).

    >>> loudest_start(np.array([0, 0, 0, 1, 1, 0], dtype=np.float32), 2)
    3
    """
    if len(mono) <= window:
        return 0
    energy = np.concatenate([[0.0], np.cumsum(np.square(mono, dtype=np.float64))])  # (N+1,)
    return int(np.argmax(energy[window:] - energy[:-window]))  # window sums, (N-W+1,)


def loudest_centre(mono: np.ndarray, window: int) -> int:
    """The energy centroid (a sample index) of ``mono``'s (N,) loudest ``window``: where
    the sound is. Many windows can hold a short word whole; the centroid is the word's
    middle in each of them.

    >>> loudest_centre(np.array([0, 0, 0, 1, 1, 0, 0, 0], dtype=np.float32), 6)
    3
    """
    start = loudest_start(mono, window)
    power = np.square(mono[start : start + window], dtype=np.float64)  # (W,)
    if power.sum() <= 0:
        return start + min(window, len(mono)) // 2
    return start + int(np.sum(np.arange(len(power)) * power) / power.sum())


def _centre_loudest(wave: torch.Tensor, length: int, window: int) -> torch.Tensor:
    """``length`` samples of ``wave`` (N,) whose middle is the energy centroid of its
    loudest ``window``: (length,). A short clip is zero-padded first; the chosen stretch is
    rolled (its ends wrap) so the loudest window sits exactly in the middle even when
    it lies near an end of the clip."""
    import torch
    import torch.nn.functional as F

    n = wave.shape[0]
    if n < length:
        left = (length - n) // 2
        wave, n = F.pad(wave, (left, length - n - left)), length
    window = min(window, n)
    centre = loudest_centre(wave.numpy(), window)
    begin = min(max(centre - length // 2, 0), n - length)
    return torch.roll(wave[begin : begin + length], length // 2 - (centre - begin))


def _loudest_window(wave: torch.Tensor, length: int) -> torch.Tensor:
    """The ``length`` samples of ``wave`` (N,) with the most energy, zero-padded on both
    sides when the clip is shorter: (length,)."""
    import torch
    import torch.nn.functional as F

    n = wave.shape[0]
    if n <= length:
        left = (length - n) // 2
        return F.pad(wave, (left, length - n - left))
    energy = torch.cat([torch.zeros(1), torch.cumsum(wave.double() ** 2, 0)])  # (N+1,)
    start = int(torch.argmax(energy[length:] - energy[:-length]))  # window sums, (N-L+1,)
    return wave[start : start + length]


def speech_mel_power(data: bytes) -> torch.Tensor:
    """The whole recording's mel power spectrogram at the speech model's settings, float32
    (n_mels, frames): mono, resampled, no window and no normalisation, for views that read
    the whole clip (the model's input is ``AudioModality.to_tensor``)."""
    import torch
    import torchaudio.functional as AF

    spec = _SPEECH_SPEC
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)  # (N, C)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, EOFError) as err:
        raise Rejected("undecodable", f"libsndfile: {err}") from None
    wave = torch.from_numpy(samples.mean(axis=1))  # (N,)
    if rate != spec["sample_rate"]:
        wave = AF.resample(wave, int(rate), int(spec["sample_rate"]))
    mel = _mel(spec["sample_rate"], spec["n_fft"], spec["hop"], spec["n_mels"])
    return mel(wave).to(torch.float32)  # (n_mels, frames)


@cache
def _mel(sample_rate: int, n_fft: int, hop: int, n_mels: int) -> Any:
    """One ``MelSpectrogram`` per setting per process (it holds the filter bank)."""
    from torchaudio.transforms import MelSpectrogram

    return MelSpectrogram(sample_rate, n_fft=n_fft, hop_length=hop, n_mels=n_mels)


def _wav_missing_bytes(data: bytes) -> int:
    """How many bytes a RIFF/WAVE file's ``data`` chunk declares beyond the end of
    ``data``; 0 when it is complete, not a WAV, or the size is a placeholder."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return 0
    offset = 12
    while offset + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, offset)
        if chunk_id == b"data":
            present = len(data) - (offset + 8)
            return 0 if size >= _UNKNOWN_SIZE else max(0, size - present)
        offset += 8 + size + (size & 1)  # chunks are padded to an even length
    return 0
