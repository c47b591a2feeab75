"""Pure latent math shared by the CLI and the app: seeds -> z, lerp/slerp, truncation, PCA directions."""

from __future__ import annotations

import torch


def sample_z(seeds: int | list[int], z_dim: int) -> torch.Tensor:
    """One z per integer seed, from a local generator: the same seed gives the same z everywhere."""
    if isinstance(seeds, int):
        seeds = [seeds]
    out = torch.empty(len(seeds), z_dim)
    for i, s in enumerate(seeds):
        g = torch.Generator().manual_seed(int(s) % 2**63)
        out[i] = torch.randn(z_dim, generator=g)
    return out


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation along the great circle; falls back to lerp for parallel vectors.

    Gaussian z concentrate near a sphere of radius sqrt(z_dim); lerp's midpoints fall inside
    it (shorter vectors than any sample), slerp's stay on it.
    """
    t = torch.as_tensor(t, dtype=a.dtype)
    a_n, b_n = a / a.norm(dim=-1, keepdim=True).clamp_min(eps), b / b.norm(dim=-1, keepdim=True).clamp_min(eps)
    dot = (a_n * b_n).sum(-1, keepdim=True).clamp(-1 + eps, 1 - eps)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    if (so.abs() < 1e-4).all():
        return lerp(a, b, t)
    # Interpolate direction on the sphere and magnitude linearly.
    out = (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
    return torch.where(so.abs() < 1e-4, lerp(a, b, t), out)


def interpolate(points: torch.Tensor, steps: int, method: str = "linear") -> torch.Tensor:
    """Walk through K points (K, D) in order with `steps` frames per segment, ends included.

    Returns ((K-1)*(steps-1)+1, D) for K >= 2.
    """
    if points.shape[0] < 2:
        raise ValueError("interpolation needs at least two points")
    if steps < 2:
        raise ValueError("interpolation needs at least two steps")
    fn = slerp if method == "spherical" else lerp
    frames = [points[:1]]
    ts = torch.linspace(0, 1, steps)[1:, None]
    for a, b in zip(points[:-1], points[1:]):
        frames.append(fn(a[None].expand(len(ts), -1), b[None].expand(len(ts), -1), ts))
    return torch.cat(frames)


def truncate(w: torch.Tensor, w_avg: torch.Tensor | None, psi: float) -> torch.Tensor:
    """The truncation trick: pull w towards the average w by psi (1 = off, 0 = the average)."""
    if psi == 1.0:
        return w
    centre = w_avg if w_avg is not None else torch.zeros_like(w[0])
    return centre + psi * (w - centre)


def pca_directions(w: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GANSpace: the top-k principal directions of sampled latents (or of flattened images).

    Returns (directions (k, D) unit rows, their standard deviations (k,), explained variance ratio (k,)).
    Each direction's sign is fixed (its largest component positive), so sliders mean the same every time.
    """
    n, d = w.shape
    k = min(k, n, d)
    if min(n, d) > 512:
        # Images have thousands of dimensions: a full SVD of 2,000 64x64 RGB samples took ~10 s on 2 cores
        # (minutes when they are busy). The top k alone, by a randomised SVD (Halko et al. 2011), take a
        # fraction of a second; a fixed seed keeps them the same from run to run.
        x = w.float()
        centred = x - x.mean(0, keepdim=True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            _, s, v = torch.pca_lowrank(centred, q=min(k + 10, n, d), center=False, niter=6)
        vh, s = v.T.double(), s.double()
        total = centred.pow(2).sum(dtype=torch.float64)
    else:
        centred = w.double() - w.double().mean(0, keepdim=True)
        _, s, vh = torch.linalg.svd(centred, full_matrices=False)
        total = s.pow(2).sum()
    var = s**2 / max(n - 1, 1)
    ratio = s**2 / total.clamp_min(1e-12)
    vh = vh[:k]
    signs = torch.sign(vh.gather(1, vh.abs().argmax(1, keepdim=True)))
    vh = vh * torch.where(signs == 0, torch.ones_like(signs), signs)
    return vh.float(), var[:k].sqrt().float(), ratio[:k].float()


@torch.no_grad()
def generate(G: torch.nn.Module, z: torch.Tensor, psi: float = 1.0, batch: int = 256) -> torch.Tensor:
    """Images in [-1, 1] for latents z, through mapping, truncation and synthesis, in batches."""
    device = next(G.parameters()).device
    outs = []
    for chunk in z.split(batch):
        w = G.mapping(chunk.to(device))
        w = truncate(w, getattr(G, "w_avg", None), psi)
        outs.append(G.synthesis(w).float().cpu())
    return torch.cat(outs)


@torch.no_grad()
def synthesize(G: torch.nn.Module, w: torch.Tensor, batch: int = 256) -> torch.Tensor:
    device = next(G.parameters()).device
    return torch.cat([G.synthesis(c.to(device)).float().cpu() for c in w.split(batch)])


@torch.no_grad()
def to_w(G: torch.nn.Module, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
    device = next(G.parameters()).device
    w = G.mapping(z.to(device)).float().cpu()
    w_avg = getattr(G, "w_avg", None)
    return truncate(w, None if w_avg is None else w_avg.float().cpu(), psi)
