"""Import of foreign `.pt`/`.pth` state_dicts, shapes inferred from the tensors.

Recognised layouts:
- pytorch/examples DCGAN generators (`netG_epoch_N.pth`: `main.0.weight` = ConvT(nz, ngf*8, 4, 1, 0)
  ... `main.12.weight` = ConvT(ngf, nc, 4, 2, 1)), any depth;
- a dict {"config": <ganzoo model config>, "G": <state_dict>} (ganzoo models saved by torch.save).
"""

from __future__ import annotations

import re
from typing import Any

import torch

from ganzoo.checkpoint import Checkpoint, CheckpointError, _check_and_load, build_models, state_from_bytes

PREFIXES = ("module.", "_orig_mod.")


def strip_prefixes(sd: dict[str, Any]) -> dict[str, Any]:
    """Drop DataParallel/DDP `module.` and torch.compile `_orig_mod.` prefixes, however nested."""
    out = {}
    for k, v in sd.items():
        changed = True
        while changed:
            changed = False
            for p in PREFIXES:
                if k.startswith(p):
                    k, changed = k[len(p) :], True
        out[k] = v
    return out


def _tensor_dict(obj: Any) -> dict[str, torch.Tensor] | None:
    if isinstance(obj, dict) and obj and all(isinstance(k, str) for k in obj) and all(
        isinstance(v, torch.Tensor) for v in obj.values()
    ):
        return strip_prefixes(obj)
    return None


def import_state_dict(data: bytes) -> Checkpoint:
    obj = state_from_bytes(data)
    if isinstance(obj, dict) and isinstance(obj.get("config"), dict):
        sd = _tensor_dict(obj.get("G") or obj.get("state_dict"))
        if sd is None:
            raise CheckpointError("the file has a config but no generator state_dict under 'G'")
        cfg, G, _ = build_models(obj["config"])
        _check_and_load(G, {f"G.{k}": v for k, v in sd.items()}, "G")
        return Checkpoint(G=G, cfg=cfg, meta={"model": cfg.to_dict(), "imported": "ganzoo state_dict"})
    sd = _tensor_dict(obj)
    if sd is None and isinstance(obj, dict):
        for key in ("state_dict", "netG", "G", "generator", "model"):
            sd = _tensor_dict(obj.get(key))
            if sd is not None:
                break
    if sd is None:
        raise CheckpointError("the file is not a state_dict (a mapping of names to tensors)")
    return _import_examples_dcgan(sd)


def _import_examples_dcgan(sd: dict[str, torch.Tensor]) -> Checkpoint:
    convs = sorted(
        (int(m.group(1)), v)
        for k, v in sd.items()
        if (m := re.fullmatch(r"main\.(\d+)\.weight", k)) and v.dim() == 4
    )
    if len(convs) < 2 or convs[0][0] != 0:
        sample = ", ".join(list(sd)[:3])
        raise CheckpointError(
            f"unrecognised state_dict layout (keys like {sample}); ganzoo imports pytorch/examples "
            "DCGAN generators (main.0.weight ...) and ganzoo {'config', 'G'} dicts"
        )
    first, last = convs[0][1], convs[-1][1]
    z_dim, c0, k, k2 = first.shape
    width, channels = last.shape[0], last.shape[1]
    depth = len(convs) - 1
    if k != k2 or c0 != width * 2 ** (depth - 1) or channels not in (1, 3, 4):
        raise CheckpointError(
            "the state_dict looks like a DCGAN but its shapes do not form the pytorch/examples generator "
            f"(z {z_dim}, first maps {c0}, last maps {width}, {channels} channels): is it a discriminator?"
        )
    img_size = k * 2**depth
    model = dict(arch="dcgan", z_dim=int(z_dim), width=int(width), depth=depth,
                 img_size=int(img_size), img_channels=int(channels))
    cfg, G, _ = build_models(model)
    _check_and_load(G, {f"G.{k}": v for k, v in sd.items()}, "G")
    meta = {"model": cfg.to_dict(), "dataset": "unknown", "variant": "dcgan (imported)",
            "imported": "pytorch/examples DCGAN generator"}
    return Checkpoint(G=G, cfg=cfg, meta=meta)
