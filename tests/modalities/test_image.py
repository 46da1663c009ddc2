"""ImageModality on real digit PNGs from ``write_digits_folder`` and faults made from them."""

from __future__ import annotations

import io

import filetype
import pytest
from PIL import Image

from flywheel.errors import ConfigError
from flywheel.modalities import MediaFacts, Rejected, get_modality, modality_for_mime
from flywheel.modalities.image import ImageModality
from flywheel.sample_data import DigitsFolder, write_digits_folder


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> DigitsFolder:
    return write_digits_folder(tmp_path_factory.mktemp("digits"), n=200)


def inspect(data: bytes, modality: ImageModality | None = None) -> MediaFacts:
    mime = filetype.guess_mime(data) or "application/octet-stream"  # as ingest: magic bytes
    return (modality or ImageModality()).inspect(data, mime)


def rejected_file(digits: DigitsFolder, reason: str) -> bytes:
    (rel,) = [rel for rel, r in digits.rejected.items() if r == reason]
    return (digits.root / rel).read_bytes()


def any_digit(digits: DigitsFolder) -> bytes:
    return (digits.root / next(iter(digits.truth))).read_bytes()


def test_every_real_digit_passes_as_8x8_grayscale(digits: DigitsFolder) -> None:
    for rel in digits.truth:
        facts = inspect((digits.root / rel).read_bytes())
        assert (facts.width, facts.height, facts.channels) == (8, 8, 1), rel
        assert facts.duration_s is None and facts.sample_rate is None


def test_png_bytes_named_jpg_pass_as_png(digits: DigitsFolder) -> None:
    (rel,) = [rel for rel in digits.truth if rel.endswith(".jpg")]
    data = (digits.root / rel).read_bytes()
    assert filetype.guess_mime(data) == "image/png"
    assert inspect(data).width == 8


@pytest.mark.parametrize("reason", ["undecodable", "truncated", "too_small"])
def test_planted_fault_is_rejected_with_its_reason(digits: DigitsFolder, reason: str) -> None:
    with pytest.raises(Rejected) as info:
        inspect(rejected_file(digits, reason))
    assert info.value.reason == reason
    assert "BytesIO" not in info.value.detail  # detail is for people, not a repr


def test_truncated_jpeg_is_rejected_as_truncated(digits: DigitsFolder) -> None:
    buf = io.BytesIO()
    Image.open(io.BytesIO(any_digit(digits))).resize((64, 64)).save(buf, format="JPEG")
    with pytest.raises(Rejected) as info:
        inspect(buf.getvalue()[: len(buf.getvalue()) // 2])
    assert info.value.reason == "truncated"


def test_rgb_image_reports_three_channels(digits: DigitsFolder) -> None:
    buf = io.BytesIO()
    Image.open(io.BytesIO(any_digit(digits))).convert("RGB").resize((32, 24)).save(buf, "PNG")
    facts = inspect(buf.getvalue())
    assert (facts.width, facts.height, facts.channels) == (32, 24, 3)


def test_min_side_is_a_parameter(digits: DigitsFolder) -> None:
    assert inspect(rejected_file(digits, "too_small"), ImageModality(min_side=4)).width == 4
    with pytest.raises(Rejected, match="too_small"):
        inspect(any_digit(digits), ImageModality(min_side=9))
    with pytest.raises(ConfigError, match="min_side"):
        ImageModality(min_side=0)


def test_image_modality_is_registered() -> None:
    assert isinstance(get_modality("image", min_side=2), ImageModality)
    assert modality_for_mime("image/png") == "image"
    assert ImageModality.quality_checks == ("undecodable", "truncated", "too_small")


def test_random_bytes_without_magic_are_undecodable() -> None:
    with pytest.raises(Rejected) as info:
        ImageModality().inspect(b"not an image at all" * 10, "image/png")
    assert info.value.reason == "undecodable"
