"""Data sets, preloaded once as uint8 tensors (N, C, H, W): no per-sample PIL work per step.

MNIST / Fashion-MNIST come from the standard IDX files (gzipped or not) in `data_dir`, or
are downloaded by torchvision into ./data when no folder is given. Image folders are any
tree of images (ImageFolder layout when there are subfolders); RGBA is composited on white.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

IDX_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
TV_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
}
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


class DataError(ValueError):
    """A data folder we cannot use; the message names the folder and what was expected."""


@dataclass
class ImageSet:
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor  # (N,) int64, -1 when unlabelled
    classes: list[str]
    name: str

    def __len__(self) -> int:
        return self.images.shape[0]


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a numpy array, validating its header."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read IDX file {path}: {e}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = data[3]
    if not 1 <= ndim <= 4 or len(data) < 4 + 4 * ndim:
        raise DataError(f"{path} has a corrupt IDX header")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    n = int(np.prod(dims))
    body = data[4 + 4 * ndim :]
    if len(body) != n:
        raise DataError(f"{path} is truncated or corrupt: header says {n} bytes of data, found {len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def find_idx(data_dir: str | os.PathLike, dataset: str, split: str, kind: str) -> Path:
    base = IDX_NAMES[(split, kind)]
    root = Path(data_dir)
    for folder in (root, root / TV_FOLDERS.get(dataset, ""), root / TV_FOLDERS.get(dataset, "") / "raw"):
        for name in (base, base + ".gz"):
            if (folder / name).is_file():
                return folder / name
    raise DataError(
        f"{dataset} {split} {kind} not found in {root}: expected {base} or {base}.gz "
        f"(also looked in {TV_FOLDERS.get(dataset, '')}/raw inside it)"
    )


def load_idx_dataset(dataset: str, data_dir: str | os.PathLike | None, split: str = "train") -> ImageSet:
    if data_dir is None or data_dir == "":
        data_dir = _download(dataset)
    if not Path(data_dir).is_dir():
        raise DataError(f"data folder {data_dir} does not exist (expected the {dataset} IDX files in it)")
    images = read_idx(find_idx(data_dir, dataset, split, "images"))
    labels = read_idx(find_idx(data_dir, dataset, split, "labels"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{dataset} files in {data_dir} do not match: images {images.shape}, labels {labels.shape}")
    return ImageSet(
        torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)),
        CLASS_NAMES[dataset], dataset,
    )


def _download(dataset: str) -> Path:
    """torchvision's downloader, into ./data, for ordinary users with internet access."""
    import torchvision

    root = Path("data")
    cls = torchvision.datasets.MNIST if dataset == "mnist" else torchvision.datasets.FashionMNIST
    try:
        for train in (True, False):
            cls(root=str(root), train=train, download=True)
    except Exception as e:
        raise DataError(
            f"could not download {dataset} into {root.resolve()} ({e.__class__.__name__}); "
            f"pass --data-dir with a folder holding the IDX files"
        ) from None
    return root / TV_FOLDERS[dataset] / "raw"


def load_folder(
    root: str | os.PathLike, img_size: int, class_filter: tuple[str, ...] | list[str] = (), channels: int = 3
) -> ImageSet:
    """Every image under `root` (one subfolder per class, or flat), resized/cropped to img_size."""
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    subdirs = sorted(p.name for p in root.iterdir() if p.is_dir())
    classes = subdirs or [root.name]
    if class_filter:
        unknown = [c for c in class_filter if c not in classes]
        if unknown:
            raise DataError(f"--class-filter names {unknown} but {root} has subfolders {subdirs}")
        classes = [c for c in classes if c in class_filter]
    files: list[tuple[Path, int]] = []
    for idx, c in enumerate(classes):
        folder = root / c if subdirs else root
        files += [(p, idx) for p in sorted(folder.rglob("*")) if p.suffix.lower() in IMAGE_EXTS]
    if not files:
        raise DataError(f"no images ({', '.join(sorted(IMAGE_EXTS))}) found in {root}")
    arrays, labels, bad = [], [], 0
    for path, label in files:
        try:
            with Image.open(path) as im:
                arrays.append(_prepare(im, img_size, channels))
                labels.append(label)
        except (UnidentifiedImageError, OSError):
            bad += 1
    if not arrays:
        raise DataError(f"none of the {len(files)} image files in {root} could be decoded")
    if bad:
        print(f"warning: skipped {bad} unreadable image(s) in {root}")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return ImageSet(images, torch.tensor(labels), classes, f"folder:{root.name}")


def _prepare(im, img_size: int, channels: int) -> np.ndarray:
    from PIL import Image

    im = im.convert("RGBA")
    background = Image.new("RGBA", im.size, (255, 255, 255, 255))
    im = Image.alpha_composite(background, im).convert("RGB" if channels == 3 else "L")
    # Resize the short side, then centre-crop: keeps aspect ratio for non-square images.
    w, h = im.size
    scale = img_size / min(w, h)
    im = im.resize((max(img_size, round(w * scale)), max(img_size, round(h * scale))), Image.BICUBIC)
    w, h = im.size
    left, top = (w - img_size) // 2, (h - img_size) // 2
    im = im.crop((left, top, left + img_size, top + img_size))
    arr = np.asarray(im, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def resize_uint8(images: torch.Tensor, img_size: int) -> torch.Tensor:
    if images.shape[-1] == img_size:
        return images
    out = F.interpolate(images.float(), size=(img_size, img_size), mode="bilinear", align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    img_size: int = 28,
    img_channels: int = 1,
    class_filter: tuple[str, ...] | list[str] = (),
    split: str = "train",
) -> ImageSet:
    if name in ("mnist", "fashion-mnist"):
        if img_channels != 1:
            raise DataError(f"{name} is greyscale: use --img-channels 1 (the presets do)")
        ds = load_idx_dataset(name, data_dir, split)
        ds.images = resize_uint8(ds.images, img_size)
        if class_filter:
            unknown = [c for c in class_filter if c not in ds.classes]
            if unknown:
                raise DataError(f"--class-filter names {unknown}, which {name} does not have; its classes are "
                                + ", ".join(repr(c) for c in ds.classes))
            keep = torch.tensor([c in class_filter for c in ds.classes])[ds.labels]
            ds.images, ds.labels = ds.images[keep], ds.labels[keep]
        return ds
    if name == "folder":
        if not data_dir:
            raise DataError("--dataset folder needs --data-dir pointing at a folder of images")
        return load_folder(data_dir, img_size, class_filter, img_channels)
    if name == "synthetic":
        return synthetic(256, img_channels, img_size)
    raise DataError(f"unknown dataset {name!r}; use mnist, fashion-mnist or folder")


def synthetic(n: int, channels: int, size: int, seed: int = 0) -> ImageSet:
    """Random blobs for --dry-run and tests: no files needed."""
    g = torch.Generator().manual_seed(seed)
    images = (torch.rand(n, channels, size, size, generator=g) * 255).to(torch.uint8)
    return ImageSet(images, torch.zeros(n, dtype=torch.long), ["synthetic"], "synthetic")


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the generator's Tanh range."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
