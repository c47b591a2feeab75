"""DCGAN (Radford et al. 2015) and its options: residual blocks, attention, SN, grown D.

Shapes are written for the 28x28 default (depth 2, start 7x7, width w); 32x32 starts at
4x4 with 3 blocks and 64x64 at 4x4 with 4 blocks, the pytorch/examples layout.
"""

from __future__ import annotations

import torch
from torch import nn

from ganzoo.config import ModelConfig
from ganzoo.models.blocks import (
    Discriminator,
    Generator,
    MinibatchStd,
    ResBlockDown,
    ResBlockUp,
    SelfAttention,
    apply_spectral_norm,
    d_activation,
    d_norm_layer,
    dcgan_init,
    plan_depth,
)
from ganzoo.registry import register_model


class DCGANGenerator(Generator):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.z_dim = self.w_dim = cfg.z_dim
        self.img_size, self.img_channels = cfg.img_size, cfg.img_channels
        depth, start = plan_depth(cfg.img_size, cfg.depth)
        chans = [cfg.width * 2 ** (depth - 1 - i) for i in range(depth)]  # [2w, w] at 28x28
        # The layout of pytorch/examples (main.0 = ConvT(z -> C0), main.1 = BN, ...), so
        # its generators import by position.
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(cfg.z_dim, chans[0], start, 1, 0, bias=False),  # (B, 2w, 7, 7)
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(True),
        ]
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            if cfg.residual:
                layers.append(ResBlockUp(c_in, c_out))
            else:
                layers += [
                    nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),  # (B, w, 14, 14)
                    nn.BatchNorm2d(c_out),
                    nn.ReLU(True),
                ]
        if cfg.residual:
            layers += [nn.BatchNorm2d(chans[-1]), nn.ReLU(True)]
        if cfg.attention:
            layers.append(SelfAttention(chans[-1]))
        layers += [
            nn.ConvTranspose2d(chans[-1], cfg.img_channels, 4, 2, 1, bias=False),  # (B, 1, 28, 28)
            nn.Tanh(),
        ]
        self.main = nn.Sequential(*layers)

    def synthesis(self, w: torch.Tensor) -> torch.Tensor:
        return self.main(w.view(w.shape[0], -1, 1, 1))


class DCGANDiscriminator(Discriminator):
    def __init__(self, cfg: ModelConfig, default_norm: str = "batch", minibatch_std: bool = False) -> None:
        super().__init__()
        norm = default_norm if cfg.d_norm == "auto" else cfg.d_norm
        depth, start = plan_depth(cfg.img_size, cfg.depth)
        chans = [cfg.width * 2**i for i in range(depth)]  # [w, 2w] at 28x28
        blocks: list[nn.Module] = [
            # No norm on the first layer (Radford et al.): it would erase the input's statistics.
            nn.Sequential(nn.Conv2d(cfg.img_channels, chans[0], 4, 2, 1, bias=False), *d_activation(cfg.d_dropout))
        ]  # (B, w, 14, 14)
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            if cfg.residual:
                blocks.append(ResBlockDown(c_in, c_out, norm, cfg.d_dropout))
            else:
                blocks.append(
                    nn.Sequential(
                        nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False),  # (B, 2w, 7, 7)
                        d_norm_layer(norm, c_out),
                        *d_activation(cfg.d_dropout),
                    )
                )
        self.blocks = nn.ModuleList(blocks)
        self.attention = SelfAttention(chans[-1]) if cfg.attention else nn.Identity()
        self.mbstd = MinibatchStd() if minibatch_std else nn.Identity()
        extra = 1 if minibatch_std else 0
        self.head = nn.Conv2d(chans[-1] + extra, 1, start, 1, 0, bias=False)  # (B, 1, 1, 1): one logit
        self.grow_d = cfg.grow_d
        if cfg.grow_d:
            if depth < 2:
                raise ValueError("grow_d needs a D with at least 2 blocks")
            # The smaller D: stop one block early and read a logit off the 2x larger map.
            self.head_small = nn.Conv2d(chans[-2] + extra, 1, start * 2, 1, 0, bias=False)
            self.grown.fill_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.grow_d and not bool(self.grown):
            for block in self.blocks[:-1]:
                x = block(x)
            return self.head_small(self.mbstd(x)).flatten()
        for block in self.blocks:
            x = block(x)
        return self.head(self.mbstd(self.attention(x))).flatten()  # (B,)


def finish(G: nn.Module, D: nn.Module, cfg: ModelConfig) -> tuple[nn.Module, nn.Module]:
    """Init, then spectral norm where asked (after init: SN reparametrises the init'd weight)."""
    dcgan_init(G)
    dcgan_init(D)
    if cfg.spectral_norm in ("d", "gd"):
        apply_spectral_norm(D)
    if cfg.spectral_norm == "gd":
        apply_spectral_norm(G)
    return G, D


@register_model
def dcgan(cfg: ModelConfig) -> tuple[nn.Module, nn.Module]:
    return finish(DCGANGenerator(cfg), DCGANDiscriminator(cfg), cfg)
