#!/usr/bin/env python
"""ganzoo's command line: train GANs and classifiers, evaluate, plot, sweep, export, push.

    python train.py --variant dcgan --dataset mnist --epochs 20
    python train.py classifier --dataset mnist
    python train.py evaluate checkpoints/
    python train.py plot --checkpoint runs/.../best.safetensors --output-dir plots/
    python train.py sweep --variant dcgan --set lr_g=2e-4,2e-3 --set z_dim=25,100 --epochs 2
    python train.py export RUN/best.safetensors checkpoints/dcgan.safetensors
    python train.py push --checkpoint X --repo-id USER/NAME
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

SUBCOMMANDS = ("train", "classifier", "evaluate", "plot", "sweep", "export", "push")

# Flags that override the preset's model config (None = use the preset).
MODEL_FLAGS = ("z_dim", "width", "depth", "img_size", "img_channels", "spectral_norm", "attention", "d_dropout",
               "d_norm", "residual", "mapping_layers", "w_dim")
TRAIN_FLAGS = ("loss", "lr_g", "lr_d", "betas", "optimizer", "batch_size", "d_steps", "g_steps", "clip", "gp_weight",
               "ema", "grow_d_at", "seed", "device", "amp", "num_workers", "epochs", "dataset", "data_dir",
               "class_filter", "val_fraction", "eval_every", "eval_samples", "max_steps", "stop_on_collapse",
               "save_every")


def _bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


def add_train_flags(p: argparse.ArgumentParser) -> None:
    from ganzoo.config import D_NORMS, LOSSES, OPTIMIZERS, PRESETS, SPECTRAL_NORM

    p.add_argument("--variant", choices=sorted(PRESETS), help="preset to start from (default dcgan, or with "
                   "--resume the run's own)")
    g = p.add_argument_group("model (default: the preset's)")
    g.add_argument("--z-dim", type=int)
    g.add_argument("--width", type=int, help="feature maps (8, 16, 32, 64 ...)")
    g.add_argument("--depth", type=int, help="number of up/down conv blocks")
    g.add_argument("--img-size", type=int)
    g.add_argument("--img-channels", type=int)
    g.add_argument("--spectral-norm", choices=SPECTRAL_NORM)
    g.add_argument("--attention", type=_bool, nargs="?", const=True, help="self-attention in G and D")
    g.add_argument("--d-dropout", type=float)
    g.add_argument("--d-norm", choices=D_NORMS)
    g.add_argument("--residual", type=_bool, nargs="?", const=True)
    g.add_argument("--mapping-layers", type=int)
    g.add_argument("--w-dim", type=int)
    g = p.add_argument_group("training (default: the preset's)")
    g.add_argument("--loss", choices=LOSSES)
    g.add_argument("--lr-g", type=float)
    g.add_argument("--lr-d", type=float)
    g.add_argument("--betas", type=float, nargs=2)
    g.add_argument("--optimizer", choices=OPTIMIZERS)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--d-steps", type=int, help="D updates per iteration")
    g.add_argument("--g-steps", type=int, help="G updates per iteration")
    g.add_argument("--clip", type=float, help="WGAN weight clipping value")
    g.add_argument("--gp-weight", type=float, help="WGAN-GP lambda")
    g.add_argument("--ema", type=float, nargs="?", const=0.999, help="EMA decay of G (bare flag: 0.999)")
    g.add_argument("--grow-d-at", type=int, metavar="STEP", help="train a smaller D until STEP, then the full D")
    g.add_argument("--seed", type=int)
    g.add_argument("--device", choices=("auto", "cpu", "cuda"))
    g.add_argument("--amp", action="store_const", const=True, help="bf16/fp16 autocast")
    g.add_argument("--num-workers", type=int, help="CPU threads for torch (0 = torch's default)")
    g.add_argument("--epochs", type=int)
    g.add_argument("--max-steps", type=int)
    g = p.add_argument_group("data")
    g.add_argument("--dataset", choices=("mnist", "fashion-mnist", "folder"))
    g.add_argument("--data-dir", help="folder with IDX files (mnist) or images (folder); default: download to ./data")
    g.add_argument("--class-filter", help="NAME[,NAME]: train on these classes/subfolders only")
    g.add_argument("--val-fraction", type=float, help="share of real images held out to test D on")
    g.add_argument("--eval-every", type=int, help="epochs between classifier-FID evaluations (0 = off)")
    g.add_argument("--eval-samples", type=int)
    g = p.add_argument_group("run")
    g.add_argument("--out", help="run folder (default runs/<timestamp>-<variant>, or with --resume the run's own)")
    g.add_argument("--resume", help="latest.safetensors of a run to continue, with its own settings unless "
                   "flags change them (e.g. --epochs to train longer)")
    g.add_argument("--save-every", type=int, metavar="N",
                   help="also keep epochNNN.safetensors every N epochs (resumable, like latest; 0 = off)")
    g.add_argument("--dry-run", action="store_true", help="two steps on synthetic data, write a checkpoint, exit")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--keep-going", dest="stop_on_collapse", action="store_const", const=False,
                   help="do not stop when the samples turn constant (the warning is still logged)")


def resolve_args(args: argparse.Namespace):
    from ganzoo.config import resolve

    model = {k: getattr(args, k, None) for k in MODEL_FLAGS}
    train = {k: getattr(args, k, None) for k in TRAIN_FLAGS}
    variant = args.variant or "dcgan"
    if getattr(args, "resume", None):
        from ganzoo.training import saved_run_config

        # The run's own settings are the base; only the flags given on this command change them.
        variant, saved_model, saved_train = saved_run_config(args.resume)
        variant = args.variant or variant
        model = {**saved_model, **{k: v for k, v in model.items() if v is not None}}
        train = {**saved_train, **{k: v for k, v in train.items() if v is not None}}
        train.pop("variant", None)
    if train.get("class_filter"):
        train["class_filter"] = tuple(c.strip() for c in train["class_filter"].split(",") if c.strip())
    if train.get("dataset") == "folder" and model.get("img_channels") is None:
        model["img_channels"] = 3
    if train.get("dataset") == "folder" and model.get("img_size") is None:
        model["img_size"] = 64
    return resolve(variant, model, train)


def cmd_train(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="train.py", description="Train a GAN variant.")
    add_train_flags(p)
    args = p.parse_args(argv)
    import torch

    from ganzoo.training import train

    try:
        mcfg, tcfg = resolve_args(args)
    except (ValueError, TypeError) as e:
        p.error(str(e))
    if tcfg.num_workers:
        torch.set_num_threads(tcfg.num_workers)
    if args.out:
        out = Path(args.out)
    elif args.resume:
        out = Path(args.resume).parent
    else:
        out = Path(f"runs/{time.strftime('%Y%m%d-%H%M%S')}-{tcfg.variant}")
    resolved = {"model": mcfg.to_dict(), "train": tcfg.to_dict()}
    rank0 = int(__import__("os").environ.get("RANK", "0")) == 0
    if rank0:
        print("resolved config:\n" + json.dumps(resolved, indent=2))
    result = train(mcfg, tcfg, out, resume=args.resume, quiet=args.quiet, dry_run=args.dry_run,
                   max_steps=2 if args.dry_run else 0)
    if rank0:
        print(f"done: {result.step} steps, {result.epoch} epochs; checkpoint {result.latest}"
              + (f", best {result.best}" if result.best else ""))
    return 130 if result.stopped == "interrupted" else 0


def cmd_classifier(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="train.py classifier", description="Train the metrics classifier of a dataset.")
    p.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist", "folder"))
    p.add_argument("--data-dir")
    p.add_argument("--class-filter")
    p.add_argument("--img-size", type=int, default=None)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--amp", action="store_true", help="bf16 autocast (about 2x faster on CPU)")
    p.add_argument("--out", help="default checkpoints/classifiers/<dataset>.safetensors")
    p.add_argument("--name", help="dataset name to register the classifier under (folder datasets)")
    args = p.parse_args(argv)
    from ganzoo.classifier_train import train_classifier

    name = args.name or (args.dataset if args.dataset != "folder" else Path(args.data_dir or "folder").name)
    out = args.out or f"checkpoints/classifiers/{name}.safetensors"
    folder = args.dataset == "folder"
    train_classifier(args.dataset, args.data_dir, out, epochs=args.epochs, amp=args.amp,
                     img_size=args.img_size or (64 if folder else 28), img_channels=3 if folder else 1,
                     class_filter=tuple(args.class_filter.split(",")) if args.class_filter else ())
    return 0


def _checkpoint_paths(items: list[str]) -> list[Path]:
    paths: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            paths += sorted(x for x in p.rglob("*.safetensors") if "classifiers" not in x.parts)
        else:
            paths.append(p)
    return paths


def cmd_evaluate(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="train.py evaluate", description="Leaderboard of checkpoints.")
    p.add_argument("checkpoints", nargs="+", help="files or folders of .safetensors checkpoints")
    p.add_argument("-n", "--samples", type=int, default=10_000)
    # No default file: evaluating your own checkpoints from the repository root must not overwrite the
    # shipped leaderboard.json.
    p.add_argument("--json", help="also write the results as JSON to this file")
    p.add_argument("--markdown", help="also write the table to this file")
    p.add_argument("--write-meta", action="store_true", help="store the measured metrics inside each checkpoint")
    p.add_argument("--device", default="cpu")
    p.add_argument("--reuse", action="store_true",
                   help="keep the metrics an earlier --write-meta stored, when they used the same -n")
    args = p.parse_args(argv)
    from ganzoo.leaderboard import evaluate_paths, markdown_table

    rows = evaluate_paths(_checkpoint_paths(args.checkpoints), n=args.samples, device=args.device,
                          write_meta=args.write_meta, log=print, reuse=args.reuse)
    table = markdown_table(rows)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    return 0 if rows else 1


def cmd_plot(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="train.py plot", description="Curves and samples from a checkpoint alone.")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--output-dir", required=True)
    args = p.parse_args(argv)
    from ganzoo import load
    from ganzoo.plots import plot_checkpoint

    ckpt = load(args.checkpoint)
    for path in plot_checkpoint(ckpt, Path(args.output_dir)):
        print(f"wrote {path}")
    return 0


def cmd_sweep(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="train.py sweep", description="Train a grid of settings and compare them.")
    add_train_flags(p)
    p.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2",
                   help="a setting and its values, e.g. lr_g=2e-4,2e-2 (repeatable: the grid is their product)")
    args = p.parse_args(argv)
    from ganzoo.plots import sweep_figure
    from ganzoo.training import TrainingError, train

    grid: dict[str, list[str]] = {}
    for s in args.set:
        if "=" not in s:
            p.error(f"--set wants KEY=V1,V2, got {s!r}")
        k, v = s.split("=", 1)
        k = k.strip().replace("-", "_")
        if k not in MODEL_FLAGS + TRAIN_FLAGS:
            p.error(f"--set {k}: unknown setting; known: {', '.join(MODEL_FLAGS + TRAIN_FLAGS)}")
        grid[k] = [x for x in v.split(",") if x]
    out = Path(args.out or f"runs/{time.strftime('%Y%m%d-%H%M%S')}-sweep-{args.variant or 'dcgan'}")
    # Resolve every combination before training any, so a bad value fails now and not hours in.
    runs = []
    for combo in itertools.product(*grid.values()) if grid else [()]:
        settings = dict(zip(grid, combo))
        run_args = argparse.Namespace(**vars(args))
        name = "-".join(f"{k}={v}" for k, v in settings.items()) or "base"
        try:
            for k, v in settings.items():
                setattr(run_args, k, _parse_value(k, v))
            runs.append((name, settings, *resolve_args(run_args)))
        except (ValueError, TypeError) as e:
            p.error(f"{name}: {e}")
    rows, histories = [], {}
    for name, settings, mcfg, tcfg in runs:
        print(f"== {name}")
        try:
            result = train(mcfg, tcfg, out / name, quiet=True, dry_run=args.dry_run,
                           max_steps=2 if args.dry_run else 0)
            last = result.history[-1] if result.history else {}
            status = "ok" if not result.warnings else "; ".join(result.warnings[-1:])
        except TrainingError as e:
            last, status, result = {}, f"failed: {e}", None
        histories[name] = result.history if result else []
        rows.append({**settings, "run": name, "loss_d": last.get("loss_d"), "loss_g": last.get("loss_g"),
                     "d_acc_real": last.get("d_acc_real"), "d_acc_fake": last.get("d_acc_fake"),
                     "fid": last.get("fid"), "coverage": last.get("coverage"), "status": status})
    _write_sweep_table(out, rows)
    fig = sweep_figure(histories, out / "sweep_curves.png")
    print(f"wrote {out / 'sweep.md'}, {out / 'sweep.csv'}, {fig}")
    return 0


def _parse_value(key: str, v: str) -> Any:
    ints = {"z_dim", "width", "depth", "img_size", "img_channels", "mapping_layers", "w_dim", "batch_size",
            "d_steps", "g_steps", "grow_d_at", "seed", "epochs", "num_workers", "eval_every", "eval_samples",
            "max_steps", "save_every"}
    floats = {"d_dropout", "lr_g", "lr_d", "clip", "gp_weight", "ema", "val_fraction"}
    if key in ints:
        return int(v)
    if key in floats:
        return float(v)
    if key in ("attention", "residual", "amp", "stop_on_collapse"):
        return _bool(v)
    if key == "betas":
        return [float(x) for x in v.split(":")]
    return v


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _write_sweep_table(out: Path, rows: list[dict[str, Any]]) -> None:
    import csv

    out.mkdir(parents=True, exist_ok=True)
    keys = list(rows[0]) if rows else []
    with open(out / "sweep.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_fmt(r[k]) for k in keys) + " |" for r in rows]
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def cmd_export(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="train.py export",
                                description="Strip training state (optimisers, RNG) from a checkpoint for sharing.")
    p.add_argument("source")
    p.add_argument("dest")
    p.add_argument("--fp16", action="store_true", help="store weights as float16 (half the size)")
    p.add_argument("--no-d", action="store_true", help="leave the discriminator out")
    p.add_argument("--sampling-only", action="store_true",
                   help="keep only the sampling generator (G_ema when present) and D: the shipped form")
    p.add_argument("--fit-mb", type=float, help="store float16 weights if float32 would exceed this many MB")
    p.add_argument("--note", default="", help="text stored as 'note' in the metadata (e.g. the command used)")
    p.add_argument("--tried", help="markdown stored as 'tried' and shown in the card: the tuning that was tried "
                                   "and what it gave (an empty string removes it)")
    args = p.parse_args(argv)
    from ganzoo import load
    from ganzoo.checkpoint import save

    ckpt = load(args.source)
    meta = {k: v for k, v in ckpt.meta.items() if k not in ("state", "model", "param_counts", "fp16")}
    if args.note:
        meta["note"] = args.note
    if args.tried is not None:
        meta.pop("tried", None)
        if args.tried:
            meta["tried"] = args.tried
    extra = {k: v for k, v in ckpt.tensors.items() if k.startswith("history.")}
    if args.sampling_only:
        G, G_ema = ckpt.G, None
        if ckpt.G_train is not None:
            meta["sampling_generator"] = "EMA of G"
    else:
        G, G_ema = ckpt.G_train or ckpt.G, ckpt.G if ckpt.G_train is not None else None
    D = None if args.no_d else ckpt.D
    half = args.fp16
    if not half and args.fit_mb:
        from ganzoo.checkpoint import build_file

        size = len(build_file(G, ckpt.cfg, D=D, G_ema=G_ema, meta=meta, extra_tensors=extra))
        half = size > args.fit_mb * 2**20
    save(args.dest, G, ckpt.cfg, D=D, G_ema=G_ema, meta=meta, extra_tensors=extra, half=half)
    print(f"wrote {args.dest} ({Path(args.dest).stat().st_size / 2**20:.2f} MB{', float16' if half else ''})")
    return 0


def cmd_push(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="train.py push", description="Upload a checkpoint with a model card to the Hub.")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--repo-id", required=True, help="USER/NAME")
    p.add_argument("--private", action="store_true")
    p.add_argument("--revision", help="branch to push to")
    args = p.parse_args(argv)
    from ganzoo.hub import push

    url = push(args.checkpoint, args.repo_id, private=args.private, revision=args.revision)
    print(f"pushed: {url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = argv[0] if argv and argv[0] in SUBCOMMANDS else "train"
    if argv and argv[0] == cmd:
        argv = argv[1:]
    from ganzoo.checkpoint import CheckpointError
    from ganzoo.data import DataError
    from ganzoo.hub import HubError
    from ganzoo.training import TrainingError

    command = {
        "train": cmd_train, "classifier": cmd_classifier, "evaluate": cmd_evaluate, "plot": cmd_plot,
        "sweep": cmd_sweep, "export": cmd_export, "push": cmd_push,
    }[cmd]
    try:
        return command(argv)
    except (CheckpointError, DataError, TrainingError, HubError) as e:
        # Errors we raise on purpose are one sentence for the user, not a traceback.
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
