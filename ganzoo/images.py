"""Image helpers shared by train.py and the app: grids, crisp upscaling, PNG and GIF bytes."""

from __future__ import annotations

import io
import math

import numpy as np
import torch

from ganzoo.data import to_uint8


def grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2, pad_value: int = 0) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] or uint8 -> one (H', W', C) uint8 array, row-major."""
    if images.dtype != torch.uint8:
        images = to_uint8(images)
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    out = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), pad_value, dtype=np.uint8)
    arr = images.permute(0, 2, 3, 1).cpu().numpy()
    for i in range(n):
        r, col = divmod(i, nrow)
        out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + col * (w + pad) : pad + col * (w + pad) + w] = arr[i]
    return out


def upscale(arr: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling: pixels stay crisp squares."""
    if factor <= 1:
        return arr
    return arr.repeat(factor, axis=0).repeat(factor, axis=1)


def to_pil(arr: np.ndarray):
    from PIL import Image

    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return Image.fromarray(arr)


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    to_pil(arr).save(buf, format="PNG")
    return buf.getvalue()


def gif_bytes(frames: list[np.ndarray], ms_per_frame: int = 120, bounce: bool = True) -> bytes:
    """An animated GIF that loops forever (forwards then backwards when bounce)."""
    seq = frames + frames[-2:0:-1] if bounce and len(frames) > 2 else frames
    pil = [to_pil(f) for f in seq]
    buf = io.BytesIO()
    pil[0].save(buf, format="GIF", save_all=True, append_images=pil[1:], duration=ms_per_frame, loop=0)
    return buf.getvalue()


def save_png(path, arr: np.ndarray) -> None:
    to_pil(arr).save(path, format="PNG")
