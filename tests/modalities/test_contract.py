"""The contract every modality plugin honours, on a real sample of its media.

Each plugin gets a subclass of ``ModalityContract`` here that says how to make one real
good file (digits PNGs from ``flywheel.sample_data``, espeak-ng words from
``flywheel.keywords``); the tests themselves are inherited. A plugin registered without
a subclass fails ``test_every_registered_modality_has_a_contract``.
"""

from __future__ import annotations

import shutil
from typing import ClassVar

import filetype
import pytest
import torch

from flywheel.errors import ConfigError
from flywheel.modalities import Modality, Rejected, get_modality, modality_for_mime, names

NUM_CLASSES = 3
GARBAGE = b"these bytes are no known media format, only text" * 4


class ModalityContract:
    """Subclasses set ``name`` and implement ``sample``: one real, good file's bytes."""

    name: ClassVar[str]

    @pytest.fixture(scope="class")
    @classmethod
    def sample(cls, tmp_path_factory: pytest.TempPathFactory) -> bytes:
        raise NotImplementedError

    @pytest.fixture
    def modality(self) -> Modality:
        return get_modality(self.name)

    @staticmethod
    def mime(data: bytes) -> str:
        return filetype.guess_mime(data) or "application/octet-stream"  # as ingest does

    def test_the_sample_is_routed_here_and_passes_its_checks(
        self, modality: Modality, sample: bytes
    ) -> None:
        assert modality_for_mime(self.mime(sample)) == self.name
        assert modality.accepts(self.mime(sample))
        modality.inspect(sample, self.mime(sample))  # raises Rejected when it fails

    def test_decoding_is_deterministic(self, modality: Modality, sample: bytes) -> None:
        assert modality.inspect(sample, self.mime(sample)) == get_modality(self.name).inspect(
            sample, self.mime(sample)
        )
        first, again = modality.to_tensor(sample), get_modality(self.name).to_tensor(sample)
        assert torch.equal(first, again)

    @pytest.mark.parametrize("cut", [GARBAGE, "half"], ids=["garbage", "half"])
    def test_a_broken_file_is_rejected_with_a_declared_reason(
        self, modality: Modality, sample: bytes, cut: bytes | str
    ) -> None:
        data = sample[: len(sample) // 2] if cut == "half" else cut
        assert isinstance(data, bytes)
        with pytest.raises(Rejected) as info:
            modality.inspect(data, self.mime(sample))
        assert info.value.reason in modality.quality_checks
        assert info.value.detail and "\n" not in info.value.detail
        assert "BytesIO" not in info.value.detail  # for people, not a repr

    def test_undecodable_bytes_give_no_tensor(self, modality: Modality) -> None:
        with pytest.raises(Rejected) as info:
            modality.to_tensor(GARBAGE)
        assert info.value.reason == "undecodable"

    def test_every_arch_tensor_has_the_declared_shape_and_feeds_its_network(
        self, modality: Modality, sample: bytes
    ) -> None:
        assert modality.archs, "a modality declares at least one architecture"
        assert modality.input_spec() == modality.input_spec(modality.archs[0])
        for arch in modality.archs:
            spec = modality.input_spec(arch)
            assert (spec["modality"], spec["arch"]) == (self.name, arch)
            tensor = modality.to_tensor(sample, spec)
            assert tensor.dtype == torch.float32
            assert tuple(tensor.shape) == modality.input_shape(spec), arch
            assert torch.isfinite(tensor).all()
            batch = modality.collate([sample, sample], spec)
            assert tuple(batch.shape) == (2, *modality.input_shape(spec))
            model = modality.build_model(NUM_CLASSES, arch, pretrained=False).eval()
            with torch.no_grad():
                logits = model(batch)
            assert tuple(logits.shape) == (2, NUM_CLASSES), arch

    def test_an_unknown_arch_is_a_config_error(self, modality: Modality) -> None:
        with pytest.raises(ConfigError, match="no-such-net"):
            modality.input_spec("no-such-net")
        with pytest.raises(ConfigError, match="no-such-net"):
            modality.build_model(NUM_CLASSES, "no-such-net")

    def test_an_unknown_setting_is_a_one_line_config_error(self) -> None:
        with pytest.raises(ConfigError) as info:
            get_modality(self.name, no_such_setting=1)
        message = str(info.value)
        assert "no_such_setting" in message and "\n" not in message


class TestImage(ModalityContract):
    name = "image"

    @pytest.fixture(scope="class")
    @classmethod
    def sample(cls, tmp_path_factory: pytest.TempPathFactory) -> bytes:
        from flywheel.sample_data import write_digits_folder

        digits = write_digits_folder(tmp_path_factory.mktemp("digits"), n=4, faults=False)
        return (digits.root / sorted(digits.truth)[0]).read_bytes()


class TestAudio(ModalityContract):
    name = "audio"

    @pytest.fixture(scope="class")
    @classmethod
    def sample(cls, tmp_path_factory: pytest.TempPathFactory) -> bytes:
        if shutil.which("espeak-ng") is None:
            pytest.skip("espeak-ng is not installed")
        from flywheel.keywords import RATE, keyword_clips
        from flywheel.sample_data import wav_bytes

        (clip,) = keyword_clips(["yes"], 1, snrs=(30,), seed=0)
        return wav_bytes(clip.audio, RATE)


def test_every_registered_modality_has_a_contract() -> None:
    assert sorted(c.name for c in ModalityContract.__subclasses__()) == names()
