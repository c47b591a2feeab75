"""Figures from a checkpoint alone (train.py plot) and for sweeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_checkpoint(ckpt, out_dir: Path, n: int = 64, seed: int = 0) -> list[Path]:
    """Loss curves, D-accuracy curves, classifier-FID (when logged) and a sample grid, as PNGs."""
    from ganzoo.images import grid, save_png, upscale
    from ganzoo.latent import generate, sample_z

    plt = _plt()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    hist = ckpt.history
    if hist:
        ep = [h["epoch"] for h in hist]
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(ep, [h["loss_d"] for h in hist], "o-", label="D loss")
        ax.plot(ep, [h["loss_g"] for h in hist], "o-", label="G loss")
        ax.set(xlabel="epoch", ylabel="loss", title=f"{ckpt.variant}: losses")
        ax.legend()
        written.append(_save(fig, out_dir / "losses.png", plt))
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(ep, [h["d_acc_real"] for h in hist], "o-", label="D acc on real")
        ax.plot(ep, [h["d_acc_fake"] for h in hist], "o-", label="D acc on generated")
        if any("val_acc_real" in h for h in hist):
            ax.plot(ep, [h.get("val_acc_real") for h in hist], "o-", label="D acc on held-out real")
        if any("train_acc_real" in h for h in hist):
            ax.plot(ep, [h.get("train_acc_real") for h in hist], "o--", label="D acc on as many training real")
        ax.axhline(0.5, color="grey", ls="--", lw=1)
        ax.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02), title=f"{ckpt.variant}: D accuracy")
        ax.legend()
        written.append(_save(fig, out_dir / "d_accuracy.png", plt))
        if any("fid" in h for h in hist):
            fig, ax = plt.subplots(figsize=(6, 4))
            pts = [(h["epoch"], h["fid"]) for h in hist if "fid" in h]
            ax.plot(*zip(*pts), "o-")
            ax.set(xlabel="epoch", ylabel="classifier-FID", yscale="log", title=f"{ckpt.variant}: classifier-FID")
            written.append(_save(fig, out_dir / "fid.png", plt))
    images = generate(ckpt.G, sample_z(list(range(seed, seed + n)), ckpt.cfg.z_dim))
    path = out_dir / "samples.png"
    save_png(path, upscale(grid(images, nrow=8), 2))
    written.append(path)
    return written


def _save(fig, path: Path, plt) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sweep_figure(histories: dict[str, list[dict[str, Any]]], path: Path) -> Path:
    """One figure comparing a sweep's runs: D loss, G loss, and classifier-FID where it was measured (else
    D's accuracy on real images)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    with_fid = any("fid" in h for hist in histories.values() for h in hist)
    for name, hist in histories.items():
        if not hist:
            continue
        ep = [h["epoch"] for h in hist]
        axes[0].plot(ep, [h["loss_d"] for h in hist], "o-", label=name)
        axes[1].plot(ep, [h["loss_g"] for h in hist], "o-", label=name)
        if with_fid:
            pts = [(h["epoch"], h["fid"]) for h in hist if "fid" in h]
            if pts:
                axes[2].plot(*zip(*pts), "o-", label=name)
        else:
            axes[2].plot(ep, [h["d_acc_real"] for h in hist], "o-", label=name)
    third = "classifier-FID (lower is better)" if with_fid else "D accuracy on real"
    for ax, title in zip(axes, ("D loss", "G loss", third)):
        ax.set(xlabel="epoch", title=title)
    if with_fid:
        axes[2].set_yscale("log")
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=7)
    else:
        axes[1].text(0.5, 0.5, "no run finished an epoch", ha="center", va="center", transform=axes[1].transAxes)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _save(fig, path, plt)
