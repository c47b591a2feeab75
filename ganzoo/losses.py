"""GAN losses as plain functions of D's logits; any loss goes with any architecture."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator/critic loss from logits on real and generated images (lower is better for D)."""
    if kind in ("bce", "minimax"):
        # -log sigmoid(r) - log(1 - sigmoid(f)), written with softplus for stability.
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "wasserstein":
        return fake.mean() - real.mean()
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if kind == "lsgan":
        return 0.5 * ((real - 1.0).pow(2).mean() + fake.pow(2).mean())
    raise ValueError(f"unknown loss {kind!r}")


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """Generator loss from D's logits on generated images."""
    if kind == "bce":
        return F.softplus(-fake).mean()  # non-saturating: maximise log D(G(z))
    if kind == "minimax":
        return -F.softplus(fake).mean()  # saturating: minimise log(1 - D(G(z)))
    if kind in ("wasserstein", "hinge"):
        return -fake.mean()
    if kind == "lsgan":
        return 0.5 * (fake - 1.0).pow(2).mean()
    raise ValueError(f"unknown loss {kind!r}")


def gradient_penalty(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, weight: float = 10.0) -> torch.Tensor:
    """WGAN-GP: weight * E[(||grad D(x_hat)||_2 - 1)^2] on random interpolates x_hat.

    The mixing weight is drawn per sample (B, 1, 1, 1) and the norm taken per sample over
    all of its other dimensions, as in Gulrajani et al.
    """
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = D(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    return weight * (norm - 1.0).pow(2).mean()


@torch.no_grad()
def clip_weights(D: nn.Module, c: float) -> None:
    """WGAN weight clipping: every critic parameter into [-c, c]."""
    for p in D.parameters():
        p.clamp_(-c, c)
