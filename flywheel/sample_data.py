"""Real sample data for tests, the demo and benchmarks: folder sources with a manifest,
a taxonomy, planted faults, and the counts an ingest of them must produce.

- ``write_digits_folder``: scikit-learn's 8x8 handwritten digits as grayscale PNG.
- ``write_spoken_words_folder``: words spoken by espeak-ng as 16-bit mono WAV.

Both are deterministic for a given ``seed``. Layout::

    dest/images/<class>/<index>.png   (or dest/clips/<word>/<voice>-<speed>.wav)
    dest/manifest.jsonl               {"path": "images/three/0042.png", "tags": [...],
                                       "source_ref": "digits-42"} per line
    dest/taxonomy.yaml                classes: {three: ["#three", "#3"], ...}

Tags are hashtags. A few items (about 2%) carry the tags of two classes (ambiguous), a
few have no manifest line (untagged), and about 1% carry another class's tag
(mislabelled: the weak label is wrong, ``truth`` has the right one).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import soundfile as sf
import yaml
from PIL import Image

from flywheel.errors import ConfigError, SourceError

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPOKEN_WORDS = ("yes", "no", "up", "down", "left", "right")
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-029")
SPEEDS = (140, 175)  # espeak-ng words per minute
_IRRELEVANT_TAGS = ("#handwritten", "#scan", "#nofilter", "#throwback", "#dataset")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_NOISE_DBFS = -65.0  # RMS of the microphone hiss added around each spoken word


@dataclass(frozen=True)
class SampleFolder:
    """A folder source and the counts that a correct ingest of it produces.

    ``expected_new_samples == expected_weak_labelled + expected_ambiguous +
    expected_untagged``; duplicates and quarantined files are not new samples.
    """

    root: Path
    manifest: Path
    taxonomy: Path
    n_files: int  # media files written (good, faulty and duplicate)
    expected_new_samples: int  # distinct contents that pass every check
    expected_quarantine: dict[str, int]  # reason -> count
    expected_weak_labelled: int  # new samples whose tags name exactly one class
    expected_mislabelled: int  # ... of which that class is wrong
    expected_ambiguous: int  # new samples whose tags name two classes
    expected_untagged: int  # new samples without a manifest line
    expected_mismatched: int  # good files whose extension disagrees with their bytes
    expected_duplicates: int  # files whose bytes equal another file's
    truth: dict[str, str] = field(repr=False)  # relative path -> true class, files that pass
    rejected: dict[str, str] = field(repr=False)  # relative path -> quarantine reason


@dataclass(frozen=True)
class DigitsFolder(SampleFolder):
    """Quarantine reasons: undecodable, truncated, too_small, bad_manifest_line."""


@dataclass(frozen=True)
class AudioFolder(SampleFolder):
    """Quarantine reasons: undecodable, truncated, near_silent, cut_off."""


_F = TypeVar("_F", bound=SampleFolder)


@dataclass
class SampleWriter:
    """Writes media files and manifest lines, and counts what each file should become."""

    root: Path
    taxonomy: dict[str, list[str]]
    rng: np.random.Generator
    lines: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    truth: dict[str, str] = field(default_factory=dict)
    tags_of: dict[str, list[str] | None] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)

    def tags(self, role: str, label: str) -> list[str] | None:
        if role == "untagged":
            return None
        other = str(self.rng.choice([c for c in self.taxonomy if c != label]))
        classes = {"plain": [label], "ambiguous": [label, other], "mislabelled": [other]}[role]
        tags = [str(self.rng.choice(self.taxonomy[c])) for c in classes]
        extra = self.rng.choice(_IRRELEVANT_TAGS, size=self.rng.integers(0, 3), replace=False)
        return tags + [str(t) for t in extra]

    def add(
        self,
        rel: str,
        data: bytes,
        label: str,
        ref: str,
        role: str = "plain",
        outcome: str = "sample",  # "sample", "duplicate" or a quarantine reason
        tags: list[str] | None = None,
        mismatched: bool = False,
    ) -> list[str] | None:
        (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.root / rel).write_bytes(data)
        tags = self.tags_of[rel] = tags if tags is not None else self.tags(role, label)
        if tags is not None:
            self.lines.append(json.dumps({"path": rel, "tags": tags, "source_ref": ref}))
        self.counts.update(["files", outcome] + ([role] if outcome == "sample" else []))
        self.counts["mismatched"] += mismatched
        if outcome in ("sample", "duplicate"):
            self.truth[rel] = label
        else:
            self.rejected[rel] = outcome
        return tags

    def finish(self, cls: type[_F], reasons: tuple[str, ...]) -> _F:
        manifest, taxonomy = self.root / "manifest.jsonl", self.root / "taxonomy.yaml"
        manifest.write_text("".join(line + "\n" for line in self.lines))
        taxonomy.write_text(yaml.safe_dump({"classes": self.taxonomy}, sort_keys=False))
        c = self.counts
        return cls(
            root=self.root,
            manifest=manifest,
            taxonomy=taxonomy,
            n_files=c["files"],
            expected_new_samples=c["sample"],
            expected_quarantine={r: c[r] for r in reasons},
            expected_weak_labelled=c["plain"] + c["mislabelled"],
            expected_mislabelled=c["mislabelled"],
            expected_ambiguous=c["ambiguous"],
            expected_untagged=c["untagged"],
            expected_mismatched=c["mismatched"],
            expected_duplicates=c["duplicate"],
            truth=dict(self.truth),
            rejected=dict(self.rejected),
        )


def assign_roles(n: int, rng: np.random.Generator, noise: float = 0.01) -> list[str]:
    """Tag roles for n items, shuffled: ~2% ambiguous, ~2% untagged, ``noise`` (at least
    one item) mislabelled."""
    k, k_wrong = max(1, n // 50), max(int(noise > 0), round(n * noise))
    roles = ["ambiguous"] * k + ["untagged"] * k + ["mislabelled"] * k_wrong
    roles += ["plain"] * (n - len(roles))
    return [roles[i] for i in rng.permutation(n)]


def _png(pixels: np.ndarray) -> bytes:
    """(H, W) digits values 0..16 -> grayscale PNG bytes, scaled to 0..255."""
    buf = io.BytesIO()
    Image.fromarray((pixels * 255 / 16).round().astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def write_digits_folder(
    dest: Path,
    n: int | None = None,
    seed: int = 0,
    faults: bool = True,
    noise: float = 0.01,
    indices: Sequence[int] | None = None,
) -> DigitsFolder:
    """Write ``n`` good digit images (default: all 1797, less the 4 used for faults) and,
    with ``faults``, one each of: corrupt (PNG signature + random bytes), truncated (half
    a PNG), PNG bytes named .jpg (a good sample), a duplicate of a good file, a 4x4
    image, and an unparseable manifest line. ``noise`` is the share of items whose
    hashtag names another digit (weak labels made wrong on purpose). ``indices`` picks
    which of the 1797 digits are the good items (e.g. disjoint pool and test folders);
    ``n`` is then their number."""
    from sklearn.datasets import load_digits  # slow import; only needed here

    if not 0 <= noise <= 0.9:
        raise ConfigError(f"noise must be in 0..0.9, got {noise}")

    digits = load_digits()
    n_faults = 4 if faults else 0
    if indices is not None:
        n = len(indices)
    n = len(digits.images) - n_faults if n is None else n
    if not 4 <= n <= len(digits.images) - n_faults:  # 4: one item of each tag role
        raise ConfigError(f"n must be in 4..{len(digits.images) - n_faults}, got {n}")
    rng = np.random.default_rng(seed)
    taxonomy = {name: [f"#{name}", f"#{d}"] for d, name in enumerate(DIGIT_NAMES)}
    w = SampleWriter(Path(dest), taxonomy, rng)
    order = [int(i) for i in rng.permutation(len(digits.images))]
    if indices is not None:
        chosen = [int(i) for i in indices]
        order = chosen + [i for i in order if i not in set(chosen)]
    roles = assign_roles(n, rng, noise)
    for i, role in zip(order[:n], roles, strict=True):
        label = DIGIT_NAMES[digits.target[i]]
        w.add(f"images/{label}/{i:04d}.png", _png(digits.images[i]), label, f"digits-{i}", role)
    if faults:
        original = order[roles.index("plain")]
        _add_digit_faults(w, digits.images, digits.target, order[n : n + n_faults], original)
    reasons = ("undecodable", "truncated", "too_small", "bad_manifest_line")
    return w.finish(DigitsFolder, reasons)


def lump_classes(folder: _F, into: str, classes: Sequence[str]) -> _F:
    """Rewrite ``folder``'s taxonomy so that the tags of ``classes`` all map to one class
    ``into``: a feed with a bad tag mapping, one weak class holding several real ones.
    Returns ``folder`` (its truth keeps the real classes)."""
    taxonomy = yaml.safe_load(folder.taxonomy.read_text())
    mapping = taxonomy["classes"]
    missing = [c for c in classes if c not in mapping]
    if missing or len(classes) < 2 or into in mapping:
        raise ConfigError(f"cannot lump {list(classes)} into {into!r}: need >= 2 known classes "
                          f"and a new name (unknown: {missing})")  # fmt: skip
    mapping[into] = [tag for c in classes for tag in mapping.pop(c)]
    folder.taxonomy.write_text(yaml.safe_dump(taxonomy, sort_keys=False))
    return folder


def _add_digit_faults(
    w: SampleWriter, images: np.ndarray, target: np.ndarray, spare: list[int], original: int
) -> None:
    name = [DIGIT_NAMES[target[i]] for i in spare]
    a, b, c, d = spare
    corrupt = _PNG_SIGNATURE + w.rng.bytes(120)
    w.add(f"images/{name[0]}/{a:04d}.png", corrupt, name[0], f"digits-{a}", outcome="undecodable")
    half = _png(images[b])[: len(_png(images[b])) // 2]
    w.add(f"images/{name[1]}/{b:04d}.png", half, name[1], f"digits-{b}", outcome="truncated")
    w.add(f"images/{name[2]}/{c:04d}.jpg", _png(images[c]), name[2], f"digits-{c}", mismatched=True)
    tiny = _png(images[d][2:6, 2:6])  # (4, 4)
    w.add(f"images/{name[3]}/{d:04d}.png", tiny, name[3], f"digits-{d}", outcome="too_small")
    label = DIGIT_NAMES[target[original]]
    rel = f"images/{label}/{original:04d}.png"
    copy, tags = (w.root / rel).read_bytes(), w.tags_of[rel]
    w.add(
        rel[:-4] + "-copy.png",
        copy,
        label,
        f"digits-{original}-repost",
        tags=tags,
        outcome="duplicate",
    )
    w.lines.insert(len(w.lines) // 2, '{"path": "images/lost.png", "tags": ["#three"')
    w.counts["bad_manifest_line"] += 1


def write_spoken_words_folder(
    dest: Path,
    words: tuple[str, ...] = SPOKEN_WORDS,
    faults: bool = True,
    seed: int = 0,
    voices: tuple[str, ...] = VOICES,
    speeds: tuple[int, ...] = SPEEDS,
) -> AudioFolder:
    """Write each word spoken by espeak-ng in every voice at every speed, padded with
    0.10-0.25 s of faint hiss (-65 dBFS RMS) on each side as a microphone would record
    it, and, with ``faults``, one each of: near-silent (a clip at -60 dB), cut off (a
    clip that stops at its loudest sample), truncated (a WAV cut to 60% of its bytes,
    so the header lies), undecodable (``RIFF....WAVE`` then random bytes)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SourceError("espeak-ng is not on PATH; install it (apt-get install espeak-ng)")
    combos = [(word, voice, speed) for word in words for voice in voices for speed in speeds]
    if len(words) < 2 or len(combos) < 4:  # 4: one clip of each tag role
        raise ConfigError(f"need >= 2 words and >= 4 clips, got {len(words)} and {len(combos)}")
    rng = np.random.default_rng(seed)
    w = SampleWriter(Path(dest), {word: [f"#{word}"] for word in words}, rng)
    with tempfile.TemporaryDirectory() as tmp:
        spoken = [speak(espeak, Path(tmp), *combo) for combo in combos]  # [(N,)], 22050 Hz
    roles = assign_roles(len(combos), rng)
    for (word, voice, speed), (audio, rate), role in zip(combos, spoken, roles, strict=True):
        clip = wav_bytes(_pad(audio, rate, rng), rate)
        w.add(
            f"clips/{word}/{voice}-{speed}.wav", clip, word, f"espeak-{voice}-{speed}-{word}", role
        )
    if faults:
        _add_audio_faults(w, combos[:4], spoken[:3])
    return w.finish(AudioFolder, ("undecodable", "truncated", "near_silent", "cut_off"))


def speak(
    espeak: str, tmp: Path, word: str, voice: str, speed: int, pitch: int | None = None
) -> tuple[np.ndarray, int]:
    """``word`` spoken by espeak-ng (``voice``, ``speed`` words a minute, ``pitch`` 0-99):
    float32 samples (N,) and the rate (22050 Hz)."""
    path = tmp / "word.wav"
    cmd = [espeak, "-v", voice, "-s", str(speed), "-w", str(path), word]
    if pitch is not None:
        cmd[1:1] = ["-p", str(pitch)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not path.exists():
        raise SourceError(f"espeak-ng failed for voice {voice!r}: {done.stderr.strip()}")
    audio, rate = sf.read(path, dtype="float32")
    return audio, int(rate)


def _hiss(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.0, 10 ** (_NOISE_DBFS / 20), n).astype(np.float32)  # (n,)


def _pad(audio: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """(N,) -> (lead + N + trail,): the word with 0.10-0.25 s of hiss on each side."""
    lead, trail = (_hiss(int(rate * rng.uniform(0.10, 0.25)), rng) for _ in range(2))
    return np.clip(np.concatenate([lead, audio, trail]), -1.0, 1.0)


def wav_bytes(audio: np.ndarray, rate: int) -> bytes:
    """``audio`` (N,) float in [-1, 1] at ``rate`` Hz as a 16-bit PCM WAV file's bytes."""
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _add_audio_faults(
    w: SampleWriter, combos: list[tuple[str, str, int]], spoken: list[tuple[np.ndarray, int]]
) -> None:
    """One fault per reason, made from the first three clips and named after the first
    four (the undecodable one has no audio in it)."""
    (quiet, rate_q), (spoken_cut, rate_c), (whole, rate_t) = spoken  # (N,) each
    stop = int(np.abs(spoken_cut).argmax()) + 1  # the recording stops mid-vowel
    whole_wav = wav_bytes(_pad(whole, rate_t, w.rng), rate_t)
    garbage = w.rng.bytes(4000)
    faults = {
        "near_silent": wav_bytes(_pad(quiet, rate_q, w.rng) * 10 ** (-60 / 20), rate_q),
        "cut_off": wav_bytes(
            np.concatenate([_hiss(int(rate_c * 0.15), w.rng), spoken_cut[:stop]]), rate_c
        ),
        "truncated": whole_wav[: len(whole_wav) * 6 // 10],  # the header now lies
        "undecodable": b"RIFF" + (len(garbage) + 4).to_bytes(4, "little") + b"WAVE" + garbage,
    }
    for (text, voice, speed), (reason, data) in zip(combos, faults.items(), strict=True):
        ref = f"espeak-{voice}-{speed}-{text}-{reason}"
        w.add(f"clips/{text}/{voice}-{speed}-{reason}.wav", data, text, ref, outcome=reason)
