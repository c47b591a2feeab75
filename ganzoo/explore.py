"""What the app's pages compute, as pure functions of plain arguments (no streamlit here).

The pages call these with a loaded checkpoint and widget values; tests call them directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ganzoo.images import grid, upscale
from ganzoo.latent import generate, interpolate, pca_directions, sample_z, synthesize, to_w

MAX_SAMPLES = 256  # the most images any page asks for at once
MAX_SEED = 2**31 - 1


def clamp_int(value: Any, lo: int, hi: int, default: int) -> int:
    """Widget and query-parameter values come from users: coerce, clamp, never raise."""
    try:
        v = int(float(value))
    except (TypeError, ValueError, OverflowError):
        return default
    return max(lo, min(hi, v))


def scale_for(img_size: int, target: int = 112) -> int:
    return max(1, target // img_size)


@dataclass
class Labelled:
    images: torch.Tensor  # (N, C, H, W) in [-1, 1]
    labels: list[str]
    confidences: list[float]


def label_images(images: torch.Tensor, clf) -> Labelled:
    if clf is None:
        return Labelled(images, [""] * len(images), [float("nan")] * len(images))
    from ganzoo.metrics import classify

    probs, _ = classify(clf, images)
    conf, pred = probs.max(1)
    names = clf.classes or [str(i) for i in range(probs.shape[1])]
    return Labelled(images, [names[i] for i in pred.tolist()], conf.tolist())


def samples(G: torch.nn.Module, seed: int, n: int, psi: float = 1.0) -> torch.Tensor:
    """n images for seeds seed .. seed+n-1: each seed always gives the same image."""
    n = clamp_int(n, 1, MAX_SAMPLES, 16)
    seed = clamp_int(seed, 0, MAX_SEED, 0)
    return generate(G, sample_z(list(range(seed, seed + n)), G.z_dim), psi=psi)


def grid_png_array(images: torch.Tensor, nrow: int, img_size: int) -> np.ndarray:
    return upscale(grid(images, nrow=nrow), scale_for(img_size, 56))


def class_histogram(G: torch.nn.Module, clf, n: int = 1000, seed: int = 10_000, psi: float = 1.0) -> dict[str, Any]:
    from ganzoo.metrics import class_stats, classify, collapse_warning

    images = generate(G, sample_z(list(range(seed, seed + n)), G.z_dim), psi=psi)
    probs, _ = classify(clf, images)
    stats = class_stats(probs, real_shares=clf.real_shares)
    stats["warning"] = collapse_warning(stats, probs.shape[1], clf.real_shares)
    stats["real_shares"] = clf.real_shares
    stats["classes"] = clf.classes or [str(i) for i in range(probs.shape[1])]
    return stats


def histogram_frame(stats: dict[str, Any]):
    """The class histogram as shares, beside the real data's shares when the classifier knows them."""
    import pandas as pd

    n = max(1, sum(stats["histogram"]))
    frame = {"class": stats["classes"], "generated": [h / n for h in stats["histogram"]]}
    if stats.get("real_shares"):
        frame["real data"] = stats["real_shares"]
    return pd.DataFrame(frame)


def latent_for_seed(G: torch.nn.Module, seed: int, space: str, psi: float = 1.0) -> torch.Tensor:
    z = sample_z(seed, G.z_dim)
    return to_w(G, z, psi)[0] if space == "w" else z[0]


def render_latent(G: torch.nn.Module, v: torch.Tensor, space: str) -> torch.Tensor:
    """One image from a latent vector in z or w space."""
    if space == "w":
        return synthesize(G, v[None])
    return generate(G, v[None])


def directions(G: torch.nn.Module, space: str, k: int = 8, n: int | None = None, seed: int = 777
               ) -> dict[str, torch.Tensor]:
    """GANSpace (Harkonen et al. 2020): directions that explain most of what changes.

    In w (a learned, anisotropic space) these are the principal components of sampled w.
    z is isotropic, so its own PCA is meaningless; there we take the principal components
    of the generated images and regress them onto z (GANSpace's recipe for BigGAN), giving
    one z direction per image-space component. `explained` is each component's share of
    the variance of w or of the images; `std` scales slider units to typical moves.
    n samples: 2,000, or 1,000 for images above 32x32 (generating them is most of the cost; ten
    components need far fewer).
    """
    if n is None:
        n = 2000 if space == "w" or getattr(G, "img_size", 28) <= 32 else 1000
    z = sample_z(list(range(seed, seed + n)), G.z_dim)
    if space == "w":
        dirs, std, ratio = pca_directions(to_w(G, z), k)
        return {"directions": dirs, "std": std, "explained": ratio, "n": n}
    images = generate(G, z).flatten(1)
    img_dirs, _, ratio = pca_directions(images, k)
    centred = images.double() - images.double().mean(0, keepdim=True)
    coords = centred @ img_dirs.double().T  # (n, k): each sample's position along the image PCs
    zc = z.double() - z.double().mean(0, keepdim=True)
    sol = torch.linalg.lstsq(zc, coords).solution  # (z_dim, k): z -> PC coordinates
    dirs = (sol / sol.norm(dim=0, keepdim=True).clamp_min(1e-12)).T.float()  # (k, z_dim) unit rows
    std = (zc.float() @ dirs.T).std(0)  # spread of the samples along each direction
    return {"directions": dirs, "std": std, "explained": ratio, "n": n}


def edit_latent(base: torch.Tensor, dims: dict[int, float], pcs: dict[int, float], pca: dict[str, torch.Tensor] | None
                ) -> torch.Tensor:
    """base with chosen coordinates set to slider values, then moved along principal directions
    (a PC slider value is in units of that direction's standard deviation)."""
    v = base.clone()
    for d, value in dims.items():
        if 0 <= d < v.shape[0]:
            v[d] = value
    if pca is not None:
        for i, amount in pcs.items():
            if 0 <= i < pca["directions"].shape[0]:
                v = v + amount * pca["std"][i] * pca["directions"][i]
    return v


def walk(G: torch.nn.Module, seeds: list[int], steps: int, method: str, space: str, psi: float = 1.0) -> torch.Tensor:
    """Frames of a walk through the seeds' latents, in z or w, linear or spherical."""
    steps = clamp_int(steps, 2, 60, 10)
    seeds = [clamp_int(s, 0, MAX_SEED, 0) for s in seeds][:8]
    if len(seeds) < 2:
        raise ValueError("give at least two seeds to walk between")
    z = sample_z(seeds, G.z_dim)
    if space == "w":
        points = to_w(G, z, psi)
        return synthesize(G, interpolate(points, steps, method))
    return generate(G, interpolate(z, steps, method), psi=psi)


def parse_seed_rows(text: str, max_rows: int = 6) -> list[list[int]]:
    """'3, 7, 12' per line -> [[3, 7, 12], ...]; rows with fewer than two seeds are dropped."""
    rows = []
    for line in text.splitlines()[:max_rows]:
        seeds = []
        for tok in line.replace(";", ",").replace(" ", ",").split(","):
            tok = tok.strip()
            if tok.lstrip("-").isdigit():
                seeds.append(clamp_int(tok, 0, MAX_SEED, 0))
        if len(seeds) >= 2:
            rows.append(seeds[:8])
    return rows


def frames_to_arrays(frames: torch.Tensor, img_size: int) -> list[np.ndarray]:
    s = scale_for(img_size, 112)
    return [upscale(grid(f[None], nrow=1, pad=0), s) for f in frames]
