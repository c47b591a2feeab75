"""The small conv critic of the WGAN homework and the generator that mirrors it.

Critic: three strided Conv2d + LeakyReLU(0.2) with bias, no norm unless --d-norm asks, no Sigmoid, then a
linear read-out. Each stride-2 conv uses kernel 4 on even maps and 3 on odd ones so any
size halves cleanly (28 -> 14 -> 7 -> 4); the generator runs the same sizes backwards.
"""

from __future__ import annotations

import torch
from torch import nn

from ganzoo.config import ModelConfig
from ganzoo.models.blocks import (
    Discriminator,
    Generator,
    SelfAttention,
    apply_spectral_norm,
    d_activation,
    d_norm_layer,
)
from ganzoo.registry import register_model


def sizes(img_size: int) -> list[int]:
    out = [img_size]
    for _ in range(3):
        out.append((out[-1] + 1) // 2)
    return out  # [28, 14, 7, 4]


class WGANGenerator(Generator):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.z_dim = self.w_dim = cfg.z_dim
        self.img_size, self.img_channels = cfg.img_size, cfg.img_channels
        s = sizes(cfg.img_size)
        w = cfg.width
        self.start, self.c0 = s[3], 4 * w
        self.project = nn.Linear(cfg.z_dim, 4 * w * s[3] ** 2)  # (B, 4w*4*4)
        self.project_act = nn.Sequential(nn.BatchNorm2d(4 * w), nn.ReLU(True))
        chans = [4 * w, 2 * w, w]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(chans, chans[1:] + [cfg.img_channels])):
            target = s[2 - i]
            k = 4 if target % 2 == 0 else 3  # (in-1)*2 - 2 + k == target
            if cfg.attention and i == 2:
                layers.append(SelfAttention(c_in))
            layers.append(nn.ConvTranspose2d(c_in, c_out, k, 2, 1))  # 4 -> 7 -> 14 -> 28
            # BatchNorm in G only (the critic must stay free of it): a clipped critic gives weak
            # gradients, and without normalised activations G drifts into a single mode.
            layers += [nn.BatchNorm2d(c_out), nn.ReLU(True)] if i < 2 else [nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def synthesis(self, w: torch.Tensor) -> torch.Tensor:
        return self.main(self.project_act(self.project(w).view(-1, self.c0, self.start, self.start)))


class WGANCritic(Discriminator):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        s = sizes(cfg.img_size)
        w = cfg.width
        chans = [cfg.img_channels, w, 2 * w, 4 * w]
        # No norm by default (the gradient penalty is per sample, which BatchNorm breaks); --d-norm batch gives
        # the original WGAN's DCGAN critic, where BatchNorm restores the scale that clipping takes away.
        norm = "none" if cfg.d_norm == "auto" else cfg.d_norm
        layers: list[nn.Module] = []
        for i in range(3):
            k = 4 if s[i] % 2 == 0 else 3
            layers.append(nn.Conv2d(chans[i], chans[i + 1], k, 2, 1))  # 28 -> 14 -> 7 -> 4
            if i > 0 and norm != "none":  # none adds no module, so the layer names of older files still match
                layers.append(d_norm_layer(norm, chans[i + 1]))
            layers += d_activation(cfg.d_dropout)
        if cfg.attention:
            layers.append(SelfAttention(4 * w))
        self.main = nn.Sequential(*layers)
        self.head = nn.Linear(4 * w * s[3] ** 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.main(x).flatten(1)).flatten()


@register_model
def wgan_conv(cfg: ModelConfig) -> tuple[nn.Module, nn.Module]:
    if cfg.residual or cfg.grow_d:
        raise ValueError("wgan_conv is the fixed three-layer critic: residual and grow_d need dcgan")
    G, D = WGANGenerator(cfg), WGANCritic(cfg)
    if cfg.spectral_norm in ("d", "gd"):
        apply_spectral_norm(D)
    if cfg.spectral_norm == "gd":
        apply_spectral_norm(G)
    return G, D
