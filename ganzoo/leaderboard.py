"""The leaderboard: every metric of every checkpoint, read against the real-data floor."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ganzoo.checkpoint import CheckpointError, load, save
from ganzoo.metrics import evaluate_generator, find_classifier_for, kl_from_real, load_classifier

COLUMNS = [
    ("name", "checkpoint"), ("variant", "variant"), ("dataset", "dataset"), ("params_g", "G params"),
    ("params_d", "D params"), ("fid", "cFID"), ("fid_ratio", "cFID / floor"), ("kid", "KID"),
    ("precision", "precision"), ("recall", "recall"), ("entropy", "entropy"), ("coverage", "coverage"),
    ("confidence", "confidence"), ("kl_real", "class KL"), ("ms_per_image", "ms / image"),
]


@torch.no_grad()
def sampling_ms(G: torch.nn.Module, n: int = 256, repeats: int = 3) -> float:
    """Milliseconds per image for a batch of n, best of `repeats` (after one warm-up)."""
    device = next(G.parameters()).device
    z = torch.randn(n, G.z_dim, device=device)
    G(z[:8])
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        G(z)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 1000 * best / n


def evaluate_paths(
    paths: list[Path], *, n: int = 10_000, device: str = "cpu", write_meta: bool = False,
    log: Callable[[str], None] = print, reuse: bool = False,
) -> list[dict[str, Any]]:
    """Evaluate checkpoints; with reuse, a checkpoint whose stored eval used the same n keeps those numbers."""
    rows: list[dict[str, Any]] = []
    floors: dict[str, tuple[str, dict[str, Any]]] = {}  # classifier file -> (dataset, its real-data floor)
    for path in paths:
        try:
            ckpt = load(path, device=device)
        except CheckpointError as e:
            log(f"skipped {path}: {e}")
            continue
        clf_path = find_classifier_for(ckpt.dataset, ckpt.meta.get("train"))
        row: dict[str, Any] = {"name": Path(path).stem, "path": str(path), "variant": ckpt.variant,
                               "dataset": ckpt.dataset, "params_g": ckpt.param_counts().get("G"),
                               "params_d": ckpt.param_counts().get("D"),
                               "ms_per_image": sampling_ms(ckpt.G)}
        if clf_path is None:
            log(f"{path}: no classifier for dataset {ckpt.dataset!r}; only speed and size measured")
        else:
            clf = load_classifier(clf_path, device)
            if clf.in_channels != ckpt.cfg.img_channels:
                log(f"{path}: the {ckpt.dataset} classifier takes {clf.in_channels} channels; skipped metrics")
            elif reuse and (ckpt.meta.get("eval") or {}).get("n") == n and "fid" in ckpt.meta["eval"]:
                stored = ckpt.meta["eval"]
                row.update({k: v for k, v in stored.items() if k not in ("floor", "ms_per_image", "name", "path")})
                if "kl_real" not in row and clf.real_shares and len(row.get("histogram") or []) == len(clf.real_shares):
                    row["kl_real"] = kl_from_real(row["histogram"], clf.real_shares)  # a function of stored counts
                floors[str(clf_path)] = (_floor_label(ckpt.dataset, clf), clf.meta.get("floor", {}))
                log(f"{path}: reused stored metrics (n={n})")
            else:
                t = time.time()
                m = evaluate_generator(ckpt.G, clf, n=n, D=ckpt.D)
                floor = clf.meta.get("floor", {})
                floors[str(clf_path)] = (_floor_label(ckpt.dataset, clf), floor)
                row.update({k: m[k] for k in ("fid", "kid", "precision", "recall", "entropy", "coverage",
                                              "confidence", "low_confidence", "inception_score", "histogram")})
                if "kl_real" in m:
                    row["kl_real"] = m["kl_real"]
                if "d_fooled" in m:
                    row["d_fooled"] = m["d_fooled"]
                row["n"] = n
                row["fid_ratio"] = m["fid"] / floor["fid"] if floor.get("fid") else None
                log(f"{path}: cFID {m['fid']:.3f} coverage {m['coverage']} entropy {m['entropy']:.3f} "
                    f"({time.time() - t:.0f}s)")
                if write_meta:
                    _store(path, ckpt, row, floor)
        rows.append(row)
    for dataset, floor in floors.values():
        rows.append({"name": f"real {dataset} (floor)", "variant": "real data", "dataset": dataset,
                     **{k: floor.get(k) for k in FLOOR_KEYS}, "fid_ratio": 1.0, "n": floor.get("n")})
    return rows


FLOOR_KEYS = ("fid", "kid", "precision", "recall", "entropy", "coverage", "confidence", "kl_real")


def _floor_label(dataset: str, clf) -> str:
    filt = clf.meta.get("class_filter") or []
    return f"{dataset} [{', '.join(filt)}]" if filt else dataset


def _store(path: Path, ckpt, row: dict[str, Any], floor: dict[str, Any]) -> None:
    meta = {k: v for k, v in ckpt.meta.items() if k not in ("model", "param_counts", "fp16")}
    meta["eval"] = {k: v for k, v in row.items() if k not in ("name", "path")}
    meta["eval"]["floor"] = {k: floor.get(k) for k in (*FLOOR_KEYS, "n")}
    save(path, ckpt.G_train or ckpt.G, ckpt.cfg, D=ckpt.D, G_ema=ckpt.G if ckpt.G_train is not None else None,
         meta=meta, extra_tensors=ckpt.tensors, half=bool(ckpt.meta.get("fp16")))


def _cell(key: str, v: Any) -> str:
    if v is None:
        return ""
    if key in ("params_g", "params_d"):
        return f"{v / 1e6:.2f}M"
    if key == "kid":
        return f"{v:.4f}"
    if key in ("precision", "recall", "entropy", "confidence", "kl_real"):
        return f"{v:.3f}"
    if key == "fid":
        return f"{v:.2f}"
    if key == "fid_ratio":
        return f"{v:.1f}x"
    if key == "ms_per_image":
        return f"{v:.3f}"
    return str(v)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    sep = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(_cell(k, r.get(k)) for k, _ in COLUMNS) + " |" for r in rows]
    return "\n".join([head, sep, *body])
