"""The vanilla GAN (Goodfellow et al. 2014): fully-connected G and D on flattened images."""

from __future__ import annotations

import torch
from torch import nn

from ganzoo.config import ModelConfig
from ganzoo.models.blocks import Discriminator, Generator, apply_spectral_norm, d_activation
from ganzoo.registry import register_model


def hidden_sizes(cfg: ModelConfig) -> list[int]:
    depth = cfg.depth or 3
    return [cfg.width * 4 * 2**i for i in range(depth)]  # [256, 512, 1024] at width 64


class MLPGenerator(Generator):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.z_dim = self.w_dim = cfg.z_dim
        self.img_size, self.img_channels = cfg.img_size, cfg.img_channels
        layers: list[nn.Module] = []
        c_in = cfg.z_dim
        for h in hidden_sizes(cfg):
            # BatchNorm keeps the hidden activations from saturating; without it MLP G collapses often.
            layers += [nn.Linear(c_in, h), nn.BatchNorm1d(h), nn.LeakyReLU(0.2, inplace=True)]
            c_in = h
        layers += [nn.Linear(c_in, cfg.img_channels * cfg.img_size**2), nn.Tanh()]  # (B, C*H*W)
        self.main = nn.Sequential(*layers)

    def synthesis(self, w: torch.Tensor) -> torch.Tensor:
        return self.main(w).view(-1, self.img_channels, self.img_size, self.img_size)


class MLPDiscriminator(Discriminator):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = cfg.img_channels * cfg.img_size**2
        for h in reversed(hidden_sizes(cfg)):
            layers += [nn.Linear(c_in, h), *d_activation(cfg.d_dropout)]
            c_in = h
        layers.append(nn.Linear(c_in, 1))
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x.flatten(1)).flatten()


@register_model
def mlp(cfg: ModelConfig) -> tuple[nn.Module, nn.Module]:
    if cfg.attention or cfg.residual or cfg.grow_d:
        raise ValueError("the mlp architecture has no conv layers: attention, residual and grow_d need a conv one")
    G, D = MLPGenerator(cfg), MLPDiscriminator(cfg)
    if cfg.spectral_norm in ("d", "gd"):
        apply_spectral_norm(D)
    if cfg.spectral_norm == "gd":
        apply_spectral_norm(G)
    return G, D
