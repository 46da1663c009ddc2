"""The checkpoint format: one ``torch.save`` file in object storage per model version,
``{warehouse}/models/<version>/<run_id>/model.pt``, holding a plain dict (loaded with
``weights_only=True``, so no pickled code runs)::

    {"format": "flywheel-checkpoint", "format_version": 1,
     "model_version": "m0003",            # the models row it belongs to (None: ad hoc)
     "modality": "image", "arch": "small-cnn",
     "class_names": ["zero", "one", ...],  # logit i is class_names[i]
     "input_spec": {...},                  # Modality.input_spec(arch): how bytes -> tensor
     "state_dict": {name: tensor}}

``load_checkpoint`` reads one and builds its network, failing with one clear line when
the file is not a checkpoint or does not fit the network its header names.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.fs as pafs
import torch

from flywheel.config import Settings
from flywheel.errors import NotFoundError, StorageError
from flywheel.lake import filesystem
from flywheel.networks import CheckpointError, load_weights

if TYPE_CHECKING:
    from flywheel.networks import Classifier

FORMAT = "flywheel-checkpoint"
FORMAT_VERSION = 1
_HEADER = ("modality", "arch", "class_names", "input_spec", "state_dict")


@dataclass(frozen=True)
class Checkpoint:
    """A trained network and what it takes to use it.

    >>> from flywheel.modalities import get_modality
    >>> net = get_modality("image").build_model(2, arch="tiny-cnn")
    >>> ckpt = Checkpoint.for_model(net, "image", "tiny-cnn", ["cat", "dog"])
    >>> Checkpoint.from_bytes(ckpt.to_bytes(), "memory").model.fc.out_features
    2
    """

    modality: str
    arch: str
    class_names: tuple[str, ...]
    input_spec: dict[str, Any]
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    model_version: str | None = None
    source: str = "memory"

    @classmethod
    def for_model(
        cls,
        model: Classifier,
        modality: str,
        arch: str,
        class_names: Sequence[str],
        model_version: str | None = None,
        input_spec: Mapping[str, Any] | None = None,
    ) -> Checkpoint:
        """Snapshot ``model``'s weights (copied to CPU) with its header; ``input_spec``
        is the one it was trained with (default: the modality's for ``arch``)."""
        from flywheel.modalities import get_modality

        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        spec = dict(input_spec) if input_spec else get_modality(modality).input_spec(arch)
        return cls(modality, arch, tuple(class_names), spec, state, model_version)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        torch.save(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "model_version": self.model_version,
                "modality": self.modality,
                "arch": self.arch,
                "class_names": list(self.class_names),
                "input_spec": self.input_spec,
                "state_dict": self.state_dict,
            },
            buf,
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, source: str) -> Checkpoint:
        """Parse a checkpoint file; ``source`` names it in errors."""
        doc = _torch_load(data, source)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise CheckpointError(
                f"{source} is not a flywheel checkpoint (no format={FORMAT!r} header); "
                "a plain state dict can only be used with --init-checkpoint"
            )
        if doc.get("format_version") != FORMAT_VERSION or any(k not in doc for k in _HEADER):
            raise CheckpointError(
                f"{source} is a flywheel checkpoint of format version "
                f"{doc.get('format_version')!r}; this flywheel reads version {FORMAT_VERSION}"
            )
        return cls(
            modality=str(doc["modality"]),
            arch=str(doc["arch"]),
            class_names=tuple(str(c) for c in doc["class_names"]),
            input_spec=dict(doc["input_spec"]),
            state_dict=dict(doc["state_dict"]),
            model_version=doc.get("model_version"),
            source=source,
        )

    @cached_property
    def model(self) -> Classifier:
        """The network with these weights, in ``eval()`` mode, on the CPU. Raises
        ``CheckpointError`` when the weights do not fit the header's arch and classes."""
        from flywheel.modalities import get_modality

        try:
            modality = get_modality(self.modality)
            arch = modality.resolve_arch(self.arch)
        except ValueError as err:
            raise CheckpointError(f"{self.source}: {err}") from None
        net = modality.build_model(len(self.class_names), arch, pretrained=False)
        load_weights(net, self.state_dict, source=f"checkpoint {self.source}")
        return net.eval()


def save_checkpoint(checkpoint: Checkpoint, uri: str, settings: Settings) -> str:
    """Write ``checkpoint`` at ``uri`` (local path, file:// or s3://), replacing any
    object there; a reader never sees half a file. Returns ``uri``."""
    write_object(uri, checkpoint.to_bytes(), settings)
    return uri


def load_checkpoint(
    uri: str, settings: Settings, class_names: Sequence[str] | None = None
) -> Checkpoint:
    """Read the checkpoint at ``uri`` and build its network (``.model``), checking that
    the weights fit it and, when given, that its classes are ``class_names`` in order.

    Raises ``NotFoundError`` when there is no object at ``uri`` and ``CheckpointError``
    when it is not a checkpoint or does not fit.
    """
    checkpoint = Checkpoint.from_bytes(read_object(uri, settings), uri)
    if class_names is not None and tuple(class_names) != checkpoint.class_names:
        raise CheckpointError(
            f"checkpoint {uri} predicts {list(checkpoint.class_names)}, "
            f"expected {list(class_names)}"
        )
    checkpoint.model  # noqa: B018 -- builds and checks the network now, not at first use
    return checkpoint


def read_init_state(
    uri: str, settings: Settings
) -> tuple[dict[str, torch.Tensor], Checkpoint | None]:
    """Weights to start training from: a flywheel checkpoint (returned too, for its
    header) or a plain PyTorch state dict such as a published ``.pth`` file."""
    data = read_object(uri, settings)
    doc = _torch_load(data, uri)
    if isinstance(doc, dict) and doc.get("format") == FORMAT:
        checkpoint = Checkpoint.from_bytes(data, uri)
        return checkpoint.state_dict, checkpoint
    if isinstance(doc, Mapping) and doc and all(isinstance(v, torch.Tensor) for v in doc.values()):
        return {str(k): v for k, v in doc.items()}, None
    raise CheckpointError(f"{uri} is neither a flywheel checkpoint nor a PyTorch state dict")


def read_object(uri: str, settings: Settings) -> bytes:
    fs, path = filesystem(uri, settings.s3)
    try:
        with fs.open_input_stream(path) as f:
            return bytes(f.read())
    except FileNotFoundError:
        raise NotFoundError(f"no checkpoint at {uri}") from None
    except OSError as err:
        if fs.get_file_info(path).type == pafs.FileType.NotFound:
            raise NotFoundError(f"no checkpoint at {uri}") from None
        raise StorageError(f"cannot read {uri}: {err}") from None


def write_object(uri: str, data: bytes, settings: Settings) -> None:
    """Write (or replace) the object at ``uri``: local files via a temp file and a
    rename, S3 objects with one PUT (atomic)."""
    fs, path = filesystem(uri, settings.s3)
    try:
        if isinstance(fs, pafs.LocalFileSystem):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=Path(path).parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
            return
        with fs.open_output_stream(path) as f:
            f.write(data)
    except OSError as err:
        raise StorageError(f"cannot write {uri}: {err}") from None


def _torch_load(data: bytes, source: str) -> Any:
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CheckpointError(f"{source} is not a readable PyTorch file: {first}") from None
