"""DCGAN with depthwise-separable convolutions (the MobileNet idea).

A k x k conv from C to C' costs k*k*C*C' weights; a depthwise k x k (groups = C) plus a
pointwise 1x1 costs k*k*C + C*C'. Same receptive field, a fraction of the parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from ganzoo.config import ModelConfig
from ganzoo.models.blocks import (
    Discriminator,
    Generator,
    SelfAttention,
    d_activation,
    d_norm_layer,
    plan_depth,
)
from ganzoo.models.dcgan import finish
from ganzoo.registry import register_model


def separable_conv(c_in: int, c_out: int, kernel: int, stride: int, padding: int, multiplier: int = 1
                   ) -> nn.Sequential:
    """Depthwise (groups = c_in, `multiplier` filters per input channel) then pointwise.

    On a 1-channel image a plain depthwise conv is a single filter, and every channel after the
    pointwise conv would be a scaled copy of it: the first layer uses a depth multiplier instead.
    """
    return nn.Sequential(
        nn.Conv2d(c_in, c_in * multiplier, kernel, stride, padding, groups=c_in, bias=False),  # depthwise
        nn.Conv2d(c_in * multiplier, c_out, 1, bias=False),  # pointwise: mixes channels
    )


def separable_up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 1, bias=False),  # pointwise: changes channels
        nn.ConvTranspose2d(c_out, c_out, 4, 2, 1, groups=c_out, bias=False),  # depthwise x2 upsample
    )


class SeparableGenerator(Generator):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.z_dim = self.w_dim = cfg.z_dim
        self.img_size, self.img_channels = cfg.img_size, cfg.img_channels
        depth, start = plan_depth(cfg.img_size, cfg.depth)
        chans = [cfg.width * 2 ** (depth - 1 - i) for i in range(depth)]
        self.start, self.c0 = start, chans[0]
        self.project = nn.Linear(cfg.z_dim, chans[0] * start * start, bias=False)  # (B, 2w*7*7)
        layers: list[nn.Module] = [nn.BatchNorm2d(chans[0]), nn.ReLU(True)]
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            layers += [separable_up(c_in, c_out), nn.BatchNorm2d(c_out), nn.ReLU(True)]  # (B, w, 14, 14)
        if cfg.attention:
            layers.append(SelfAttention(chans[-1]))
        # Output: upsample depthwise on all channels, then mix down to the image channels (a 1-channel
        # depthwise transposed conv would paint the whole image with one 4x4 filter).
        layers += [
            nn.ConvTranspose2d(chans[-1], chans[-1], 4, 2, 1, groups=chans[-1], bias=False),  # (B, w, 28, 28)
            nn.Conv2d(chans[-1], cfg.img_channels, 1, bias=False),  # (B, 1, 28, 28)
            nn.Tanh(),
        ]
        self.main = nn.Sequential(*layers)

    def synthesis(self, w: torch.Tensor) -> torch.Tensor:
        x = self.project(w).view(-1, self.c0, self.start, self.start)  # (B, 2w, 7, 7)
        return self.main(x)


class SeparableDiscriminator(Discriminator):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        depth, start = plan_depth(cfg.img_size, cfg.depth)
        chans = [cfg.width * 2**i for i in range(depth)]
        first = separable_conv(cfg.img_channels, chans[0], 4, 2, 1, multiplier=-(-chans[0] // cfg.img_channels))
        layers: list[nn.Module] = [first, *d_activation(cfg.d_dropout)]  # (B, w, 14, 14)
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            layers += [
                separable_conv(c_in, c_out, 4, 2, 1),  # (B, 2w, 7, 7)
                d_norm_layer("batch" if cfg.d_norm == "auto" else cfg.d_norm, c_out),
                *d_activation(cfg.d_dropout),
            ]
        if cfg.attention:
            layers.append(SelfAttention(chans[-1]))
        layers.append(separable_conv(chans[-1], 1, start, 1, 0))  # (B, 1, 1, 1)
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten()


@register_model
def dcgan_separable(cfg: ModelConfig) -> tuple[nn.Module, nn.Module]:
    if cfg.grow_d or cfg.residual:
        raise ValueError("dcgan_separable does not support grow_d or residual; use dcgan")
    return finish(SeparableGenerator(cfg), SeparableDiscriminator(cfg), cfg)
