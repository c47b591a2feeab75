"""Training the per-dataset classifier that the metrics use (train.py classifier)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ganzoo.data import load_dataset, to_float
from ganzoo.metrics import REF_FEATS, Classifier, LoadedClassifier, classify, evaluate_images, mean_cov, save_classifier


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Small random rotations (+-10 deg), scalings (0.9-1.1) and shifts (+-2 px), per sample."""
    b = x.shape[0]
    angle = (torch.rand(b, generator=g) - 0.5) * (math.pi / 9)
    scale = 1 + (torch.rand(b, generator=g) - 0.5) * 0.2
    shift = (torch.rand(b, 2, generator=g) - 0.5) * (4 / x.shape[-1]) * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # Pad with each image's own background (its border's mean: black for MNIST, white for emoji on white),
    # not zeros (= mid grey).
    border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1]], -1)
    bg = border.mean(-1, keepdim=True)[..., None]
    return F.grid_sample(x - bg, grid, align_corners=False, padding_mode="zeros") + bg


def train_classifier(
    dataset: str,
    data_dir: str | None,
    out: str | Path,
    *,
    epochs: int = 8,
    batch_size: int = 128,
    lr: float = 2e-3,
    img_size: int = 28,
    img_channels: int = 1,
    class_filter: tuple[str, ...] = (),
    seed: int = 0,
    floor_n: int = 10_000,
    amp: bool = False,
    log=print,
) -> dict[str, Any]:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    train = load_dataset(dataset, data_dir, img_size=img_size, img_channels=img_channels, class_filter=class_filter)
    if dataset in ("mnist", "fashion-mnist"):
        test = load_dataset(dataset, data_dir, img_size=img_size, img_channels=img_channels, split="test")
    else:
        # Image folders have no test split: hold out a fixed 20% of every class, so a rare class is in both.
        test_idx, train_idx = stratified_split(train.labels, 0.2, seed=1234)
        test = type(train)(train.images[test_idx], train.labels[test_idx], train.classes, train.name)
        train = type(train)(train.images[train_idx], train.labels[train_idx], train.classes, train.name)
    n_classes = len(train.classes)
    counts = torch.bincount(train.labels, minlength=n_classes).double()
    shares = counts / counts.sum()
    # Unbalanced folders (the emoji faces: 169 smileys, 1,800 people) would teach "always the big class";
    # weighting each class by 1/share makes every class count the same in the loss.
    unbalanced = shares.max() > 1.5 * shares.clamp_min(1e-12).min()
    weight = (1.0 / shares.clamp_min(1e-12)) / n_classes if unbalanced else None
    clf = Classifier(img_channels, img_size, n_classes)
    opt = torch.optim.AdamW(clf.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(train) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    start = time.time()
    for epoch in range(epochs):
        clf.train()
        perm = torch.randperm(len(train), generator=g)
        total, correct, loss_sum = 0, 0, 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            x = augment(to_float(train.images[idx]), g)
            y = train.labels[idx]
            # bf16 autocast roughly doubles CPU throughput; evaluation below stays fp32.
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                logits = clf(x)
            loss = F.cross_entropy(logits.float(), y, weight=None if weight is None else weight.float())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            total += len(idx)
        acc, test_loss, _ = _test(clf, test)
        log(f"epoch {epoch + 1}/{epochs}: train loss {loss_sum / total:.4f} acc {correct / total:.4f} | "
            f"test acc {acc:.4f} loss {test_loss:.4f} | {time.time() - start:.0f}s")
    clf.eval()
    acc, test_loss, balanced = _test(clf, test)
    shares_list = [round(float(x), 6) for x in shares]
    loaded = LoadedClassifier(clf, {"class_shares": shares_list}, torch.zeros(1), torch.zeros(1), torch.zeros(1))
    _, test_feats = classify(loaded, to_float(test.images))
    mu, sigma = mean_cov(test_feats)
    ref_idx = torch.randperm(len(test_feats), generator=torch.Generator().manual_seed(0))[:REF_FEATS]
    ref = {"mu": mu, "sigma": sigma, "feats": test_feats[ref_idx]}
    loaded.ref_mu, loaded.ref_sigma, loaded.ref_feats = mu, sigma, ref["feats"]
    # The real-data floor: what real training images score against the test split.
    floor_idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(1))[:floor_n]
    floor = evaluate_images(to_float(train.images[floor_idx]), loaded)
    meta = {
        "dataset": dataset,
        "dataset_key": train.name,  # what a generator's checkpoint records as its dataset
        "class_filter": sorted(class_filter),
        "classes": train.classes,
        "class_shares": shares_list,
        "class_weighted_loss": weight is not None,
        "test_accuracy": acc,
        "test_cross_entropy": test_loss,
        "test_balanced_accuracy": balanced,  # mean of per-class accuracies: what a rare class gets
        "n_train": len(train),
        "n_test": len(test),
        "epochs": epochs,
        "wall_seconds": round(time.time() - start, 1),
        "device": "cpu",
        "amp": amp,
        "floor": floor,
        "protocol": "features: 128-d penultimate layer; reference: whole test split (mean/cov), "
                    f"{len(ref['feats'])} test features for KID and precision/recall",
    }
    save_classifier(out, clf, meta, ref)
    log(f"saved {out}: test accuracy {acc:.4f}, cross-entropy {test_loss:.4f}, floor FID {floor['fid']:.3f}")
    return meta


def stratified_split(labels: torch.Tensor, fraction: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(held-out indices, the rest): `fraction` of every class (at least one of each class that has two)."""
    g = torch.Generator().manual_seed(seed)
    held, rest = [], []
    for c in labels.unique().tolist():
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = max(1, round(fraction * len(idx))) if len(idx) > 1 else 0
        held.append(idx[:k])
        rest.append(idx[k:])
    return torch.cat(held).sort().values, torch.cat(rest).sort().values


@torch.no_grad()
def _test(clf: Classifier, test) -> tuple[float, float, float]:
    """(accuracy, mean cross-entropy, balanced accuracy) on the test split."""
    clf.eval()
    correct, loss, preds = 0, 0.0, []
    for i in range(0, len(test), 1000):
        x, y = to_float(test.images[i : i + 1000]), test.labels[i : i + 1000]
        logits = clf(x)
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        preds.append(logits.argmax(1))
    pred = torch.cat(preds)
    per_class = [float((pred[test.labels == c] == c).float().mean()) for c in test.labels.unique().tolist()]
    return correct / len(test), loss / len(test), sum(per_class) / len(per_class)
