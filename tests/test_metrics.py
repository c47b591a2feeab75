"""Metrics against closed forms and against real data, with the committed MNIST classifier."""

import math

import pytest
import torch

from ganzoo.data import load_dataset, to_float
from ganzoo.metrics import (
    class_stats,
    classify,
    collapse_warning,
    default_classifier_path,
    evaluate_images,
    frechet_distance,
    kid,
    load_classifier,
    mean_cov,
    precision_recall,
)


@pytest.fixture(scope="module")
def clf():
    return load_classifier(default_classifier_path("mnist"))


@pytest.fixture(scope="module")
def real(request):
    from pathlib import Path

    ds = load_dataset("mnist", Path(__file__).parent / "fixtures" / "mnist", split="test")
    return to_float(ds.images), ds.labels


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    v1, v2 = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 1.0])
    expected = float(((mu1 - mu2) ** 2).sum() + (v1 + v2 - 2 * (v1 * v2).sqrt()).sum())
    got = frechet_distance(mu1, torch.diag(v1), mu2, torch.diag(v2))
    assert got == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(5 + (1 + 4 - 4) + (4 + 1 - 4) + (9 + 1 - 6))


def test_frechet_distance_of_a_set_with_itself_is_zero():
    x = torch.randn(500, 16) @ torch.randn(16, 16)
    mu, s = mean_cov(x)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-6)


def test_kid_is_near_zero_for_same_distribution_and_large_for_shifted():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(800, 8, generator=g), torch.randn(800, 8, generator=g)
    assert abs(kid(a, b, subset_size=400)) < 0.02
    assert kid(a, b + 3, subset_size=400) > 1.0


def test_precision_recall_real_vs_real_high_and_vs_noise_near_zero(clf, real):
    images, _ = real
    _, f = classify(clf, images)
    p, r = precision_recall(f[:150], f[150:])
    assert p > 0.7 and r > 0.7
    _, noise = classify(clf, torch.rand(150, 1, 28, 28) * 2 - 1)
    p, r = precision_recall(f[:150], noise)
    assert p < 0.05 and r < 0.05


def test_shipped_classifier_on_real_test_digits(clf, real):
    images, labels = real
    probs, feats = classify(clf, images)
    assert (probs.argmax(1) == labels).float().mean() >= 0.98
    stats = class_stats(probs)
    assert stats["coverage"] == 10 and stats["entropy"] > 0.99
    assert collapse_warning(stats) is None
    assert feats.shape == (300, 128)
    assert clf.meta["test_accuracy"] >= 0.993 and clf.meta["test_cross_entropy"] <= 0.03


def test_one_digit_generator_gives_coverage_one_and_the_collapse_warning(clf, real):
    images, labels = real
    ones = images[labels == 1]
    collapsed = ones[torch.arange(300) % len(ones)]
    m = evaluate_images(collapsed, clf)
    assert m["coverage"] == 1 and m["entropy"] < 0.05
    assert "collapse" in collapse_warning(m)
    assert m["kl_uniform"] == pytest.approx(math.log(10), rel=1e-3)
    assert m["inception_score"] == pytest.approx(1.0, abs=0.2)


def test_class_stats_uniform_case():
    probs = torch.eye(10).repeat(5, 1)
    s = class_stats(probs)
    assert s["entropy"] == pytest.approx(1.0) and s["coverage"] == 10 and s["kl_uniform"] == pytest.approx(0)
    assert s["inception_score"] == pytest.approx(10.0, rel=1e-3) and s["confidence"] == 1.0


def test_real_data_floor_is_stored(clf):
    floor = clf.meta["floor"]
    assert floor["coverage"] == 10 and floor["entropy"] > 0.99 and 0 < floor["fid"] < 1


# --------------------------------------------------------------------------- unbalanced classes (emoji faces)


def test_collapse_warning_reads_unbalanced_classes_against_the_real_shares():
    real_shares = [0.93, 0.07]  # people vs smileys in the emoji faces
    probs = torch.tensor([[0.99, 0.01]] * 93 + [[0.02, 0.98]] * 7)
    s = class_stats(probs, real_shares=real_shares)
    assert s["kl_real"] == pytest.approx(0.0, abs=1e-6)
    assert s["entropy"] < 0.9  # by the uniform rule this would be a collapse...
    assert collapse_warning(s, 2, real_shares) is None  # ...but it is what the real data looks like
    only_people = class_stats(torch.tensor([[0.99, 0.01]] * 100), real_shares=real_shares)
    assert only_people["coverage"] == 1 and only_people["kl_real"] > 0.05
    assert "collapse" in collapse_warning(only_people, 2, real_shares)
    # Without the shares the old, balanced rule applies.
    assert collapse_warning(s, 2) is not None


def test_find_classifier_picks_the_file_of_the_generators_categories(tmp_path):
    from ganzoo.metrics import Classifier, find_classifier, find_classifier_for, save_classifier

    ref = {"mu": torch.zeros(128), "sigma": torch.eye(128), "feats": torch.zeros(4, 128)}
    for name, filt in (("emoji", []), ("emoji-faces", ["smileys", "people"]), ("emoji-flags", ["flags"])):
        clf = Classifier(3, 16, max(2, len(filt)))
        save_classifier(tmp_path / f"{name}.safetensors", clf,
                        {"dataset": "folder", "dataset_key": "folder:emoji", "class_filter": sorted(filt)}, ref)
    (tmp_path / "broken.safetensors").write_bytes(b"\x00" * 20)  # skipped, not fatal
    assert find_classifier("folder:emoji", (), tmp_path).name == "emoji.safetensors"
    assert find_classifier("folder:emoji", ("people", "smileys"), tmp_path).name == "emoji-faces.safetensors"
    assert find_classifier("folder:emoji", ("flags",), tmp_path).name == "emoji-flags.safetensors"
    assert find_classifier("folder:emoji", ("food",), tmp_path) is None
    assert find_classifier("folder:other", (), tmp_path) is None
    # The shipped ones, as a checkpoint's metadata names them.
    assert find_classifier_for("mnist", {"class_filter": []}).name == "mnist.safetensors"
    faces = find_classifier_for("folder:emoji", {"class_filter": ["smileys-and-emotion", "people-and-body"]})
    assert faces is not None and faces.name == "emoji-faces.safetensors"


def test_classifier_on_an_unbalanced_folder(tmp_path):
    """A folder of 40 'dark' vs 8 'light' images: a stratified test split holding both, the class shares
    and the weighted loss recorded, and a classifier that tells the two apart."""
    from PIL import Image

    from ganzoo.classifier_train import train_classifier
    from ganzoo.metrics import load_classifier

    g = torch.Generator().manual_seed(0)
    for cls, n, base in (("dark", 40, 40), ("light", 8, 215)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            px = (base + torch.randint(-25, 25, (16, 16, 3), generator=g)).clamp(0, 255).to(torch.uint8)
            Image.fromarray(px.numpy()).save(tmp_path / cls / f"{i}.png")
    out = tmp_path / "clf.safetensors"
    meta = train_classifier("folder", str(tmp_path), out, epochs=6, batch_size=16, img_size=16, img_channels=3,
                            log=lambda *_: None)
    assert meta["dataset_key"] == f"folder:{tmp_path.name}"
    assert meta["class_shares"] == pytest.approx([32 / 38, 6 / 38], abs=1e-4)
    assert meta["class_weighted_loss"] is True
    assert meta["n_test"] == 10 and meta["test_balanced_accuracy"] > 0.9
    clf = load_classifier(out)
    assert clf.real_shares == meta["class_shares"]
    assert "kl_real" in meta["floor"]


def test_balanced_real_shares_keep_the_plain_collapse_rule():
    mnist_like = [0.0987, 0.1124, 0.0993, 0.1022, 0.0974, 0.0904, 0.0986, 0.1044, 0.0975, 0.0991]
    stats = {"coverage": 10, "entropy": 0.8997}
    assert collapse_warning(stats, 10, mnist_like) is not None  # 0.9 exactly, not 0.9 x 0.9994
    assert collapse_warning({"coverage": 8, "entropy": 0.95}, 10, mnist_like) is None
    assert collapse_warning({"coverage": 7, "entropy": 0.95}, 10, mnist_like) is not None
