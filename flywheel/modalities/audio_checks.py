"""The audio quality checks, decided against each clip's own noise floor.

A clip is cut into ``frame_ms`` frames and each frame's RMS level taken in dBFS (0 dBFS
is a full-scale square wave). The clip's *noise floor* is a low percentile of those
levels (the background between and around words), taken over the frames within
``dynamic_range_db`` of the peak (digital silence or zero padding is not the room, and
would make the room's own noise look loud). Then:

- ``near_silent``: the loudest frame is under ``silence_floor_dbfs``, or it rises less
  than ``min_snr_db`` above the floor (there is nothing but steady noise);
- ``cut_off``: the first or the last ``edge_ms`` of the clip sits more than
  ``edge_rise_db`` above the floor, i.e. sound is already on when the recording starts,
  or still on when it stops. A whole word under noise has its edges at the floor however
  loud the noise is; a word cut mid-way has its edge at word level.

Defaults and the measurements behind them: docs/decisions/audio-checks.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from flywheel.errors import ConfigError


@dataclass(frozen=True)
class AudioChecks:
    """Thresholds of the audio checks (every one has an ``flywheel ingest`` flag).

    >>> AudioChecks().edge_rise_db
    6.0
    """

    frame_ms: float = 20.0  # analysis frame, ms
    silence_floor_dbfs: float = -40.0  # loudest frame below this: near-silent
    floor_percentile: float = 10.0  # percentile of frame levels taken as the noise floor
    dynamic_range_db: float = 60.0  # frames further under the peak are not background
    min_snr_db: float = 6.0  # peak within this of the floor: near-silent (noise only)
    edge_ms: float = 40.0  # how much of each end is compared with the floor
    edge_rise_db: float = 6.0  # an end this far above the floor: sound is cut off there

    def __post_init__(self) -> None:
        for name in ("frame_ms", "dynamic_range_db", "min_snr_db", "edge_ms", "edge_rise_db"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"audio check {name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.floor_percentile < 50:
            raise ConfigError(
                f"audio check floor_percentile must be in [0, 50), got {self.floor_percentile}"
            )

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


# One line per setting, for the ``flywheel ingest --audio-...`` flags.
CHECK_HELP = {
    "frame_ms": "Analysis frame of the audio checks, ms.",
    "silence_floor_dbfs": "near_silent when the loudest frame is below this, dBFS.",
    "floor_percentile": "Percentile of frame levels taken as the clip's noise floor.",
    "dynamic_range_db": "Frames this far under the peak are padding, not noise floor, dB.",
    "min_snr_db": "near_silent when the peak rises less than this above the floor, dB.",
    "edge_ms": "How much of each end of a clip is compared with its noise floor, ms.",
    "edge_rise_db": "cut_off when an end is this far above the noise floor, dB.",
}


@dataclass(frozen=True)
class Levels:
    """What the checks saw in one clip, dB (dBFS for ``peak`` and ``floor``)."""

    peak: float
    floor: float
    start: float  # level of the first edge_ms
    end: float  # level of the last edge_ms


def frame_levels_dbfs(mono: np.ndarray, sample_rate: int, frame_ms: float = 20.0) -> np.ndarray:
    """RMS level of each whole ``frame_ms`` frame of ``mono`` (N,) in dBFS, shape (F,).
    A last partial frame is dropped; digital silence reads -200 dBFS.

    >>> frame_levels_dbfs(np.ones(800, dtype=np.float32), 8000, 20.0).round(1)
    array([0., 0., 0., 0., 0.], dtype=float32)
    """
    frame = max(1, round(sample_rate * frame_ms / 1000))  # samples per frame
    n = len(mono) // frame
    frames = mono[: n * frame].reshape(n, frame)  # (F, frame)
    rms = np.sqrt(np.mean(np.square(frames), axis=1))  # (F,)
    return 20 * np.log10(np.maximum(rms, 1e-10))


def measure(level: np.ndarray, checks: AudioChecks) -> Levels:
    """Peak, noise floor and edge levels of frame levels ``level`` (F,) dBFS, F >= 1."""
    peak = float(level.max())
    # Frames far under the peak are digital silence or padding, not the room: left out.
    background = level[level >= peak - checks.dynamic_range_db]  # (F',), F' >= 1
    floor = float(np.percentile(background, checks.floor_percentile))
    k = max(1, min(len(level), round(checks.edge_ms / checks.frame_ms)))  # frames per edge

    def power_mean_db(part: np.ndarray) -> float:
        return float(10 * np.log10(np.mean(10 ** (part.astype(np.float64) / 10))))

    return Levels(peak, floor, power_mean_db(level[:k]), power_mean_db(level[-k:]))


def find_fault(level: np.ndarray, checks: AudioChecks) -> tuple[str, str] | None:
    """``(reason, detail)`` of the first check that frame levels ``level`` (F,) fail,
    or None when the clip passes."""
    if level.size == 0:
        return "near_silent", f"the clip is shorter than one {checks.frame_ms:g} ms frame"
    m = measure(level, checks)
    if m.peak < checks.silence_floor_dbfs:
        return "near_silent", (
            f"loudest frame {m.peak:.1f} dBFS < floor {checks.silence_floor_dbfs:g} dBFS"
        )
    if m.peak - m.floor < checks.min_snr_db:
        return "near_silent", (
            f"nothing rises {checks.min_snr_db:g} dB above the noise floor "
            f"({m.floor:.1f} dBFS; loudest frame {m.peak:.1f} dBFS)"
        )
    for edge, at in (("start", m.start), ("end", m.end)):
        if at - m.floor > checks.edge_rise_db:
            return "cut_off", (
                f"sound is on at the {edge} of the clip: its {checks.edge_ms:g} ms there are "
                f"{at - m.floor:.1f} dB above the noise floor ({m.floor:.1f} dBFS; "
                f"limit {checks.edge_rise_db:g} dB)"
            )
    return None
