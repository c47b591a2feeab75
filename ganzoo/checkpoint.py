"""The one checkpoint format: a single .safetensors file with a JSON config in its metadata.

Tensors are namespaced: `G.*` (generator), `D.*`, `G_ema.*` (the averaged generator, used
for sampling when present), `opt.G.*` / `opt.D.*` (optimiser state, for --resume),
`rng.*` and `history.samples` (sample grids over epochs). The metadata key "ganzoo" holds
JSON: format_version, ganzoo_version, model (ModelConfig), train (TrainConfig), dataset,
history (one dict per epoch), metrics, and the non-tensor part of the training state.

Loading never runs code: safetensors holds raw tensors only, `.pt` files go through
`torch.load(weights_only=True)`, and every field is validated before anything is built.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganzoo.config import ModelConfig

FORMAT_VERSION = 1
MAX_BYTES = 200 * 1024 * 1024  # default size cap for any file we are asked to load
MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_PARAMS = 60_000_000  # per network; the zoo's largest is ~4M
SAFE_DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64,
               "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}
DTYPE_BYTES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1}


class CheckpointError(ValueError):
    """A checkpoint we refuse to load; the message is one sentence a user can act on."""


@dataclass
class Checkpoint:
    """A loaded checkpoint. `G` is the sampling generator (G_ema when saved), in eval mode."""

    G: nn.Module
    cfg: ModelConfig
    meta: dict[str, Any]
    D: nn.Module | None = None
    G_train: nn.Module | None = None  # the raw (non-EMA) generator when an EMA one exists
    tensors: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    source: str = ""

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.meta.get("history", [])

    @property
    def metrics(self) -> dict[str, Any]:
        return self.meta.get("metrics", {})

    @property
    def dataset(self) -> str:
        return self.meta.get("dataset", "unknown")

    @property
    def variant(self) -> str:
        return self.meta.get("variant") or self.meta.get("train", {}).get("variant") or self.cfg.arch

    def param_counts(self) -> dict[str, int]:
        out = {"G": count_params(self.G)}
        if self.D is not None:
            out["D"] = count_params(self.D)
        elif "param_counts" in self.meta:
            out["D"] = self.meta["param_counts"].get("D", 0)
        return out


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --------------------------------------------------------------------------- saving


def _state(module: nn.Module, prefix: str, half: bool) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in module.state_dict().items():
        v = v.detach().cpu()
        if half and v.is_floating_point():
            v = v.half()
        out[f"{prefix}.{k}"] = v.contiguous()
    return out


def build_file(
    G: nn.Module,
    cfg: ModelConfig,
    *,
    D: nn.Module | None = None,
    G_ema: nn.Module | None = None,
    meta: dict[str, Any] | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
    half: bool = False,
) -> bytes:
    """Serialise to safetensors bytes (what `save` writes and the Hub pushes)."""
    from safetensors.torch import save

    import ganzoo

    tensors = _state(G, "G", half)
    if D is not None:
        tensors.update(_state(D, "D", half))
    if G_ema is not None:
        tensors.update(_state(G_ema, "G_ema", half))
    for k, v in (extra_tensors or {}).items():
        tensors[k] = v.detach().cpu().contiguous()
    info = dict(meta or {})
    info.update(
        format_version=FORMAT_VERSION,
        ganzoo_version=ganzoo.__version__,
        model=cfg.to_dict(),
        fp16=half,
        param_counts={"G": count_params(G), **({"D": count_params(D)} if D is not None else {})},
    )
    info.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S"))
    return save(tensors, metadata={"format": "ganzoo", "ganzoo": json.dumps(info, default=_json_default)})


def _json_default(o: Any) -> Any:
    if isinstance(o, (tuple, set)):
        return list(o)
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`.

    A crash at any moment leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes 0600 files; give the checkpoint ordinary permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save(path: str | os.PathLike, G: nn.Module, cfg: ModelConfig | None = None, **kwargs: Any) -> Path:
    """Atomically save G (and optionally D, G_ema, meta, extra tensors) to one .safetensors file."""
    cfg = cfg or G.cfg
    atomic_write(path, build_file(G, cfg, **kwargs))
    return Path(path)


# --------------------------------------------------------------------------- loading


def read_header(data: bytes | memoryview, file_size: int) -> tuple[dict[str, Any], int]:
    """Parse and validate a safetensors header from its first bytes. Returns (header, data_start)."""
    if file_size < 8 or len(data) < 8:
        raise CheckpointError("the file is too short to be a checkpoint (fewer than 8 bytes)")
    (n,) = struct.unpack("<Q", bytes(data[:8]))
    if n > MAX_HEADER_BYTES or 8 + n > file_size:
        raise CheckpointError(
            f"the file is truncated or not a safetensors file: its header claims {n} bytes but the file has {file_size}"
        )
    if len(data) < 8 + n:
        raise CheckpointError("the file is truncated inside its header")
    try:
        header = json.loads(bytes(data[8 : 8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError("not a valid safetensors file: its header is not valid JSON") from None
    if not isinstance(header, dict):
        raise CheckpointError("not a valid safetensors file: its header is not a JSON object")
    data_len = file_size - 8 - n
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                raise CheckpointError("not a valid safetensors file: its metadata is not a string map")
            continue
        if not isinstance(info, dict) or info.get("dtype") not in DTYPE_BYTES:
            raise CheckpointError(f"tensor {name!r} has an unsupported dtype {info.get('dtype')!r}"
                                  if isinstance(info, dict) else f"tensor {name!r} has a malformed entry")
        shape, offsets = info.get("shape"), info.get("data_offsets")
        if (not isinstance(shape, list) or not all(isinstance(s, int) and 0 <= s < 2**31 for s in shape)
                or not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) for o in offsets)):
            raise CheckpointError(f"tensor {name!r} has a malformed shape or offsets")
        numel = 1
        for s in shape:
            numel *= s
        begin, end = offsets
        if not 0 <= begin <= end <= data_len or end - begin != numel * DTYPE_BYTES[info["dtype"]]:
            raise CheckpointError(
                f"the file is truncated or corrupt: tensor {name!r} does not fit the data it points at"
            )
    return header, 8 + n


def _meta_from_header(header: dict[str, Any]) -> dict[str, Any]:
    md = header.get("__metadata__") or {}
    if md.get("format") != "ganzoo" or "ganzoo" not in md:
        raise CheckpointError(
            "this safetensors file has no ganzoo config in its metadata; "
            "it was not saved by ganzoo (import raw state_dicts as .pt/.pth instead)"
        )
    try:
        meta = json.loads(md["ganzoo"])
    except json.JSONDecodeError:
        raise CheckpointError("the checkpoint's ganzoo config is not valid JSON") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("model"), dict):
        raise CheckpointError("the checkpoint's ganzoo config has no model section")
    return upgrade(meta)


def upgrade(meta: dict[str, Any]) -> dict[str, Any]:
    """The one place old checkpoint formats are brought up to date (and untrusted fields made safe)."""
    version = meta.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint format {version!r} is newer than this ganzoo understands ({FORMAT_VERSION}); upgrade ganzoo"
        )
    return _sanitize(meta)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _sanitize(meta: dict[str, Any]) -> dict[str, Any]:
    """Drop optional fields of the wrong type: a file from a stranger must not break a page that shows them."""
    for key in ("dataset", "variant", "device", "note", "created", "imported", "sampling_generator"):
        if key in meta and not isinstance(meta[key], str):
            del meta[key]
    for key in ("train", "metrics", "eval", "state"):
        if key in meta and not isinstance(meta[key], dict):
            del meta[key]
    if "eval" in meta:
        ev = meta["eval"]
        for k in ("fid", "kid", "precision", "recall", "entropy", "confidence", "ms_per_image", "coverage", "n"):
            if k in ev and not _number(ev[k]):
                del ev[k]
        if not isinstance(ev.get("floor", {}), dict):
            del ev["floor"]
    hist = meta.get("history")
    if hist is not None:
        if not isinstance(hist, list):
            hist = []
        meta["history"] = [h for h in hist if isinstance(h, dict) and _number(h.get("epoch"))
                           and all(_number(h.get(k, 0.0)) for k in ("loss_d", "loss_g", "d_acc_real", "d_acc_fake"))]
    for key in ("epochs_done", "steps_done", "wall_seconds", "best_epoch"):
        if key in meta and not _number(meta[key]):
            del meta[key]
    if not isinstance(meta.get("sample_epochs", []), list):
        del meta["sample_epochs"]
    return meta


def build_models(cfg_dict: dict[str, Any]) -> tuple[ModelConfig, nn.Module, nn.Module]:
    """Validate a model config and build (G, D), refusing absurd sizes before allocating."""
    from ganzoo.registry import create_model

    try:
        cfg = ModelConfig.from_dict(cfg_dict)
        # Count parameters on the meta device first: no memory is touched for a hostile config.
        with torch.device("meta"):
            G_meta, D_meta = create_model(cfg)
    except CheckpointError:
        raise
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"the checkpoint's model config is invalid: {e}") from None
    for name, m in (("G", G_meta), ("D", D_meta)):
        if count_params(m) > MAX_PARAMS:
            raise CheckpointError(
                f"the checkpoint's {name} would have {count_params(m):,} parameters, over the {MAX_PARAMS:,} limit"
            )
    G, D = create_model(cfg)
    return cfg, G, D


def _check_and_load(module: nn.Module, tensors: dict[str, torch.Tensor], prefix: str) -> None:
    want = module.state_dict()
    got = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    missing = sorted(set(want) - set(got))
    unexpected = sorted(set(got) - set(want))
    if missing or unexpected:
        what = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(
            f"the {prefix} weights do not match the architecture in the config ({what}); "
            "was the file edited or saved by another version?"
        )
    for k, v in got.items():
        if v.shape != want[k].shape:
            raise CheckpointError(
                f"{prefix}.{k} has shape {tuple(v.shape)} but the config builds {tuple(want[k].shape)}"
            )
        if v.is_floating_point() != want[k].is_floating_point():
            raise CheckpointError(f"{prefix}.{k} has dtype {v.dtype} but the model needs {want[k].dtype}")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"{prefix}.{k} contains NaN or Inf values; the checkpoint is unusable")
        got[k] = v.to(want[k].dtype)
    module.load_state_dict(got, strict=True)


def _read_source(source: str | os.PathLike | bytes, max_bytes: int) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > max_bytes:
            raise CheckpointError(f"the file is {len(data) / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit")
        return data, "<upload>"
    path = Path(source)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    size = path.stat().st_size
    # Checked before reading: an oversized file is never pulled into memory.
    if size > max_bytes:
        raise CheckpointError(f"{path.name} is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit")
    return path.read_bytes(), str(path)


def load(
    source: str | os.PathLike | bytes,
    *,
    device: str | torch.device = "cpu",
    max_bytes: int = MAX_BYTES,
    name: str = "",
) -> Checkpoint:
    """Load a ganzoo .safetensors checkpoint, a foreign .pt/.pth state_dict, or `hf://user/repo/file`.

    Raises CheckpointError (one clear sentence) for anything we refuse; never runs code.
    """
    if isinstance(source, str) and source.startswith("hf://"):
        from ganzoo.hub import download

        source = download(source)
    data, label = _read_source(source, max_bytes)
    name = name or (Path(label).name if label != "<upload>" else "")
    if _is_torch_file(data, name):
        from ganzoo.foreign import import_state_dict

        ckpt = import_state_dict(data)
    else:
        ckpt = _load_safetensors(data)
    ckpt.source = label
    ckpt.G.to(device).eval()
    if ckpt.G_train is not None:
        ckpt.G_train.to(device).eval()
    if ckpt.D is not None:
        ckpt.D.to(device).eval()
    return ckpt


def _is_torch_file(data: bytes, name: str) -> bool:
    """A .pt/.pth file (zip or raw pickle) rather than safetensors: by name, else by content.

    Content alone: safetensors starts with an 8-byte length then '{'; torch.save writes a zip ("PK\x03\x04")
    or, in the legacy format, a pickle (0x80 then the protocol). The first byte of a safetensors length
    can be 0x80 too, so the '{' at offset 8 decides first.
    """
    if name.endswith(".safetensors"):
        return False
    if name.endswith((".pt", ".pth", ".bin", ".ckpt")):
        return True
    if len(data) > 8 and data[8:9] == b"{":
        return False
    return data[:4] == b"PK\x03\x04" or data[:1] == b"\x80"


def _load_safetensors(data: bytes) -> Checkpoint:
    from safetensors.torch import load as st_load

    header, _ = read_header(data, len(data))
    meta = _meta_from_header(header)
    cfg, G, D = build_models(meta["model"])
    try:
        tensors = st_load(data)
    except Exception as e:  # the header passed our checks, so this is rare corruption
        raise CheckpointError(f"the checkpoint's tensors could not be read: {e}") from None
    if not any(k.startswith("G.") for k in tensors):
        raise CheckpointError("the checkpoint holds no generator weights (no 'G.' tensors)")
    _check_and_load(G, tensors, "G")
    has_d = any(k.startswith("D.") for k in tensors)
    if has_d:
        _check_and_load(D, tensors, "D")
    G_sample, G_train = G, None
    if any(k.startswith("G_ema.") for k in tensors):
        from ganzoo.registry import create_model

        G_ema, _ = create_model(cfg)
        _check_and_load(G_ema, tensors, "G_ema")
        G_sample, G_train = G_ema, G
    extra = {k: v for k, v in tensors.items() if not k.startswith(("G.", "D.", "G_ema."))}
    return Checkpoint(G=G_sample, cfg=cfg, meta=meta, D=D if has_d else None, G_train=G_train, tensors=extra)


def read_file_header(path: str | os.PathLike) -> dict[str, Any]:
    """A safetensors file's validated header, reading only its first bytes."""
    size = Path(path).stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) == 8:
            (n,) = struct.unpack("<Q", head)
            head += f.read(min(n, MAX_HEADER_BYTES))
    header, _ = read_header(head, size)
    return header


def peek(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a checkpoint without loading its tensors (for pickers and tables)."""
    return _meta_from_header(read_file_header(path))


def to_bytes(ckpt: Checkpoint) -> bytes:
    """Re-serialise a loaded checkpoint (e.g. an imported .pth) into the ganzoo format."""
    return build_file(ckpt.G_train or ckpt.G, ckpt.cfg, D=ckpt.D, G_ema=ckpt.G if ckpt.G_train else None,
                      meta={k: v for k, v in ckpt.meta.items() if k not in ("model", "param_counts")},
                      extra_tensors=ckpt.tensors)


def state_from_bytes(data: bytes) -> dict[str, Any]:
    """torch.load with weights_only=True (never unpickles code), mapped to the CPU."""
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:
        msg = str(e).split("\n")[0][:200]
        if "weights_only" in str(e) or "Unsupported" in str(e) or "global" in str(e).lower():
            raise CheckpointError(
                "refused: the file contains pickled Python objects other than tensors "
                "(it could run code when loaded); save a plain state_dict instead"
            ) from None
        raise CheckpointError(f"the .pt/.pth file could not be read (truncated or not a torch file): {msg}") from None
