"""Networks: the contract every model meets, and the architectures that meet it.

Below modalities (which build them from bytes' shapes) and train and score (which fit
and run them); it imports only torch and ``flywheel.errors``.

Public surface (pinned by tests/networks/test_public_api.py):

- ``Classifier``: the network contract (``embed``, ``head``, ``forward_with_embedding``,
  ``mc_dropout``, ``freeze_backbone``).
- ``SmallConvNet`` and ``EfficientNetLite0``: the architectures modalities build.
- ``load_weights(model, state, source)``: strict loading; ``CheckpointError`` when the
  tensors do not fit.
"""

from flywheel.networks.classifier import Classifier, SmallConvNet, load_weights
from flywheel.networks.efficientnet_lite import EfficientNetLite0, load_imagenet_weights
from flywheel.networks.errors import CheckpointError, NetworkError

__all__ = [
    "CheckpointError",
    "Classifier",
    "EfficientNetLite0",
    "NetworkError",
    "SmallConvNet",
    "load_imagenet_weights",
    "load_weights",
]
