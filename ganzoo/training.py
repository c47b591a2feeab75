"""The training loop: train(model_cfg, train_cfg, out_dir) -> RunResult.

Written as named phases. Everything needed to continue a run exactly (weights, optimiser
states, G_ema, RNG states, the data order of the current epoch, the grown-D flag, the
history) lives in one `latest.safetensors`, written atomically.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganzoo import fastconv, losses
from ganzoo.checkpoint import CheckpointError, atomic_write, build_file, read_header
from ganzoo.config import ModelConfig, TrainConfig
from ganzoo.data import ImageSet, load_dataset, synthetic, to_float, to_uint8
from ganzoo.latent import sample_z
from ganzoo.registry import create_model

MAX_SNAPSHOTS = 20  # sample grids kept in a checkpoint's history
SNAPSHOT_SAMPLES = 16
MIN_STEPS_TO_JUDGE = 100  # steps before constant samples stop a run
VAL_MAX = 10_000  # held-out (and as many training) images D is tested on each epoch
# Steps between reads of the losses on a GPU. Each read waits for the GPU to finish (a sync), which stops the
# CPU queueing the next kernels; on the CPU a read is free, so there every step is checked.
SYNC_EVERY_CUDA = 20
CONSTANT = "generated images are constant"  # degenerate()'s words for the case that stops a run


class TrainingError(RuntimeError):
    """A run that stopped on purpose (NaN, collapse, bad data); the message says why and what to try."""


@dataclass
class RunResult:
    out_dir: Path
    step: int
    epoch: int
    history: list[dict[str, Any]]
    latest: Path
    best: Path | None = None
    stopped: str = ""  # "", "interrupted", "max_steps"
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- small pieces


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda was asked for but no CUDA GPU is visible")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def make_optimizer(kind: str, params, lr: float, betas: tuple[float, float]) -> torch.optim.Optimizer:
    if kind == "adam":
        # One fused kernel instead of a pass per operation: 6.3M parameters step in 3 ms instead of 16 on the
        # 2-core CPU (the default for-loop implementation), bench/train_throughput.py's DCGAN.
        return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=betas[0])
    raise TrainingError(f"unknown optimizer {kind!r}")


def flatten_optimizer(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimiser state as safetensors tensors plus a JSON-able remainder."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}.{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def saved_run_config(path: str | os.PathLike) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(variant, model config, training config) of the run a resumable checkpoint came from; reads the header only."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            size = os.fstat(f.fileno()).st_size
            n = int.from_bytes(head, "little") if len(head) == 8 else 0
            header, _ = read_header(head + f.read(min(n, size)), size)
    except OSError as e:
        raise TrainingError(f"cannot read {path}: {e.strerror or e}") from None
    except CheckpointError as e:
        raise TrainingError(f"cannot resume from {path}: {e}") from None
    try:
        meta = json.loads(header.get("__metadata__", {}).get("ganzoo", "null"))
        variant, model, train_cfg = meta["variant"], meta["model"], meta["train"]
    except (TypeError, KeyError, ValueError):
        raise TrainingError(f"{path} is not a ganzoo training checkpoint") from None
    if not meta.get("state"):
        raise TrainingError(f"{path} holds no training state (an exported checkpoint?); cannot resume from it")
    return variant, model, train_cfg


def match_param_layout(opt: torch.optim.Optimizer) -> None:
    """Give each loaded state tensor its parameter's strides. The file stores them contiguous, but a
    channels_last parameter's moments must be channels_last too: the fused Adam kernel walks all of a
    parameter's tensors in memory order, and mismatched layouts would pair the wrong elements."""
    for group in opt.param_groups:
        for p in group["params"]:
            for k, v in opt.state.get(p, {}).items():
                if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                    opt.state[p][k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any], prefix: str) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith(prefix + "."):
            pid, name = k[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(pid), {})[name] = v
    for k, v in meta["scalars"].items():
        pid, name = k.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    return {"state": state, "param_groups": meta["param_groups"]}


def memory_format_for(module: nn.Module) -> torch.memory_format:
    """channels_last for conv models: oneDNN (CPU) and cuDNN skip the layout reorders they would otherwise do
    around every convolution. bench/train_throughput.py on the 2-core CPU: DCGAN +25% fp32 and +6-20% bf16,
    the separable DCGAN +55% fp32, WGAN +10%. A model whose own ops prefer NCHW (StyleGAN's AdaIN statistics
    over H x W: -12%) says so with a class attribute `channels_last = False`."""
    has_conv = any(isinstance(m, nn.Conv2d | nn.ConvTranspose2d) for m in module.modules())
    return torch.channels_last if has_conv and getattr(module, "channels_last", True) else torch.contiguous_format


def autocast_dtype(device: torch.device) -> torch.dtype:
    """bf16 wherever the device has it (no loss scaling needed), else fp16."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def unwrap(m: nn.Module) -> nn.Module:
    return m.module if hasattr(m, "module") else m


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, decay: float) -> None:
    for pe, p in zip(G_ema.parameters(), G.parameters()):
        pe.lerp_(p.detach(), 1.0 - decay)
    for be, b in zip(G_ema.buffers(), G.buffers()):
        be.copy_(b)


def degenerate(images: torch.Tensor) -> str | None:
    """The "learning rate 0.2 gives black images" check on a batch of samples in [-1, 1]."""
    x = images.float()
    if x.std() < 0.02:
        return f"{CONSTANT} (all pixels ~{float(x.mean()):.2f})"
    if x.std(0).mean() < 0.02:
        return "generated images are nearly identical across the batch (mode collapse)"
    return None


def d_has_won(loss: str, stats: dict[str, float]) -> str | None:
    """Divergence over an epoch's averages: D's loss pinned near 0 while G's grows, D telling every real
    image from every generated one, so G's gradient carries nothing. dcgan on MNIST with lr_g 0.2: loss_d
    0.012, loss_g 9.6, accuracy 1.00 on both, samples of binary noise; a healthy run: 0.35, 2.2, 0.97."""
    ld, lg = stats["loss_d"], stats["loss_g"]
    if loss in ("bce", "minimax", "hinge"):
        # Non-saturating BCE's G loss is -log D(G(z)): above 5, D gives generated images under 1%.
        separated = stats["d_acc_real"] >= 0.995 and stats["d_acc_fake"] >= 0.995
        won = (ld < 0.05 and separated and (loss != "bce" or lg > 5)) or (ld < 1e-3 and lg > 10)
    elif loss == "lsgan":
        won = ld < 0.005 and lg > 0.45  # D outputs ~1 on reals, ~0 on fakes; G's loss nears its 0.5 ceiling
    else:
        return None  # a critic's Wasserstein estimate has no "won" level
    if not won:
        return None
    return (f"D has won (loss_d {ld:.3g}, loss_g {lg:.3g}, D accuracy real {stats['d_acc_real']:.3f} generated "
            f"{stats['d_acc_fake']:.3f}): training has diverged and G learns nothing; lower the learning rates "
            "(lr_g, lr_d) or add dropout / spectral norm to D")


# --------------------------------------------------------------------------- the run


class Trainer:
    def __init__(
        self,
        mcfg: ModelConfig,
        tcfg: TrainConfig,
        out_dir: str | os.PathLike,
        *,
        quiet: bool = False,
        dry_run: bool = False,
        log: Callable[[str], None] = print,
        data: ImageSet | None = None,
    ) -> None:
        self.mcfg, self.tcfg, self.quiet, self.dry_run, self.log_fn = mcfg, tcfg, quiet, dry_run, log
        self.out_dir = Path(out_dir)
        self.world, self.rank = 1, 0
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            self._init_distributed()
        else:
            self.device = pick_device(tcfg.device)
        self.is_main = self.rank == 0
        self.sync_every = 1 if self.device.type == "cpu" else SYNC_EVERY_CUDA
        self._unchecked: list[tuple[int, str, torch.Tensor]] = []  # (step, what, loss) not yet read
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(tcfg.seed + self.rank)
        self.data_gen = torch.Generator().manual_seed(tcfg.seed)
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.epoch_gen_state = self.data_gen.get_state()
        self.history: list[dict[str, Any]] = []
        self.snapshots: list[torch.Tensor] = []
        self.snapshot_epochs: list[int] = []
        self.best_fid = math.inf
        self.constant_last_epoch = False
        self.warnings: list[str] = []
        self.stop_requested = ""
        self.wall_seconds = 0.0
        self._load_data(data)
        self._build()

    def close(self, wait: bool = False) -> None:
        """Leave the process group (wait: after every rank got here, so rank 0's last save is done).

        Without it a worker could exit with gloo's threads still running, and C++ aborts it at exit
        ("terminate called without an active exception"), failing the whole torchrun now and then."""
        if self.world > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                if wait:
                    dist.barrier()
                dist.destroy_process_group()

    # Set up.
    def _init_distributed(self) -> None:
        import torch.distributed as dist

        backend = "nccl" if torch.cuda.is_available() and self.tcfg.device != "cpu" else "gloo"
        dist.init_process_group(backend)
        self.world, self.rank = dist.get_world_size(), dist.get_rank()
        if backend == "nccl":
            local = int(os.environ.get("LOCAL_RANK", 0))
            torch.cuda.set_device(local)
            self.device = torch.device("cuda", local)
        else:
            self.device = torch.device("cpu")

    def _load_data(self, data: ImageSet | None) -> None:
        m, t = self.mcfg, self.tcfg
        if data is None:
            if self.dry_run or t.dataset == "synthetic":
                data = synthetic(max(4 * t.batch_size, 64), m.img_channels, m.img_size)
            else:
                data = load_dataset(t.dataset, t.data_dir or None, img_size=m.img_size,
                                    img_channels=m.img_channels, class_filter=t.class_filter)
        if data.images.shape[1:] != (m.img_channels, m.img_size, m.img_size):
            raise TrainingError(f"data has shape {tuple(data.images.shape[1:])} but the model makes "
                                f"{(m.img_channels, m.img_size, m.img_size)}: check --img-size / --img-channels")
        if len(data) < 2:
            raise TrainingError(f"the data set has {len(data)} image(s); need at least 2")
        images = data.images
        self.val_images = None
        if t.val_fraction > 0:
            perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(t.seed + 999))
            n_val = max(1, int(len(images) * t.val_fraction))
            self.val_images, images = images[perm[:n_val]], images[perm[n_val:]]
            if len(images) < 2:
                raise TrainingError(f"--val-fraction {t.val_fraction} leaves {len(images)} of {len(data)} images "
                                    "to train on; hold out fewer")
            # As many training images, tested beside them each epoch (see _end_epoch).
            n = min(n_val, len(images), VAL_MAX)
            probe = torch.randperm(len(images), generator=torch.Generator().manual_seed(t.seed + 998))[:n]
            self.val_images, self.train_probe = self.val_images[:n], probe
        # MNIST-size sets live on the device as uint8: a batch is an index, not a DataLoader.
        self.images = images.to(self.device)
        self.dataset_name, self.classes = data.name, data.classes
        self.batch_size = min(t.batch_size, len(self.images) // self.world)
        self.steps_per_epoch = max(1, len(self.images) // (self.batch_size * self.world * t.d_steps))

    def _build(self) -> None:
        t = self.tcfg
        G, D = create_model(self.mcfg)
        self.G = G.to(self.device, memory_format=memory_format_for(G))
        self.memory_format = memory_format_for(D)  # real batches go to D in D's layout
        self.D = D.to(self.device, memory_format=self.memory_format)
        if self.device.type == "cpu" and t.amp:
            fastconv.enable(G)
            fastconv.enable(D)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if t.ema > 0 else None
        self.opt_G = make_optimizer(t.optimizer, self.G.parameters(), t.lr_g, t.betas)
        self.opt_D = make_optimizer(t.optimizer, self.D.parameters(), t.lr_d, t.betas)
        if self.world > 1:
            self.G = self._ddp(self.G)
            self.D = self._ddp(self.D)
        self.amp_dtype = autocast_dtype(self.device) if t.amp else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.fixed_z = sample_z(list(range(64)), self.mcfg.z_dim).to(self.device)
        self.classifier = None
        if t.eval_every > 0 and not self.dry_run:
            from ganzoo.metrics import find_classifier, load_classifier

            # The data set's own name ("folder:emoji"), and for chosen categories their classifier.
            path = find_classifier(self.dataset_name, t.class_filter)
            if path is not None:
                clf = load_classifier(path, "cpu")
                if clf.in_channels == self.mcfg.img_channels:
                    self.classifier = clf

    def _ddp(self, module: nn.Module) -> nn.Module:
        """Wrap for DistributedDataParallel. BatchNorm statistics stay per-rank, as in single-GPU runs."""
        import inspect
        import warnings

        from torch.nn.parallel import DistributedDataParallel as DDP

        # torch 2.14 renamed broadcast_buffers; both keep buffers rank-local after the initial sync.
        sync = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters
                else "broadcast_buffers")
        # A growing D leaves one of its two heads unused at every step (the full one before it grows, the small
        # one after): DDP must be told, or it waits for their gradients ("Expected to have finished reduction").
        unused = bool(getattr(module, "grow_d", False))
        # Convolutions over one input channel have two equally valid stride orders for their weight; the
        # gradient penalty's double backward picks the other one, and DDP warns about a 128-element copy.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DDP(module, device_ids=ids, find_unused_parameters=unused, **{sync: False})

    # Checkpoints.
    def resume(self, path: str | os.PathLike) -> None:
        from safetensors.torch import load as st_load

        data = Path(path).read_bytes()
        header, _ = read_header(data, len(data))
        meta = json.loads(header["__metadata__"]["ganzoo"])
        if meta["model"] != self.mcfg.to_dict():
            raise TrainingError(f"{path} was trained with a different model config; resume with the same settings")
        state = meta.get("state")
        if not state:
            raise TrainingError(f"{path} holds no training state (an exported checkpoint?); cannot resume from it")
        tensors = st_load(data)
        for name, module in (("G", unwrap(self.G)), ("D", unwrap(self.D)), ("G_ema", self.G_ema)):
            if module is not None:
                module.load_state_dict({k[len(name) + 1 :]: v for k, v in tensors.items()
                                        if k.startswith(name + ".")}, strict=True)
        saved = meta.get("train", {})
        if saved.get("optimizer", self.tcfg.optimizer) != self.tcfg.optimizer:
            raise TrainingError(f"{path} was trained with --optimizer {saved['optimizer']}; its optimiser state "
                                f"cannot continue as {self.tcfg.optimizer}")
        self.opt_G.load_state_dict(unflatten_optimizer(tensors, state["opt_G"], "opt.G"))
        self.opt_D.load_state_dict(unflatten_optimizer(tensors, state["opt_D"], "opt.D"))
        for opt in (self.opt_G, self.opt_D):
            match_param_layout(opt)
        # The saved optimiser state carries the old learning rates and betas; the settings of this command win,
        # so `--resume X --lr-g 1e-4` continues with 1e-4 (and says so below).
        # An optimiser's `defaults` are what make_optimizer built from this command; load_state_dict leaves them.
        for opt in (self.opt_G, self.opt_D):
            for group in opt.param_groups:
                group.update({k: opt.defaults[k] for k in ("lr", "betas", "momentum") if k in group})
        changed = {k: (saved[k], v) for k, v in self.tcfg.to_dict().items()
                   if k in saved and saved[k] != v and k not in ("epochs", "max_steps")}
        if changed:
            self.log("resuming with changed settings: " + ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items()))
        torch.set_rng_state(tensors["rng.torch"])
        if self.device.type == "cuda" and "rng.cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng.cuda"])
        self.epoch_gen_state = tensors["rng.data_epoch"]
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        # The file holds the data order's generator as the last epoch began. Mid-epoch that is what the epoch
        # replays; at an epoch's end the next epoch must draw the order after it, so draw that one again
        # (without this, a run continued with --resume --epochs N repeated its last epoch's order).
        self.data_gen.set_state(self.epoch_gen_state)
        if self.batch_in_epoch == 0 and self.epoch > 0:
            torch.randperm(len(self.images), generator=self.data_gen)
        self.best_fid = state.get("best_fid", math.inf) or math.inf
        self.wall_seconds = state.get("wall_seconds", 0.0)
        self.history = meta.get("history", [])
        last_warnings = self.history[-1].get("warnings", []) if self.history else []
        self.constant_last_epoch = any(w.startswith(CONSTANT) for w in last_warnings)
        if "history.samples" in tensors:
            self.snapshots = list(tensors["history.samples"])
            self.snapshot_epochs = meta.get("sample_epochs", [])
        self.log(f"resumed from {path} at epoch {self.epoch}, step {self.step}")

    def _file(self, with_state: bool, extra_meta: dict[str, Any] | None = None) -> bytes:
        t = self.tcfg
        extra: dict[str, torch.Tensor] = {}
        meta: dict[str, Any] = {
            "variant": t.variant,
            "train": t.to_dict(),
            "dataset": self.dataset_name,
            "classes": self.classes,
            "history": self.history,
            "metrics": self.history[-1].get("metrics", {}) if self.history else {},
            "device": self.device_name(),
            "epochs_done": self.epoch,
            "steps_done": self.step,
            "wall_seconds": round(self.wall_seconds, 1),
            **(extra_meta or {}),
        }
        if self.snapshots:
            keep = _spread(len(self.snapshots), MAX_SNAPSHOTS)
            extra["history.samples"] = torch.stack([self.snapshots[i] for i in keep])
            meta["sample_epochs"] = [self.snapshot_epochs[i] for i in keep]
        if with_state:
            og, mg = flatten_optimizer(self.opt_G, "opt.G")
            od, md = flatten_optimizer(self.opt_D, "opt.D")
            extra.update(og)
            extra.update(od)
            extra["rng.torch"] = torch.get_rng_state()
            if self.device.type == "cuda":
                extra["rng.cuda"] = torch.cuda.get_rng_state()
            extra["rng.data_epoch"] = self.epoch_gen_state
            meta["state"] = {
                "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "opt_G": mg, "opt_D": md, "best_fid": None if math.isinf(self.best_fid) else self.best_fid,
                "wall_seconds": self.wall_seconds,
            }
        return build_file(unwrap(self.G), self.mcfg, D=unwrap(self.D), G_ema=self.G_ema, meta=meta,
                          extra_tensors=extra)

    def save(self, name: str = "latest.safetensors", with_state: bool = True,
             extra_meta: dict[str, Any] | None = None) -> Path:
        path = self.out_dir / name
        if self.is_main:
            try:
                atomic_write(path, self._file(with_state, extra_meta))
            except OSError as e:
                raise TrainingError(
                    f"could not write {path} ({e.strerror or e}); the previous checkpoint there is intact"
                ) from None
        return path

    def device_name(self) -> str:
        if self.device.type == "cuda":
            return f"cuda ({torch.cuda.get_device_name(self.device)})"
        return "cpu"

    def log(self, msg: str) -> None:
        if self.is_main:
            self.log_fn(msg)

    # The loop.
    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                              enabled=self.amp_dtype is not None)

    def _batch(self, perm: torch.Tensor, i: int) -> torch.Tensor:
        b = self.batch_size
        start = (i * self.world + self.rank) * b
        # Wrap around so a set smaller than d_steps batches still yields full batches.
        idx = perm[torch.arange(start, start + b) % len(perm)]
        return to_float(self.images[idx.to(self.images.device)]).contiguous(memory_format=self.memory_format)

    def _check(self, value: torch.Tensor, what: str) -> torch.Tensor:
        """Queue a loss for the finiteness check, which flush_checks does with one read for many steps."""
        value = value.detach().double()
        self._unchecked.append((self.step, what, value))
        return value

    def new_stats(self) -> dict[str, torch.Tensor]:
        """An epoch's running sums, which train_step adds to on the device."""
        return {k: torch.zeros((), dtype=torch.float64, device=self.device)
                for k in ("loss_d", "loss_g", "d_acc_real", "d_acc_fake", "d_real", "d_fake")}

    def flush_checks(self) -> None:
        """Stop at the first NaN or Inf loss since the last flush, naming its step. Runs before every save, so
        no checkpoint holds weights that a non-finite loss touched."""
        if not self._unchecked:
            return
        pending, self._unchecked = self._unchecked, []
        values = torch.stack([v for _, _, v in pending])
        finite = torch.isfinite(values)
        if bool(finite.all()):
            return
        i = int((~finite).nonzero()[0, 0])
        step, what, _ = pending[i]
        t = self.tcfg
        raise TrainingError(
            f"{what} became {float(values[i])} at step {step} (epoch {self.epoch + 1}); the learning rate is the "
            f"usual cause (lr_g={t.lr_g:g}, lr_d={t.lr_d:g}): try 10x lower. The last good checkpoint is "
            f"{self.out_dir / 'latest.safetensors'}"
        )

    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        """G(z) with gradients; the style generator also moves its running mean of w."""
        G = unwrap(self.G)
        if not G.has_mapping:
            return self.G(z)
        w = G.mapping(z)
        G.update_w_avg(w)
        return G.synthesis(w) if self.world == 1 else self.G(z)

    def train_step(self, perm: torch.Tensor, i: int, stats: dict[str, torch.Tensor]) -> None:
        t, G, D = self.tcfg, self.G, self.D
        B = self.batch_size
        # With one D and one G update a step, the fakes D just judged also train G (as pytorch/examples
        # does): one G forward a step instead of two.
        reuse = t.d_steps == 1 and t.g_steps == 1
        fake_for_g = None
        # Update D.
        for k in range(t.d_steps):
            real = self._batch(perm, i * t.d_steps + k)
            z = torch.randn(real.shape[0], self.mcfg.z_dim, device=self.device)
            with self._autocast():
                if reuse:
                    fake_for_g = self._generate(z)
                    fake = fake_for_g.detach()
                else:
                    with torch.no_grad():
                        fake = G(z)
                real_logits = D(real).float()
                fake_logits = D(fake.detach()).float()
                loss_d = losses.d_loss(t.loss, real_logits, fake_logits)
            if t.gp_weight > 0:
                # Outside autocast: the penalty's double backward wants fp32.
                loss_d = loss_d + losses.gradient_penalty(D, real, fake.float(), t.gp_weight)
            self.opt_D.zero_grad(set_to_none=True)
            self.scaler.scale(loss_d).backward()
            self.scaler.step(self.opt_D)
            self.scaler.update()
            if t.clip > 0:
                losses.clip_weights(D, t.clip)
            stats["loss_d"] += self._check(loss_d, "D's loss") / t.d_steps
            real_logits, fake_logits = real_logits.detach(), fake_logits.detach()
            # Summed on the device: no read (and no GPU sync) until the bar or the epoch's row needs them.
            stats["d_acc_real"] += (real_logits > 0).double().mean() / t.d_steps
            stats["d_acc_fake"] += (fake_logits < 0).double().mean() / t.d_steps
            stats["d_real"] += torch.sigmoid(real_logits).double().mean() / t.d_steps
            stats["d_fake"] += torch.sigmoid(fake_logits).double().mean() / t.d_steps
        # Update G. D's weights get no gradient here (the tutorial loop computes it and throws it away):
        # that is a third of D's backward work in this step. The bare module, not its DDP wrapper, since D
        # is not updated from G's loss and there is nothing of D's to synchronise.
        D_bare = unwrap(D)
        trainable = [p for p in D_bare.parameters() if p.requires_grad]
        for p in trainable:
            p.requires_grad_(False)
        try:
            for _ in range(t.g_steps):
                with self._autocast():
                    if fake_for_g is not None:
                        fake = fake_for_g
                    else:
                        fake = self._generate(torch.randn(B, self.mcfg.z_dim, device=self.device))
                    loss_g = losses.g_loss(t.loss, D_bare(fake).float())
                self.opt_G.zero_grad(set_to_none=True)
                self.scaler.scale(loss_g).backward()
                self.scaler.step(self.opt_G)
                self.scaler.update()
                stats["loss_g"] += self._check(loss_g, "G's loss") / t.g_steps
        finally:
            for p in trainable:
                p.requires_grad_(True)
        # Update G_ema.
        if self.G_ema is not None:
            # Warm-up: a plain 0.999 average would still hold ~40% of the random init after 900 steps.
            update_ema(self.G_ema, unwrap(G), min(t.ema, (1 + self.step) / (10 + self.step)))
        self.step += 1
        # Grow D.
        if t.grow_d_at and self.step == t.grow_d_at and self.mcfg.grow_d:
            unwrap(D).grow()
            self.log(f"step {self.step}: D grown to its full depth")

    def run(self, *, max_steps: int = 0) -> RunResult:
        t = self.tcfg
        if self.is_main:
            try:
                self.out_dir.mkdir(parents=True, exist_ok=True)
                (self.out_dir / "config.json").write_text(json.dumps(
                    {"model": self.mcfg.to_dict(), "train": t.to_dict()}, indent=2))
            except OSError as e:
                raise TrainingError(f"cannot write to the output folder {self.out_dir}: {e.strerror or e}") from None
        if self.step == 0:
            self.save()  # a loadable checkpoint exists from the first second of a run
        elif self.is_main:
            # Resumed: the logs say what the checkpoint's history says, so resuming from an earlier
            # epochNNN.safetensors drops the later epochs' rows instead of repeating them.
            _write_logs(self.out_dir, self.history)
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        if self.is_main and _in_main_thread():
            for s in previous:
                signal.signal(s, self._on_signal)
        max_steps = max_steps or t.max_steps
        stopped = ""
        try:
            while self.epoch < t.epochs and not stopped:
                stopped = self._run_epoch(max_steps)
        finally:
            if self.is_main and _in_main_thread():
                for s, h in previous.items():
                    signal.signal(s, h)
        if stopped == "interrupted":
            self.save()
            self.log(f"interrupted: saved {self.out_dir / 'latest.safetensors'} at step {self.step}; "
                     f"continue with --resume {self.out_dir / 'latest.safetensors'}")
        best = self.out_dir / "best.safetensors"
        return RunResult(self.out_dir, self.step, self.epoch, self.history, self.out_dir / "latest.safetensors",
                         best if best.exists() else None, stopped, self.warnings)

    def _on_signal(self, signum, frame) -> None:
        # Finish the current step, then save: a half-applied optimiser step is never written.
        self.stop_requested = "interrupted"

    def _run_epoch(self, max_steps: int) -> str:
        t = self.tcfg
        if self.batch_in_epoch == 0:
            self.epoch_gen_state = self.data_gen.get_state()
        else:
            self.data_gen.set_state(self.epoch_gen_state)
        perm = torch.randperm(len(self.images), generator=self.data_gen)
        stats = self.new_stats()
        n_steps = 0
        start = time.time()
        bar = None
        if self.is_main and not self.quiet:
            from tqdm import tqdm

            bar = tqdm(total=self.steps_per_epoch, initial=self.batch_in_epoch,
                       desc=f"epoch {self.epoch + 1}/{t.epochs}", leave=False, dynamic_ncols=True)
        G_train = self.G
        G_train.train()
        self.D.train()
        while self.batch_in_epoch < self.steps_per_epoch:
            self.train_step(perm, self.batch_in_epoch, stats)
            self.batch_in_epoch += 1
            n_steps += 1
            if self.step % self.sync_every == 0:
                self.flush_checks()
            if bar is not None:
                bar.update(1)
                if self.step % self.sync_every == 0:
                    elapsed = max(time.time() - start, 1e-9)
                    bar.set_postfix(loss_d=f"{float(stats['loss_d']) / n_steps:.3f}",
                                    loss_g=f"{float(stats['loss_g']) / n_steps:.3f}",
                                    img_s=f"{n_steps * self.batch_size * (t.d_steps + t.g_steps) / elapsed:.0f}")
            stop = self.stop_requested or ("max_steps" if max_steps and self.step >= max_steps else "")
            if stop:
                self.flush_checks()
                self.wall_seconds += time.time() - start
                if bar is not None:
                    bar.close()
                # The bar leaves nothing on screen and the epoch's row is never written: say how far it got.
                avg = {k: float(v) / n_steps for k, v in stats.items()}
                self.log(f"stopped ({stop.replace('_', ' ')}) at step {self.step}, {self.batch_in_epoch}/"
                         f"{self.steps_per_epoch} of epoch {self.epoch + 1}: loss D {avg['loss_d']:.4f} "
                         f"G {avg['loss_g']:.4f} | D acc real {avg['d_acc_real']:.2f} fake {avg['d_acc_fake']:.2f}")
                if stop == "max_steps":
                    self.save()
                return stop
        self.flush_checks()
        if bar is not None:
            bar.close()
        elapsed = time.time() - start
        self.wall_seconds += elapsed
        self.epoch += 1
        self.batch_in_epoch = 0
        self._end_epoch({k: float(v) / max(n_steps, 1) for k, v in stats.items()}, n_steps, elapsed)
        return ""

    @torch.no_grad()
    def real_accuracy(self, images: torch.Tensor) -> float:
        """Share of `images` (uint8) that D calls real, judged as in training and changing nothing of D.

        BatchNorm runs on the statistics of real-only batches of the training batch size, as D saw reals in
        training. D.eval() would use running statistics averaged over real and generated batches instead,
        which judged held-out digits 13% real while D called 98% of its training digits real (dcgan,
        MNIST, epoch 1). Dropout is off; running statistics and spectral-norm vectors are put back."""
        D = unwrap(self.D)
        saved = [b.clone() for b in D.buffers()]
        was_training = D.training
        D.eval()
        for m in D.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()
        try:
            b = self.batch_size
            n = len(images) if len(images) < b else len(images) - len(images) % b  # whole batches only
            called_real = 0
            for chunk in images[:n].split(b):
                x = to_float(chunk.to(self.device)).contiguous(memory_format=self.memory_format)
                called_real += int((D(x).float() > 0).sum())
        finally:
            for buf, old in zip(D.buffers(), saved):
                buf.copy_(old)
            D.train(was_training)
        return called_real / max(n, 1)

    # Log and snapshot.
    @torch.no_grad()
    def _end_epoch(self, stats: dict[str, float], n_steps: int, elapsed: float) -> None:
        t = self.tcfg
        G_sample = self.G_ema if self.G_ema is not None else unwrap(self.G)
        G_sample.eval()
        fixed = G_sample(self.fixed_z).float()
        G_sample.train(self.G_ema is None)
        row: dict[str, Any] = {"epoch": self.epoch, "step": self.step, **stats}
        row["img_per_s"] = n_steps * self.batch_size * self.world * (t.d_steps + t.g_steps) / max(elapsed, 1e-9)
        row["epoch_seconds"] = elapsed
        row["lr_g"] = self.opt_G.param_groups[0]["lr"]
        row["lr_d"] = self.opt_D.param_groups[0]["lr"]
        if self.val_images is not None:
            # The same number of training images, judged the same way at the same moment: the gap between
            # the two is D memorising its training set, which the running average d_acc_real cannot show.
            row["val_acc_real"] = self.real_accuracy(self.val_images)
            row["train_acc_real"] = self.real_accuracy(self.images[self.train_probe.to(self.images.device)])
        warnings = []
        problem = degenerate(fixed)
        if problem:
            warnings.append(problem)
        runaway = d_has_won(t.loss, stats)
        if runaway:
            warnings.append(runaway)
        if self.classifier is not None and self.is_main and (self.epoch % t.eval_every == 0 or self.epoch == t.epochs):
            from ganzoo.metrics import collapse_warning, evaluate_generator

            m = evaluate_generator(G_sample, self.classifier, n=t.eval_samples, D=unwrap(self.D))
            row["metrics"] = {k: v for k, v in m.items()}
            for k in ("fid", "kid", "precision", "recall", "entropy", "coverage", "confidence"):
                row[k] = m[k]
            cw = collapse_warning(m, len(self.classifier.classes) or 10, self.classifier.real_shares)
            if cw:
                warnings.append(cw)
        row["warnings"] = warnings
        self.history.append(row)
        self.snapshots.append(to_uint8(fixed[:SNAPSHOT_SAMPLES].cpu()))
        self.snapshot_epochs.append(self.epoch)
        for w in warnings:
            self.log(f"warning (epoch {self.epoch}): {w}")
            self.warnings.append(f"epoch {self.epoch}: {w}")
        self.log(_format_row(row, t.epochs))
        if self.is_main:
            from ganzoo.images import grid, save_png

            save_png(self.out_dir / f"samples_epoch{self.epoch:03d}.png", grid(fixed.cpu(), nrow=8))
            _write_logs(self.out_dir, [row], append=True)
        self.save()
        if t.save_every and self.epoch % t.save_every == 0:
            self.save(f"epoch{self.epoch:03d}.safetensors")
        if "fid" in row and row["fid"] < self.best_fid:
            self.best_fid = row["fid"]
            self.save("best.safetensors", with_state=False, extra_meta={"best_epoch": self.epoch})
        constant = bool(problem and problem.startswith(CONSTANT))
        # Twice running and past the first steps: a small net's untrained output is near-constant too.
        stop = constant and self.constant_last_epoch and self.step >= MIN_STEPS_TO_JUDGE and t.stop_on_collapse
        self.constant_last_epoch = constant
        if stop:
            raise TrainingError(f"stopped at epoch {self.epoch}: {problem}; the learning rate is the usual cause "
                                f"(lr_g={t.lr_g:g}, lr_d={t.lr_d:g}); --keep-going trains on regardless")


def _spread(n: int, k: int) -> list[int]:
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _format_row(row: dict[str, Any], epochs: int) -> str:
    s = (f"epoch {row['epoch']}/{epochs} step {row['step']}: loss D {row['loss_d']:.4f} G {row['loss_g']:.4f} | "
         f"D acc real {row['d_acc_real']:.2f} fake {row['d_acc_fake']:.2f} | D(x) {row['d_real']:.3f} "
         f"D(G(z)) {row['d_fake']:.3f}")
    if "val_acc_real" in row:
        s += f" | real acc held-out {row['val_acc_real']:.2f} training {row['train_acc_real']:.2f}"
    s += f" | {row['img_per_s']:.0f} img/s, {row['epoch_seconds']:.1f}s | lr G {row['lr_g']:g} D {row['lr_d']:g}"
    if "fid" in row:
        s += (f" | cFID {row['fid']:.2f} KID {row['kid']:.4f} coverage {row['coverage']} "
              f"entropy {row['entropy']:.3f} conf {row['confidence']:.3f}")
    return s


CSV_FIELDS = ["epoch", "step", "loss_d", "loss_g", "d_acc_real", "d_acc_fake", "d_real", "d_fake", "val_acc_real",
              "train_acc_real", "img_per_s", "epoch_seconds", "lr_g", "lr_d", "fid", "kid", "precision", "recall",
              "entropy", "coverage", "confidence"]


def _write_logs(out_dir: Path, rows: list[dict[str, Any]], append: bool = False) -> None:
    """metrics.jsonl and metrics.csv: one row an epoch."""
    mode = "a" if append else "w"
    with open(out_dir / "metrics.jsonl", mode) as f:
        for row in rows:
            f.write(json.dumps({k: v for k, v in row.items() if k != "metrics"}) + "\n")
    path = out_dir / "metrics.csv"
    header = not (append and path.exists())
    with open(path, mode, newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        if header:
            w.writeheader()
        w.writerows(rows)


def train(
    mcfg: ModelConfig,
    tcfg: TrainConfig,
    out_dir: str | os.PathLike,
    *,
    resume: str | os.PathLike | None = None,
    quiet: bool = False,
    dry_run: bool = False,
    log: Callable[[str], None] = print,
    data: ImageSet | None = None,
    max_steps: int = 0,
) -> RunResult:
    """Train a GAN; returns where its checkpoints are. Raises TrainingError with a clear message."""
    trainer = Trainer(mcfg, tcfg, out_dir, quiet=quiet, dry_run=dry_run, log=log, data=data)
    if resume:
        try:
            trainer.resume(resume)
        except (CheckpointError, KeyError, json.JSONDecodeError) as e:
            raise TrainingError(f"cannot resume from {resume}: {e}") from None
    try:
        result = trainer.run(max_steps=max_steps)
        trainer.close(wait=True)
        return result
    finally:
        trainer.close()
