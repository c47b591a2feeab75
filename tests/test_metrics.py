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
