"""Layers shared by the architectures: attention, AdaIN, norms, residual blocks, SN, init."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn


class Generator(nn.Module):
    """Every generator exposes mapping(z) -> w and synthesis(w) -> image.

    Only the style generator has a real mapping network; elsewhere w is z, so the
    app can walk, truncate and slide in "w" for every model without special cases.
    """

    z_dim: int
    w_dim: int
    img_size: int
    img_channels: int

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def synthesis(self, w: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesis(self.mapping(z))

    @property
    def has_mapping(self) -> bool:
        return False


class Discriminator(nn.Module):
    """A critic returning one logit per image, shape (B,).

    `grown` is a buffer so the grown-D state travels with the weights; only
    architectures built with grow_d=True read it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("grown", torch.tensor(True))

    def grow(self) -> None:
        self.grown.fill_(True)


class SelfAttention(nn.Module):
    """SAGAN self-attention: softmax over all positions, output scaled by gamma (starts at 0)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(channels // 8, 1)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        # Zero so the block starts as the identity and attention is learnt in gradually.
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # (B, N, C/8)
        k = self.key(x).flatten(2)  # (B, C/8, N)
        attn = torch.softmax(torch.bmm(q, k), dim=-1)  # (B, N, N): each position over all others
        v = self.value(x).flatten(2)  # (B, C, N)
        out = torch.bmm(v, attn.transpose(1, 2)).view(b, c, h, w)
        return x + self.gamma * out


class AdaIN(nn.Module):
    """Instance norm without affine, then per-channel scale and shift computed from w."""

    def __init__(self, channels: int, w_dim: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.affine = nn.Linear(w_dim, 2 * channels)
        # Styles start around scale 1, shift 0, but already depend on w: with zero weights every w gives
        # the same image at first, and G settles on one mode before w can matter.
        nn.init.normal_(self.affine.weight, 0.0, 1.0 / w_dim**0.5)
        with torch.no_grad():
            self.affine.bias[:channels] = 1.0
            self.affine.bias[channels:] = 0.0

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        scale, shift = self.affine(w).chunk(2, dim=1)  # (B, C) each
        return self.norm(x) * scale[:, :, None, None] + shift[:, :, None, None]


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class MinibatchStd(nn.Module):
    """StyleGAN's minibatch standard deviation: one extra channel holding how much the batch varies.

    A collapsed G makes near-identical images; this channel lets D see that directly, so collapse is
    punished instead of rewarded. Groups of up to 4 samples keep it independent of the batch size.
    """

    def __init__(self, group: int = 4) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        g = min(self.group, b)
        while b % g:
            g -= 1
        y = x.float().view(g, -1, c, h, w)  # (G, B/G, C, H, W)
        y = (y.var(0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (B/G,)
        y = y.to(x.dtype).repeat(g).view(b, 1, 1, 1).expand(b, 1, h, w)
        return torch.cat([x, y], dim=1)  # (B, C+1, H, W)


def d_norm_layer(kind: str, channels: int) -> nn.Module:
    """The normalisation users compare in D: batch, instance (affine), layer, none."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "layer":
        # GroupNorm with one group normalises over (C, H, W) per sample: layer norm for maps.
        return nn.GroupNorm(1, channels)
    return nn.Identity()


def d_activation(dropout: float) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.LeakyReLU(0.2, inplace=True)]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return layers


class ResBlockUp(nn.Module):
    """BN-ReLU-Up-Conv3-BN-ReLU-Conv3 with an upsampled 1x1 skip (SNGAN/WGAN-GP G block)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(c_in),
            nn.ReLU(inplace=False),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(c_in, c_out, 3, 1, 1),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1),
        )
        self.skip = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class ResBlockDown(nn.Module):
    """LReLU-Conv3-norm-LReLU-Conv3-AvgPool with a pooled 1x1 skip (the D counterpart)."""

    def __init__(self, c_in: int, c_out: int, norm: str, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.LeakyReLU(0.2, inplace=False),
            nn.Conv2d(c_in, c_out, 3, 1, 1),
            d_norm_layer(norm, c_out),
            *d_activation(dropout),
            nn.Conv2d(c_out, c_out, 3, 1, 1),
            nn.AvgPool2d(2, ceil_mode=True),
        )
        self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1), nn.AvgPool2d(2, ceil_mode=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Wrap every conv and linear weight in `module` with spectral normalisation."""
    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            setattr(module, name, _sn(child))
        elif not isinstance(child, (SelfAttention,)):
            apply_spectral_norm(child)
        else:
            for attr in ("query", "key", "value"):
                setattr(child, attr, _sn(getattr(child, attr)))
    return module


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def plan_depth(img_size: int, depth: int, min_start: int = 4) -> tuple[int, int]:
    """(depth, start_size): how many x2 up-blocks take start_size to img_size.

    depth 0 picks the most that keep the start map at least `min_start` wide
    (28 -> 2 blocks from 7x7, 32 -> 3 from 4x4, 64 -> 4 from 4x4).
    """
    if depth == 0:
        depth = 1
        while img_size % (2 ** (depth + 1)) == 0 and img_size // 2 ** (depth + 1) >= min_start:
            depth += 1
    if img_size % (2**depth) != 0 or img_size // 2**depth < 1:
        raise ValueError(
            f"img_size {img_size} cannot be reached by {depth} doubling blocks; "
            f"pick a depth with img_size divisible by 2**depth"
        )
    return depth, img_size // 2**depth


__all__ = [
    "AdaIN",
    "Discriminator",
    "Generator",
    "MinibatchStd",
    "PixelNorm",
    "ResBlockDown",
    "ResBlockUp",
    "SelfAttention",
    "apply_spectral_norm",
    "d_activation",
    "d_norm_layer",
    "dcgan_init",
    "plan_depth",
]
