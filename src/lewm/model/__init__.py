"""Model parts: our ViT and CNN encoders, projector MLP, action encoder, AdaLN-zero predictor and
the assembled :class:`LeWM` (pure tensors in, tensors out)."""

from lewm.model.action import ActionEncoder
from lewm.model.cnn import CNNEncoder
from lewm.model.heads import Projector
from lewm.model.lewm import LeWM, build_encoder, sliding_windows
from lewm.model.predictor import Predictor
from lewm.model.vit import ViT

__all__ = [
    "ActionEncoder",
    "CNNEncoder",
    "LeWM",
    "Predictor",
    "Projector",
    "ViT",
    "build_encoder",
    "sliding_windows",
]
