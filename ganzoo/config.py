"""Configs: the model config is the constructor's keyword arguments; presets are data.

A user-facing *variant* is a preset: an architecture plus a loss plus its settings.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

# Bounds checked before any module is built, so a hostile config cannot make us
# allocate gigabytes (width 10**6) or loop forever (depth 10**9).
LIMITS = {
    "z_dim": (1, 1024),
    "w_dim": (1, 1024),
    "width": (1, 512),
    "depth": (1, 8),
    "img_size": (8, 256),
    "img_channels": (1, 4),
    "mapping_layers": (1, 16),
}
SPECTRAL_NORM = ("none", "d", "gd")
D_NORMS = ("auto", "batch", "instance", "layer", "none")
LOSSES = ("bce", "minimax", "wasserstein", "hinge", "lsgan")
OPTIMIZERS = ("adam", "rmsprop", "sgd")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild G and D; saved inside every checkpoint."""

    arch: str = "dcgan"
    z_dim: int = 100
    img_size: int = 28
    img_channels: int = 1
    width: int = 64  # feature maps of the widest-resolution conv layer
    depth: int = 0  # number of up/down blocks; 0 = the most that fit the image size
    spectral_norm: str = "none"  # none | d (D only) | gd (G and D)
    attention: bool = False  # SAGAN self-attention before the last conv of G and D
    d_dropout: float = 0.0
    d_norm: str = "auto"  # auto (the architecture's own: batch, instance for style) | batch | instance | layer | none
    residual: bool = False  # ResNet up/down blocks (conv architectures)
    grow_d: bool = False  # build D with its last block held back until switched on
    w_dim: int = 0  # style only; 0 = z_dim
    mapping_layers: int = 4  # style only
    start: str = "const"  # style only: const | linear

    def validate(self) -> ModelConfig:
        from ganzoo.registry import list_models

        if self.arch not in list_models():
            raise ValueError(
                f"unknown architecture {self.arch!r}; known: {', '.join(list_models())}"
            )
        for name, (lo, hi) in LIMITS.items():
            value = getattr(self, name)
            if name in ("depth", "w_dim") and value == 0:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                raise ValueError(f"{name}={value!r} is out of range [{lo}, {hi}]")
        if self.spectral_norm not in SPECTRAL_NORM:
            raise ValueError(f"spectral_norm must be one of {SPECTRAL_NORM}, got {self.spectral_norm!r}")
        if self.d_norm not in D_NORMS:
            raise ValueError(f"d_norm must be one of {D_NORMS}, got {self.d_norm!r}")
        if not (isinstance(self.d_dropout, (int, float)) and 0.0 <= self.d_dropout < 1.0):
            raise ValueError(f"d_dropout must be in [0, 1), got {self.d_dropout!r}")
        if self.start not in ("const", "linear"):
            raise ValueError(f"start must be 'const' or 'linear', got {self.start!r}")
        return self

    @property
    def resolved_w_dim(self) -> int:
        return self.w_dim or self.z_dim

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        if not isinstance(d, dict):
            raise ValueError("model config must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"model config has unknown keys: {sorted(unknown)}")
        return cls(**d).validate()


@dataclass(frozen=True)
class TrainConfig:
    """Training settings of a run; saved beside the model config."""

    variant: str = "dcgan"
    loss: str = "bce"
    optimizer: str = "adam"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 64
    d_steps: int = 1
    g_steps: int = 1
    clip: float = 0.0  # WGAN weight clipping value; 0 = off
    gp_weight: float = 0.0  # WGAN-GP lambda; 0 = off
    ema: float = 0.0  # decay of the G_ema average; 0 = off
    grow_d_at: int = 0  # step at which the held-back D block is switched on; 0 = never
    epochs: int = 10
    seed: int = 0
    dataset: str = "mnist"
    data_dir: str = ""
    class_filter: tuple[str, ...] = ()
    val_fraction: float = 0.0
    eval_every: int = 1  # epochs between classifier-FID evaluations
    eval_samples: int = 2000
    amp: bool = False
    num_workers: int = 0
    device: str = "auto"
    max_steps: int = 0  # stop after this many steps; 0 = run all epochs
    stop_on_collapse: bool = True  # stop when samples are constant two epochs running
    save_every: int = 0  # keep a resumable epochNNN.safetensors every this many epochs; 0 = latest (and best) only

    def validate(self) -> TrainConfig:
        """Refuse settings that would fail later (a division by zero at the first step, an optimiser's own
        error) or silently do nothing (a negative clip). Messages name the command-line flag."""

        def need(ok: bool, flag: str, value: Any, rule: str) -> None:
            if not ok:
                raise ValueError(f"--{flag} {value} is out of range: {rule}")

        for name, lo in (("batch_size", 2), ("d_steps", 1), ("g_steps", 1), ("epochs", 1), ("eval_samples", 100)):
            value = getattr(self, name)
            need(isinstance(value, int) and value >= lo, name.replace("_", "-"), value, f"at least {lo}")
        for name in ("grow_d_at", "max_steps", "eval_every", "num_workers", "seed", "save_every"):
            value = getattr(self, name)
            need(isinstance(value, int) and value >= 0, name.replace("_", "-"), value, "0 or more")
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            need(math.isfinite(value) and value > 0, name.replace("_", "-"), value, "a positive number")
        for name in ("clip", "gp_weight"):
            value = getattr(self, name)
            need(math.isfinite(value) and value >= 0, name.replace("_", "-"), value, "0 (off) or more")
        need(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "betas", " ".join(map(str, self.betas)),
             "two numbers in [0, 1)")
        need(0 <= self.ema < 1, "ema", self.ema, "a decay in [0, 1), e.g. 0.999 (0 = off)")
        need(0 <= self.val_fraction < 1, "val-fraction", self.val_fraction, "a share in [0, 1), e.g. 0.05")
        return self

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        d["class_filter"] = list(self.class_filter)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        if "class_filter" in d:
            d["class_filter"] = tuple(d["class_filter"])
        return cls(**d)


@dataclass(frozen=True)
class Preset:
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    about: str = ""


PRESETS: dict[str, Preset] = {
    # Goodfellow et al. 2014 with fully-connected layers.
    # Dropout in D as in Goodfellow et al.'s MLP discriminator: without it D overfits and G settles on a few
    # digits (class entropy 0.92-0.95, classifier-FID 14.0 at best; with it 0.99+ and 2.4 by 50 epochs).
    "mlp_gan": Preset(
        dict(arch="mlp", z_dim=64, width=64, depth=3, d_dropout=0.3),
        dict(loss="bce", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999)),
        "vanilla GAN: fully-connected G and D (dropout 0.3 in D), non-saturating BCE",
    ),
    # Radford et al. 2015, the pytorch/examples recipe.
    "dcgan": Preset(
        dict(arch="dcgan", z_dim=100, width=32),
        dict(loss="bce", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999)),
        "DCGAN: transposed-conv G, strided-conv D, BatchNorm, BCE",
    ),
    # DCGAN with depthwise-separable convolutions (MobileNet) in G and D.
    "dcgan_separable": Preset(
        dict(arch="dcgan_separable", z_dim=100, width=32),
        dict(loss="bce", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999)),
        "DCGAN with depthwise + pointwise convolutions: fewer parameters",
    ),
    # Arjovsky et al. 2017: small conv critic, weight clipping, RMSprop, 5 critic steps. BatchNorm in the critic
    # as in their DCGAN critic: it restores the activation scale that clipping removes (MNIST, 40 epochs:
    # classifier-FID 39.5 -> 30.8, confidence 0.76 -> 0.79; the early collapse ends by epoch 4, not 12).
    "wgan": Preset(
        dict(arch="wgan_conv", z_dim=64, width=32, d_norm="batch"),
        dict(loss="wasserstein", optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, clip=0.01, d_steps=5),
        "WGAN: conv critic with BatchNorm, weight clipping 0.01, RMSprop 5e-5, 5 critic steps",
    ),
    # Gulrajani et al. 2017: gradient penalty instead of clipping; no BatchNorm in the critic.
    "wgan_gp": Preset(
        dict(arch="wgan_conv", z_dim=64, width=32),
        dict(loss="wasserstein", lr_g=1e-4, lr_d=1e-4, betas=(0.0, 0.9), gp_weight=10.0, d_steps=5),
        "WGAN-GP: conv critic, gradient penalty 10, Adam 1e-4 (0, 0.9), 5 critic steps",
    ),
    # Miyato et al. 2018: spectral norm in D replaces BatchNorm there.
    "sngan": Preset(
        dict(arch="dcgan", z_dim=100, width=32, spectral_norm="d", d_norm="none"),
        dict(loss="bce", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999)),
        "SNGAN: DCGAN shape with spectral normalisation in D",
    ),
    # Zhang et al. 2018: SN in G and D, self-attention, hinge loss, TTUR learning rates.
    "sagan": Preset(
        dict(arch="dcgan", z_dim=100, width=32, spectral_norm="gd", attention=True, d_norm="none"),
        dict(loss="hinge", lr_g=1e-4, lr_d=4e-4, betas=(0.0, 0.9)),
        "SAGAN: self-attention, spectral norm in G and D, hinge loss, TTUR",
    ),
    # Karras et al. 2019, small: mapping network z -> w, AdaIN in every block.
    "stylegan": Preset(
        dict(arch="style", z_dim=64, w_dim=64, width=32, mapping_layers=4, d_norm="instance"),
        dict(loss="bce", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.99)),
        "StyleGAN-like: mapping network z -> w, AdaIN at every G block",
    ),
}


def resolve(
    variant: str, model_overrides: dict[str, Any] | None = None, train_overrides: dict[str, Any] | None = None
) -> tuple[ModelConfig, TrainConfig]:
    """Preset + the overrides the user actually set (None means 'use the preset')."""
    if variant not in PRESETS:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(PRESETS)}")
    preset = PRESETS[variant]
    m = dict(preset.model)
    m.update({k: v for k, v in (model_overrides or {}).items() if v is not None})
    t = dict(preset.train, variant=variant)
    t.update({k: v for k, v in (train_overrides or {}).items() if v is not None})
    if "betas" in t:
        t["betas"] = tuple(t["betas"])
    if "class_filter" in t:
        t["class_filter"] = tuple(t["class_filter"])
    tc = TrainConfig(**t).validate()
    if tc.loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {tc.loss!r}")
    if tc.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {tc.optimizer!r}")
    if tc.grow_d_at:
        m["grow_d"] = True
    return ModelConfig(**m).validate(), tc
