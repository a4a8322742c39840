"""Small convolutional frame encoder (the encoder-agnostic option; cheap at 64 px).

``depth`` stages, each ``Conv3x3(stride s) -> GroupNorm -> GELU -> Conv3x3 -> GroupNorm -> GELU``.
Stage i has ``min(base_width * 2**i, max_width)`` channels and stride 2 while the feature map is
larger than 4x4 (stride 1 afterwards, so a deep CNN never shrinks the map to nothing). Then the
final map is **flattened** (not average-pooled) into ``Linear(channels * h * w -> out_width)``:
global average pooling throws away *where* things are, and where the agent is is exactly what
the world model must encode (a pooled CNN can only recover position from padding artefacts).
At 64 px with depth 4 the map goes 64 -> 32 -> 16 -> 8 -> 4 with 32/64/128/256 channels.
"""

from __future__ import annotations

import torch
from torch import nn


def _group_norm(channels: int) -> nn.GroupNorm:
    groups = 8 if channels % 8 == 0 else 1
    return nn.GroupNorm(groups, channels)


class CNNEncoder(nn.Module):
    """Strided-conv encoder returning one feature vector per image.

    Args:
        image_size: square input side (plans the strides and the flattened head size).
        out_width: output feature width (``enc_width``).
        depth: number of stages.
        base_width: channels of the first stage. max_width: channel cap.
        in_channels: input channels (3 for RGB).
    """

    def __init__(
        self,
        image_size: int,
        out_width: int,
        depth: int = 4,
        base_width: int = 32,
        max_width: int = 256,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size, c_in = image_size, in_channels
        for i in range(depth):
            c_out = min(base_width * 2**i, max_width)
            stride = 2 if size > 4 else 1
            size = (size + stride - 1) // stride
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
                _group_norm(c_out),
                nn.GELU(),
                nn.Conv2d(c_out, c_out, 3, padding=1),
                _group_norm(c_out),
                nn.GELU(),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * size * size, out_width)
        self.width = out_width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x float (B, C, H, W), already normalised -> (B, out_width)."""
        return self.head(self.features(x).flatten(1))
