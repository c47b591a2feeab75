"""Every shipped checkpoint loads through the public loader and draws what it claims."""

from pathlib import Path

import pytest
import torch

import ganzoo
from ganzoo.latent import generate, sample_z
from ganzoo.metrics import class_stats, classify, find_classifier, load_classifier

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "checkpoints").glob("*.safetensors"))


def test_every_preset_is_shipped():
    names = {p.stem for p in SHIPPED}
    for variant in ganzoo.PRESETS:
        assert variant in names, f"no shipped checkpoint for {variant}"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_checkpoint(path):
    ck = ganzoo.load(path)
    assert path.stat().st_size < 10 * 2**20
    z = sample_z(list(range(1000)), ck.cfg.z_dim)
    images = generate(ck.G, z)
    c, s = ck.cfg.img_channels, ck.cfg.img_size
    assert images.shape == (1000, c, s, s)
    assert torch.isfinite(images).all() and images.min() >= -1 and images.max() <= 1
    assert images.std() > 0.1  # not a constant picture
    for key in ("train", "history", "device", "wall_seconds", "note"):
        assert key in ck.meta, key
    assert (path.with_suffix(".md")).exists(), "every checkpoint has a card"
    clf_path = find_classifier(ck.dataset)
    if clf_path is not None and ck.dataset in ("mnist", "fashion-mnist"):
        clf = load_classifier(clf_path)
        probs, _ = classify(clf, images)
        assert class_stats(probs)["coverage"] >= 9


def test_card_bars_are_computed_from_the_stored_evaluation():
    from ganzoo.cards import bars_table, card

    ckpt = ganzoo.load(ROOT / "checkpoints" / "dcgan.safetensors")
    ev = ckpt.meta["eval"]
    table = bars_table(ckpt)
    ratio = ev["fid"] / ev["floor"]["fid"]
    assert f"| {ratio:.1f}x | {'yes' if ratio <= 15 else '**no**'} |" in table
    assert ("| **no** |" in table.splitlines()[2]) == (ev["entropy"] < 0.97)
    ckpt.meta["eval"] = {**ev, "entropy": 0.5, "coverage": 7}
    bad = bars_table(ckpt)
    assert "| 0.500 | **no** |" in bad and "| 7 | **no** |" in bad
    ckpt.meta["tried"] = "- a lower learning rate: no better"
    assert "## What was tried\n\n- a lower learning rate" in card(ckpt, "dcgan")
    ckpt.meta["eval"] = {}
    assert bars_table(ckpt) is None
