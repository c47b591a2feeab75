"""A StyleGAN-like generator (Karras et al. 2019), small enough for MNIST on a CPU.

mapping: z -> PixelNorm -> mapping_layers x (Linear + LeakyReLU 0.2) -> w
synthesis: learned constant (or a projection of w) -> [AdaIN(w) per block] -> toRGB -> Tanh
Per-pixel noise inputs are left out on purpose: an image is a pure function of its seed,
which the latent sliders and interpolations rely on.
"""

from __future__ import annotations

import torch
from torch import nn

from ganzoo.config import ModelConfig
from ganzoo.models.blocks import AdaIN, Generator, PixelNorm, SelfAttention, plan_depth
from ganzoo.models.dcgan import DCGANDiscriminator
from ganzoo.registry import register_model


class StyleBlock(nn.Module):
    """(optional x2 upsample) -> conv3x3 -> LeakyReLU -> AdaIN(w)."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, upsample: bool) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="nearest") if upsample else nn.Identity()
        self.conv = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.act = nn.LeakyReLU(0.2, inplace=True)
        self.adain = AdaIN(c_out, w_dim)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.adain(self.act(self.conv(self.up(x))), w)


class StyleGenerator(Generator):
    # AdaIN's per-channel statistics over H x W gain nothing from channels_last (training.memory_format_for).
    channels_last = False

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.z_dim, self.w_dim = cfg.z_dim, cfg.resolved_w_dim
        self.img_size, self.img_channels = cfg.img_size, cfg.img_channels
        depth, start = plan_depth(cfg.img_size, cfg.depth)
        # Capped at 4w so 64x64 models stay small: [4w, 2w, w] at 28x28, [4w, 4w, 4w, 2w, w] at 64x64.
        chans = [cfg.width * min(2 ** (depth - i), 4) for i in range(depth + 1)]
        layers: list[nn.Module] = [PixelNorm()]
        c_in = cfg.z_dim
        for _ in range(cfg.mapping_layers):
            layers += [nn.Linear(c_in, self.w_dim), nn.LeakyReLU(0.2, inplace=True)]
            c_in = self.w_dim
        self.mapping_net = nn.Sequential(*layers)
        # He init for LeakyReLU keeps w's spread across z through the layers; PyTorch's default shrinks it
        # ~3x per layer, so after 4 layers every z maps to nearly the same w and G draws one image.
        for m in self.mapping_net:
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, a=0.2, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
        self.start_kind, self.start, self.c0 = cfg.start, start, chans[0]
        if cfg.start == "const":
            self.const = nn.Parameter(torch.randn(1, chans[0], start, start))  # (1, 4w, 7, 7)
        else:
            self.project = nn.Linear(self.w_dim, chans[0] * start * start)
        blocks = [StyleBlock(chans[0], chans[0], self.w_dim, upsample=False)]  # (B, 4w, 7, 7)
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            blocks.append(StyleBlock(c_in, c_out, self.w_dim, upsample=True))  # (B, 2w, 14, 14) ...
        self.blocks = nn.ModuleList(blocks)
        self.attention = SelfAttention(chans[-1]) if cfg.attention else nn.Identity()
        self.to_rgb = nn.Conv2d(chans[-1], cfg.img_channels, 1)  # (B, C, 28, 28)
        # Running mean of w for the truncation trick; updated by the training loop.
        self.register_buffer("w_avg", torch.zeros(self.w_dim))

    @property
    def has_mapping(self) -> bool:
        return True

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        return self.mapping_net(z)

    def synthesis(self, w: torch.Tensor) -> torch.Tensor:
        if self.start_kind == "const":
            x = self.const.expand(w.shape[0], -1, -1, -1)
        else:
            x = self.project(w).view(-1, self.c0, self.start, self.start)
        for block in self.blocks:
            x = block(x, w)
        return torch.tanh(self.to_rgb(self.attention(x)))

    @torch.no_grad()
    def update_w_avg(self, w: torch.Tensor, beta: float = 0.995) -> None:
        self.w_avg.lerp_(w.detach().float().mean(0), 1.0 - beta)


@register_model
def style(cfg: ModelConfig) -> tuple[nn.Module, nn.Module]:
    from ganzoo.models.blocks import apply_spectral_norm, dcgan_init

    if cfg.residual:
        raise ValueError("the style generator has its own blocks; residual applies to dcgan")
    G = StyleGenerator(cfg)
    # The StyleGAN discriminator here: a conv D with InstanceNorm (affine) unless told otherwise, and
    # StyleGAN's minibatch-stddev channel before its last conv (without it this G collapsed on MNIST).
    D = DCGANDiscriminator(cfg, default_norm="instance", minibatch_std=True)
    dcgan_init(D)
    if cfg.spectral_norm in ("d", "gd"):
        apply_spectral_norm(D)
    if cfg.spectral_norm == "gd":
        apply_spectral_norm(G)
    return G, D
