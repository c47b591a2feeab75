"""A tiny registry: `@register_model` on a builder, `create_model(cfg)` to build G and D."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

_MODELS: dict[str, Callable] = {}


def register_model(fn: Callable) -> Callable:
    """Register `fn(cfg) -> (G, D)` under its function name."""
    _MODELS[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    _ensure_loaded()
    return sorted(_MODELS)


def create_model(cfg, **overrides) -> tuple[nn.Module, nn.Module]:
    """Build (G, D) from a ModelConfig, a dict or an architecture name, plus overrides."""
    from ganzoo.config import ModelConfig

    _ensure_loaded()
    if isinstance(cfg, str):
        cfg = ModelConfig(arch=cfg, **overrides)
    elif isinstance(cfg, dict):
        cfg = ModelConfig(**{**cfg, **overrides})
    elif overrides:
        cfg = ModelConfig(**{**cfg.to_dict(), **overrides})
    cfg.validate()
    G, D = _MODELS[cfg.arch](cfg)
    G.cfg = cfg
    D.cfg = cfg
    return G, D


def _ensure_loaded() -> None:
    # Builders register on import; importing here keeps `import ganzoo` cheap and cycle-free.
    import ganzoo.models  # noqa: F401
