"""ganzoo: a zoo of GAN variants, one training script, safe checkpoints, a latent explorer."""

__version__ = "0.1.0"

from ganzoo.checkpoint import CheckpointError, load, save  # noqa: E402
from ganzoo.config import PRESETS, ModelConfig, TrainConfig  # noqa: E402
from ganzoo.registry import create_model, list_models, register_model  # noqa: E402

__all__ = [
    "CheckpointError",
    "ModelConfig",
    "PRESETS",
    "TrainConfig",
    "create_model",
    "list_models",
    "load",
    "register_model",
    "save",
]
