"""The science core in plain torch: SAE checkpoints, encoding, training, feature statistics."""

from sae.io import SaeCheckpointError, load_sae, save_sae
from sae.model import MatryoshkaSae

__all__ = ["MatryoshkaSae", "SaeCheckpointError", "load_sae", "save_sae"]
