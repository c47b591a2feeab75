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
