"""Checkpoint cards: markdown generated from a checkpoint's metadata, never typed by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

METRIC_ROWS = [("fid", "classifier-FID", "{:.3f}"), ("kid", "KID", "{:.4f}"), ("precision", "precision", "{:.3f}"),
               ("recall", "recall", "{:.3f}"), ("entropy", "class entropy (1 = uniform)", "{:.3f}"),
               ("coverage", "classes covered (>= 1%)", "{}"), ("confidence", "mean classifier confidence", "{:.3f}"),
               ("kl_real", "KL of class shares from the real data's", "{:.4f}")]


def settings_table(ckpt) -> str:
    model = ckpt.cfg.to_dict()
    train = ckpt.meta.get("train", {})
    rows = ["| setting | value |", "|---|---|"]
    rows += [f"| model.{k} | {v} |" for k, v in model.items()]
    rows += [f"| train.{k} | {v} |" for k, v in train.items() if k not in ("data_dir",)]
    return "\n".join(rows)


def metrics_table(ckpt) -> str:
    ev: dict[str, Any] = ckpt.meta.get("eval") or {}
    if not ev:
        return "Not evaluated yet: run `python train.py evaluate --write-meta <file>`."
    floor = ev.get("floor") or {}
    from ganzoo.metrics import find_classifier_for

    clf = find_classifier_for(ckpt.dataset, ckpt.meta.get("train"))
    which = f"`{clf.stem}` classifier" if clf is not None else f"{ckpt.dataset} classifier"
    rows = [f"Measured on {ev.get('n', '?')} samples with the {which}; the real-data floor is "
            "the same measurement on real training images.", "",
            "| metric | this model | real data |", "|---|---|---|"]
    for key, title, fmt in METRIC_ROWS:
        if ev.get(key) is not None:
            f = floor.get(key)
            rows.append(f"| {title} | {fmt.format(ev[key])} | {fmt.format(f) if f is not None else ''} |")
    if ev.get("ms_per_image") is not None:
        rows.append(f"| sampling ms / image (CPU) | {ev['ms_per_image']:.3f} | |")
    return "\n".join(rows)


# The zoo's quality bars for MNIST models (10,000 samples, read against the real-data floor).
MIN_ENTROPY, MIN_CONFIDENCE, MAX_FLOOR_RATIO, BEST_FLOOR_RATIO = 0.97, 0.9, 15.0, 3.0


def bar_checks(ckpt) -> list[tuple[str, str, bool]] | None:
    """(bar, this model's value, met) for the zoo's MNIST bars, from the checkpoint's stored evaluation."""
    ev: dict[str, Any] = ckpt.meta.get("eval") or {}
    floor = (ev.get("floor") or {}).get("fid")
    if ckpt.dataset != "mnist" or ev.get("fid") is None or not floor:
        return None
    classes = len(ckpt.meta.get("classes") or []) or 10
    ratio = ev["fid"] / floor
    return [
        (f"all {classes} classes drawn (>= 1% each)", f"{ev.get('coverage')}", (ev.get("coverage") or 0) >= classes),
        (f"normalised class entropy >= {MIN_ENTROPY}", f"{ev.get('entropy') or 0:.3f}",
         (ev.get("entropy") or 0) >= MIN_ENTROPY),
        (f"mean classifier confidence >= {MIN_CONFIDENCE}", f"{ev.get('confidence') or 0:.3f}",
         (ev.get("confidence") or 0) >= MIN_CONFIDENCE),
        (f"classifier-FID <= {MAX_FLOOR_RATIO:g}x the floor (every variant)", f"{ratio:.1f}x",
         ratio <= MAX_FLOOR_RATIO),
        (f"classifier-FID <= {BEST_FLOOR_RATIO:g}x the floor (the best variant)", f"{ratio:.1f}x",
         ratio <= BEST_FLOOR_RATIO),
    ]


def bars_table(ckpt) -> str | None:
    checks = bar_checks(ckpt)
    if checks is None:
        return None
    rows = ["| bar | this model | met |", "|---|---|---|"]
    rows += [f"| {bar} | {value} | {'yes' if ok else '**no**'} |" for bar, value, ok in checks]
    return "\n".join(rows)


def card(ckpt, name: str) -> str:
    m = ckpt.meta
    pc = ckpt.param_counts()
    lines = [
        f"# {name}: {ckpt.variant} on {ckpt.dataset}",
        "",
        f"- architecture `{ckpt.cfg.arch}`, {ckpt.cfg.img_channels}x{ckpt.cfg.img_size}x{ckpt.cfg.img_size} images",
        f"- parameters: G {pc.get('G', 0):,}" + (f", D {pc['D']:,}" if pc.get("D") else ""),
        f"- trained {m.get('epochs_done', '?')} epochs ({m.get('steps_done', '?')} steps), "
        f"{m.get('wall_seconds', '?')} s on {m.get('device', '?')}",
        f"- weights stored as {'float16' if m.get('fp16') else 'float32'}",
        f"- sampling generator: {m.get('sampling_generator') or ('EMA of G' if ckpt.G_train is not None else 'G')}",
    ]
    if m.get("best_epoch"):
        lines.append(f"- this is epoch {m['best_epoch']}, the best by classifier-FID")
    if m.get("note"):
        lines += ["", "## How it was made", "", "```", m["note"], "```"]
    lines += ["", "## Metrics", "", metrics_table(ckpt)]
    bars = bars_table(ckpt)
    if bars:
        lines += ["", "## Quality bars", "", bars]
    if m.get("tried"):
        lines += ["", "## What was tried", "", m["tried"]]
    lines += ["", "## Settings", "", settings_table(ckpt), ""]
    return "\n".join(lines)


def write_card(ckpt, path: Path, name: str) -> Path:
    path.write_text(card(ckpt, name))
    return path
