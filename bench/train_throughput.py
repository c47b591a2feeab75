"""Training throughput: images/s per preset, and our loop against the common tutorial loop.

    python bench/train_throughput.py --data-dir ../shared/data/mnist [--steps 20] [--device cpu]

1. Every preset at its MNIST settings, on the current device: real images consumed per second (fp32 and, with
   --amp, bf16 autocast).
2. The pytorch/examples DCGAN shape (64x64, width 64, z 100, batch 64): ganzoo's loop (the whole set preloaded
   as a uint8 tensor, batches by indexing, optional autocast) against a plain reference loop (torchvision
   MNIST + DataLoader + per-sample Resize/ToTensor/Normalize, fp32), measured in the same process. On the CPU
   also ganzoo's autocast loop with PyTorch's stock convolution kernels, i.e. without ganzoo.fastconv.
3. A roofline for both loops on the current device (CPU or CUDA): each step's time next to the time its FLOPs
   would need at the device's measured matmul rate in the same precision, and the ratio ganzoo's loop could reach
   if every FLOP ran at that rate.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganzoo import fastconv  # noqa: E402
from ganzoo.config import PRESETS, resolve  # noqa: E402
from ganzoo.data import ImageSet, load_dataset  # noqa: E402
from ganzoo.training import Trainer, autocast_dtype  # noqa: E402


class GanzooLoop:
    """ganzoo's training step on a preloaded set; `step()` runs one."""

    def __init__(self, variant: str, data: ImageSet, model: dict, train: dict, stock_kernels: bool = False):
        mcfg, tcfg = resolve(variant, model, {"eval_every": 0, **train})
        # stock_kernels: PyTorch's own CPU convolutions throughout, i.e. without what ganzoo.fastconv adds.
        with mock.patch.object(fastconv, "enable", lambda module: 0) if stock_kernels else contextlib.nullcontext():
            self.tr = Trainer(mcfg, tcfg, "/tmp/ganzoo-bench", quiet=True, data=data, log=lambda s: None)
        self.images_per_step = self.tr.batch_size * tcfg.d_steps
        self.device = self.tr.device
        self.perm = torch.randperm(len(self.tr.images))
        self.stats = self.tr.new_stats()
        self.i = 0

    def step(self) -> None:
        # As Trainer's epoch loop does it: the losses are read (a GPU sync) every sync_every steps.
        self.tr.train_step(self.perm, self.i % self.tr.steps_per_epoch, self.stats)
        if self.tr.step % self.tr.sync_every == 0:
            self.tr.flush_checks()
        self.i += 1


class ReferenceLoop:
    """pytorch/examples dcgan/main.py's loop, verbatim in spirit: DataLoader over per-sample transforms."""

    def __init__(self, data_dir: str, device: torch.device):
        import torchvision
        import torchvision.transforms as T

        from ganzoo import create_model

        ds = torchvision.datasets.MNIST(_torchvision_root(data_dir), train=True, download=False, transform=T.Compose(
            [T.Resize(64), T.CenterCrop(64), T.ToTensor(), T.Normalize((0.5,), (0.5,))]))
        self.loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, num_workers=0, drop_last=True)
        self.it = iter(self.loader)
        self.device, self.images_per_step = device, 64
        G, D = create_model("dcgan", img_size=64, img_channels=1, width=64, z_dim=100)
        self.G, self.D = G.to(device), D.to(device)
        self.opt_g = torch.optim.Adam(self.G.parameters(), 2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), 2e-4, betas=(0.5, 0.999))

    def step(self) -> None:
        try:
            real, _ = next(self.it)
        except StopIteration:
            self.it = iter(self.loader)
            real, _ = next(self.it)
        G, D = self.G, self.D
        real = real.to(self.device)
        z = torch.randn(real.shape[0], 100, device=self.device)
        fake = G(z)
        loss_d = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        loss_g = F.softplus(-D(fake)).mean()
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()


def rate(loop, steps: int, warmup: int = 2) -> float:
    """Images per second over `steps` steps, after `warmup` untimed ones (cudnn autotune, allocator)."""
    for _ in range(warmup):
        loop.step()
    _sync(loop.device)
    t = time.perf_counter()
    for _ in range(steps):
        loop.step()
    _sync(loop.device)
    return steps * loop.images_per_step / (time.perf_counter() - t)


def rounds(loops: dict, steps: int, n_rounds: int) -> dict[str, list[float]]:
    """Each loop's rate in each of `n_rounds` rounds, the loops taking turns within a round: a machine whose
    speed drifts (shared cores) then moves every loop alike, and per-round ratios cancel the drift."""
    out: dict[str, list[float]] = {name: [] for name in loops}
    for r in range(n_rounds):
        for name, loop in loops.items():
            out[name].append(rate(loop, steps, warmup=2 if r == 0 else 0))
    return out


def _torchvision_root(data_dir: str) -> str:
    """torchvision wants <root>/MNIST/raw/<ungzipped files>; build that in /tmp from an IDX folder."""
    import gzip

    root = Path("/tmp/ganzoo-bench-tv")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for f in Path(data_dir).glob("*-ubyte*"):
        target = raw / f.name.removesuffix(".gz")
        if not target.exists():
            target.write_bytes(gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes())
    return str(root)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", required=True, help="folder with the MNIST IDX files")
    p.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    p.add_argument("--rounds", type=int, default=3, help="turns each loop takes in the DCGAN comparison")
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", action="store_true", help="also measure bf16/fp16 autocast")
    p.add_argument("--skip-presets", action="store_true")
    args = p.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    print(f"device: {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    mnist = load_dataset("mnist", args.data_dir)
    if not args.skip_presets:
        print("\n| preset | fp32 img/s |" + (" autocast img/s |" if args.amp else ""))
        print("|---|---|" + ("---|" if args.amp else ""))
        for name in PRESETS:
            row = f"| {name} | {rate(GanzooLoop(name, mnist, {}, {'device': device.type}), args.steps):.0f} |"
            if args.amp:
                amp = GanzooLoop(name, mnist, {}, {"device": device.type, "amp": True})
                row += f" {rate(amp, args.steps):.0f} |"
            print(row, flush=True)

    print(f"\npytorch/examples DCGAN shape: 64x64, width 64, z 100, batch 64; {args.rounds} rounds of "
          f"{args.steps} steps, the loops taking turns")
    mnist64 = load_dataset("mnist", args.data_dir, img_size=64)
    shape = {"img_size": 64, "width": 64, "z_dim": 100}
    run = {"device": device.type, "batch_size": 64}
    loops = {"reference loop (DataLoader + per-sample transforms, fp32)": ReferenceLoop(args.data_dir, device),
             "ganzoo loop (preloaded uint8, fp32)": GanzooLoop("dcgan", mnist64, shape, run)}
    if device.type == "cpu":
        loops["ganzoo loop (preloaded uint8, autocast, stock kernels)"] = GanzooLoop(
            "dcgan", mnist64, shape, {**run, "amp": True}, stock_kernels=True)
    loops["ganzoo loop (preloaded uint8, autocast)"] = GanzooLoop("dcgan", mnist64, shape, {**run, "amp": True})
    rates = rounds(loops, args.steps, args.rounds)
    ref_rates = next(iter(rates.values()))
    for name, rs in rates.items():
        ratios = [r / b for r, b in zip(rs, ref_rates)]
        print(f"{name:56s} {statistics.median(rs):6.1f} img/s (rounds {min(rs):.1f}-{max(rs):.1f})  "
              f"{statistics.median(ratios):.2f}x the reference (rounds {min(ratios):.2f}-{max(ratios):.2f})")
    ref, ours, ours_amp = (statistics.median(rates[k]) for k in (
        "reference loop (DataLoader + per-sample transforms, fp32)", "ganzoo loop (preloaded uint8, fp32)",
        "ganzoo loop (preloaded uint8, autocast)"))
    flops_ours, flops_ref = step_flops(shape, device)
    print("\nroofline: the step's FLOPs (FlopCounterMode) against this device's measured matmul rate")
    amp = autocast_dtype(device)
    peaks = {dtype: matmul_rate(device, dtype) for dtype in (torch.float32, amp)}
    for name, rate_img, dtype, flops in (("reference, fp32", ref, torch.float32, flops_ref),
                                         ("ganzoo, fp32", ours, torch.float32, flops_ours),
                                         ("ganzoo, autocast", ours_amp, amp, flops_ours)):
        step, peak = 64 / rate_img, peaks[dtype]
        print(f"{name:17s} step {step * 1000:7.1f} ms, {flops / 1e9:.0f} GFLOP = {flops / step / 1e9:5.0f} GFLOP/s, "
              f"{flops / step / peak:4.0%} of the {str(dtype).removeprefix('torch.')} matmul rate "
              f"({peak / 1e9:.0f} GFLOP/s), at which it would take {flops / peak * 1000:.1f} ms")
    best = 64 / ref / (flops_ours / peaks[amp])
    print(f"ceiling: with every FLOP at the {str(amp).removeprefix('torch.')} matmul rate, ganzoo's loop would be "
          f"{best:.2f}x the reference")


def matmul_rate(device: torch.device, dtype: torch.dtype) -> float:
    """FLOP/s of a large square matmul: the practical peak the convolutions are measured against."""
    n = 4096 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    a @ a
    _sync(device)
    reps = 20 if device.type == "cuda" else 5
    t = time.perf_counter()
    for _ in range(reps):
        a @ a
    _sync(device)
    return reps * 2 * n**3 / (time.perf_counter() - t)


def step_flops(shape: dict, device: torch.device) -> tuple[float, float]:
    """FLOPs of one step of ganzoo's loop (no weight gradients for D in the G step) and of the reference's."""
    from torch.utils.flop_counter import FlopCounterMode

    from ganzoo import create_model

    G, D = create_model("dcgan", img_channels=1, **shape)
    G, D = G.to(device), D.to(device)
    real = torch.randn(64, 1, shape["img_size"], shape["img_size"], device=device)
    counts = []
    for freeze_d in (True, False):
        with FlopCounterMode(display=False) as fc:
            fake = G(torch.randn(64, shape["z_dim"], device=device))
            (D(real).mean() + D(fake.detach()).mean()).backward()
            D.requires_grad_(not freeze_d)
            D(fake).mean().backward()
            D.requires_grad_(True)
        counts.append(fc.get_total_flops())
    return counts[0], counts[1]


if __name__ == "__main__":
    main()
