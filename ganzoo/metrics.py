"""Judging generators with a classifier trained on the real data.

Protocol (classifier-FID): features are the 128-d penultimate activations (after ReLU) of
the dataset's ganzoo classifier; N generated samples (default 10,000) are compared with the
whole test split (10,000 for MNIST), whose mean/covariance and a 5,000-row feature sample are
stored inside the classifier file so no data is needed at evaluation time. The real-data
floor is the same computation for N training images against the test split.
KID: unbiased MMD^2 with the cubic polynomial kernel, mean over 10 subsets of up to 1,000.
Precision/recall: k-NN manifolds (k=3) of Kynkaanniemi et al. 2019 in the same feature space.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.checkpoint import CheckpointError, atomic_write, read_file_header, read_header

FEATURE_DIM = 128
REF_FEATS = 5000


class Classifier(nn.Module):
    """A small CNN: 3 conv stages then a 128-d feature layer and the class logits."""

    def __init__(self, in_channels: int = 1, img_size: int = 28, n_classes: int = 10, width: int = 32) -> None:
        super().__init__()
        self.config = dict(in_channels=in_channels, img_size=img_size, n_classes=n_classes, width=width)
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, 1, 1), nn.BatchNorm2d(w), nn.ReLU(True),
            nn.Conv2d(w, w, 3, 1, 1), nn.BatchNorm2d(w), nn.ReLU(True), nn.MaxPool2d(2),  # (B, w, 14, 14)
            nn.Conv2d(w, 2 * w, 3, 1, 1), nn.BatchNorm2d(2 * w), nn.ReLU(True), nn.MaxPool2d(2),  # (B, 2w, 7, 7)
            nn.Conv2d(2 * w, 4 * w, 3, 1, 1), nn.BatchNorm2d(4 * w), nn.ReLU(True),
            nn.AdaptiveAvgPool2d(3),  # (B, 4w, 3, 3) whatever the input size
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(4 * w * 9, FEATURE_DIM), nn.BatchNorm1d(FEATURE_DIM), nn.ReLU(True),  # (B, 128): FID features
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return self.head(f), f


@dataclass
class LoadedClassifier:
    model: Classifier
    meta: dict[str, Any]
    ref_mu: torch.Tensor
    ref_sigma: torch.Tensor
    ref_feats: torch.Tensor
    classes: list[str] = field(default_factory=list)

    @property
    def img_size(self) -> int:
        return self.model.config["img_size"]

    @property
    def in_channels(self) -> int:
        return self.model.config["in_channels"]

    @property
    def real_shares(self) -> list[float] | None:
        """How often each class occurs in the real training data (None for files that predate it)."""
        shares = self.meta.get("class_shares")
        return shares if isinstance(shares, list) and len(shares) == self.model.config["n_classes"] else None


def save_classifier(
    path: str | os.PathLike, clf: Classifier, meta: dict[str, Any], ref: dict[str, torch.Tensor]
) -> None:
    from safetensors.torch import save

    tensors = {f"C.{k}": v.detach().cpu().contiguous() for k, v in clf.state_dict().items()}
    tensors.update({f"ref.{k}": v.detach().cpu().float().contiguous() for k, v in ref.items()})
    info = dict(meta, config=clf.config)
    atomic_write(path, save(tensors, metadata={"format": "ganzoo-classifier", "classifier": json.dumps(info)}))


def load_classifier(path: str | os.PathLike, device: str = "cpu") -> LoadedClassifier:
    from safetensors.torch import load as st_load

    data = Path(path).read_bytes()
    header, _ = read_header(data, len(data))
    meta = _classifier_info(header, path)
    cfg = meta["config"]
    clf = Classifier(**{k: int(cfg[k]) for k in ("in_channels", "img_size", "n_classes", "width")})
    tensors = st_load(data)
    clf.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("C.")}, strict=True)
    clf.to(device).eval()
    return LoadedClassifier(clf, meta, tensors["ref.mu"].double(), tensors["ref.sigma"].double(),
                            tensors["ref.feats"].float(), meta.get("classes", []))


def default_classifier_path(dataset: str) -> Path:
    return CLASSIFIER_DIR / f"{dataset}.safetensors"


CLASSIFIER_DIR = Path(__file__).resolve().parent.parent / "checkpoints" / "classifiers"


def _classifier_info(header: dict[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    md = header.get("__metadata__") or {}
    if md.get("format") != "ganzoo-classifier":
        raise CheckpointError(f"{path} is not a ganzoo classifier file")
    return json.loads(md["classifier"])


def classifier_meta(path: str | os.PathLike) -> dict[str, Any]:
    """A classifier file's metadata from its header alone (no tensors read)."""
    return _classifier_info(read_file_header(path), path)


def find_classifier(dataset: str, class_filter: Sequence[str] = (), folder: str | os.PathLike | None = None
                    ) -> Path | None:
    """The shipped classifier of a dataset, if there is one.

    `dataset` is a checkpoint's dataset ("mnist", "folder:emoji"). A generator trained on chosen categories of
    a folder (`--class-filter`) is judged by a classifier of exactly those categories, whose reference
    statistics come from the same images; which file that is, is read from the classifiers' headers.
    """
    root = Path(folder) if folder is not None else CLASSIFIER_DIR
    want = sorted(class_filter)
    plain = root / f"{dataset.replace('folder:', '')}.safetensors"
    candidates = [plain] + [p for p in sorted(root.glob("*.safetensors")) if p != plain]
    for path in candidates:
        if not path.is_file():
            continue
        try:
            meta = classifier_meta(path)
        except (CheckpointError, OSError, ValueError):
            continue
        key = meta.get("dataset_key") or meta.get("dataset")
        if key == dataset and sorted(meta.get("class_filter") or []) == want:
            return path
    return None


def class_filter_of(train_meta: dict[str, Any] | None) -> tuple[str, ...]:
    """The categories a checkpoint was trained on, from the `train` block of its (untrusted) metadata."""
    filt = (train_meta or {}).get("class_filter") or ()
    return tuple(str(c) for c in filt) if isinstance(filt, (list, tuple)) else ()


def find_classifier_for(dataset: str, train_meta: dict[str, Any] | None) -> Path | None:
    """find_classifier for a checkpoint, given its dataset and the `train` block of its metadata."""
    return find_classifier(dataset, class_filter_of(train_meta))


# --------------------------------------------------------------------------- running the classifier


def prepare(images: torch.Tensor, clf: LoadedClassifier) -> torch.Tensor:
    """Generator output in [-1, 1] (any size) -> the classifier's input size."""
    x = images.float()
    if x.shape[-1] != clf.img_size:
        x = F.interpolate(x, size=(clf.img_size, clf.img_size), mode="bilinear", align_corners=False)
    return x


@torch.no_grad()
def classify(clf: LoadedClassifier, images: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities (N, K), features (N, 128)) for images in [-1, 1]."""
    device = next(clf.model.parameters()).device
    probs, feats = [], []
    for chunk in images.split(batch):
        logits, f = clf.model.forward_with_features(prepare(chunk, clf).to(device))
        probs.append(logits.float().softmax(1).cpu())
        feats.append(f.float().cpu())
    return torch.cat(probs), torch.cat(feats)


# --------------------------------------------------------------------------- the numbers


def class_stats(probs: torch.Tensor, min_share: float = 0.01, real_shares: Sequence[float] | None = None
                ) -> dict[str, Any]:
    """Histogram of predicted classes, its normalised entropy, coverage, confidence, KL, IS.

    With `real_shares` (how often each class occurs in the real data) it also gives `kl_real`, the KL
    divergence of the predicted-class shares from the real ones: the measure to read on a data set whose
    classes are not balanced, where a uniform histogram would be wrong.
    """
    n, k = probs.shape
    pred = probs.argmax(1)
    hist = torch.bincount(pred, minlength=k).double()
    share = hist / max(n, 1)
    nz = share[share > 0]
    entropy = max(0.0, float(-(nz * nz.log()).sum() / math.log(k))) if k > 1 else 1.0
    kl_uniform = float((nz * (nz * k).log()).sum())
    conf = probs.max(1).values
    p_y = probs.double().mean(0, keepdim=True)
    p = probs.double().clamp_min(1e-12)
    inception = float(torch.exp((p * (p.log() - p_y.clamp_min(1e-12).log())).sum(1).mean()))
    out = {
        "histogram": hist.long().tolist(),
        "entropy": entropy,
        "coverage": int((share >= min_share).sum()),
        "confidence": float(conf.mean()),
        "low_confidence": float((conf < 0.5).double().mean()),
        "kl_uniform": kl_uniform,
        "inception_score": inception,
    }
    if real_shares is not None and len(real_shares) == k:
        out["kl_real"] = kl_from_real(out["histogram"], real_shares)
    return out


def kl_from_real(histogram: Sequence[int], real_shares: Sequence[float]) -> float:
    """KL(predicted-class shares || the real data's class shares)."""
    h = torch.tensor(list(histogram), dtype=torch.float64)
    p = h / h.sum().clamp_min(1)
    q = torch.tensor(list(real_shares), dtype=torch.float64).clamp_min(1e-6)
    q = q / q.sum()
    mask = p > 0
    return float((p[mask] * (p[mask] / q[mask]).log()).sum())


def normalised_entropy(shares: Sequence[float]) -> float:
    s = torch.tensor(list(shares), dtype=torch.float64)
    s = s[s > 0] / s.sum()
    return float(-(s * s.log()).sum() / math.log(len(shares))) if len(shares) > 1 else 1.0


def collapse_warning(stats: dict[str, Any], n_classes: int = 10, real_shares: Sequence[float] | None = None
                     ) -> str | None:
    """The mode-collapse signal: fewer than 8 of 10 classes drawn, or entropy below 0.9.

    Both bars are relative to the real data when its class shares are known: a class the real data
    hardly has (< 1%) is not expected, and for unbalanced data (normalised entropy < 0.99) the entropy bar
    is 0.9 of the real data's own entropy. Balanced data, as MNIST's, keeps the rule above.
    """
    expected, entropy_bar, note = n_classes, 0.9, ""
    if real_shares is not None and len(real_shares) == n_classes:
        expected = sum(1 for s in real_shares if s >= 0.01) or n_classes
        h = normalised_entropy(real_shares)
        if h < 0.99:  # balanced data (MNIST: 0.9994) keeps the plain rule
            entropy_bar = 0.9 * h
            note = f" (the real data: {expected} classes, entropy {h:.2f})"
    min_cov = max(1, round(0.8 * expected))
    if stats["coverage"] < min_cov or stats["entropy"] < entropy_bar:
        return (
            f"possible mode collapse: {stats['coverage']}/{n_classes} classes drawn, "
            f"normalised entropy {stats['entropy']:.2f}" + note
        )
    return None


def mean_cov(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    f = f.double()
    return f.mean(0), torch.cov(f.T)


def frechet_distance(mu1: torch.Tensor, s1: torch.Tensor, mu2: torch.Tensor, s2: torch.Tensor) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    Tr((S1 S2)^(1/2)) is computed as the sum of square roots of the eigenvalues of
    sqrt(S1) S2 sqrt(S1), which is symmetric PSD: stable without scipy's complex sqrtm.
    """
    mu1, mu2, s1, s2 = (t.double() for t in (mu1, mu2, s1, s2))
    vals, vecs = torch.linalg.eigh(s1)
    sqrt_s1 = (vecs * vals.clamp_min(0).sqrt()) @ vecs.T
    m = sqrt_s1 @ s2 @ sqrt_s1
    tr_covmean = torch.linalg.eigvalsh((m + m.T) / 2).clamp_min(0).sqrt().sum()
    fd = (mu1 - mu2).pow(2).sum() + torch.trace(s1) + torch.trace(s2) - 2 * tr_covmean
    return float(fd.clamp_min(0))


def kid(f1: torch.Tensor, f2: torch.Tensor, subsets: int = 10, subset_size: int = 1000, seed: int = 0) -> float:
    """Kernel Inception Distance (Binkowski et al. 2018), polynomial kernel (x.y/d + 1)^3."""
    g = torch.Generator().manual_seed(seed)
    f1, f2 = f1.double(), f2.double()
    d = f1.shape[1]
    m = min(subset_size, len(f1), len(f2))
    if m < 2:
        return float("nan")
    total = 0.0
    for _ in range(subsets):
        x = f1[torch.randperm(len(f1), generator=g)[:m]]
        y = f2[torch.randperm(len(f2), generator=g)[:m]]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        total += float(
            (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
            + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
            - 2 * kxy.mean()
        )
    return total / subsets


def _knn_radii(f: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(f, f)
    return d.kthvalue(k + 1, dim=1).values  # +1: each point's nearest neighbour is itself


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3, max_n: int = 5000) -> tuple[float, float]:
    """Improved precision (fakes inside the real manifold) and recall (reals inside the fake one)."""
    real, fake = real[:max_n].float(), fake[:max_n].float()
    r_real, r_fake = _knn_radii(real, k), _knn_radii(fake, k)
    d = torch.cdist(fake, real)  # (Nf, Nr)
    precision = float((d <= r_real[None]).any(1).float().mean())
    recall = float((d.T <= r_fake[None]).any(1).float().mean())
    return precision, recall


def feature_metrics(feats: torch.Tensor, clf: LoadedClassifier) -> dict[str, float]:
    mu, sigma = mean_cov(feats)
    precision, recall = precision_recall(clf.ref_feats, feats)
    return {
        "fid": frechet_distance(mu, sigma, clf.ref_mu, clf.ref_sigma),
        "kid": kid(feats, clf.ref_feats),
        "precision": precision,
        "recall": recall,
    }


@torch.no_grad()
def evaluate_images(images: torch.Tensor, clf: LoadedClassifier) -> dict[str, Any]:
    probs, feats = classify(clf, images)
    out = class_stats(probs, real_shares=clf.real_shares)
    out.update(feature_metrics(feats, clf))
    out["n"] = int(images.shape[0])
    return out


@torch.no_grad()
def evaluate_generator(
    G: nn.Module, clf: LoadedClassifier, n: int = 10_000, seed: int = 12345, D: nn.Module | None = None,
    psi: float = 1.0,
) -> dict[str, Any]:
    """Every metric for n samples of G (seeds seed..seed+n-1)."""
    from ganzoo.latent import generate

    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.z_dim, generator=g)
    was_training = G.training
    G.eval()
    images = generate(G, z, psi=psi)
    G.train(was_training)
    out = evaluate_images(images, clf)
    if D is not None:
        device = next(D.parameters()).device
        d_was = D.training
        D.eval()
        logits = torch.cat([D(c.to(device)).float().cpu() for c in images[:2000].split(500)])
        D.train(d_was)
        out["d_fooled"] = float((logits > 0).float().mean())  # share of fakes D calls real
    return out
