"""train.py and the loop: dry runs, exact resume, NaN stops, atomic writes, DDP, data options."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganzoo import load, training
from ganzoo.checkpoint import atomic_write
from ganzoo.config import PRESETS, resolve
from ganzoo.data import DataError, load_dataset, read_idx
from ganzoo.training import Trainer, TrainingError, d_has_won, degenerate, train

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], capture_output=True, text=True,
                          env=ENV, timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("variant", sorted(PRESETS))
def test_dry_run_every_preset(tmp_path, variant):
    mcfg, tcfg = resolve(variant, {"width": 8}, {"batch_size": 8})
    result = train(mcfg, tcfg, tmp_path, dry_run=True, max_steps=2, quiet=True, log=lambda s: None)
    assert result.step == 2
    ck = load(result.latest)
    assert ck.meta["variant"] == variant and ck.meta["state"]["step"] == 2
    x = ck.G(torch.randn(2, mcfg.z_dim))
    assert x.shape == (2, 1, 28, 28) and torch.isfinite(x).all()


def test_cli_dry_run_prints_resolved_config_and_writes_a_checkpoint(tmp_path):
    r = run_cli("--variant", "wgan_gp", "--dry-run", "--quiet", "--width", "8", "--out", str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr
    assert '"gp_weight": 10.0' in r.stdout and '"d_steps": 5' in r.stdout
    assert (tmp_path / "run" / "latest.safetensors").exists()
    assert (tmp_path / "run" / "config.json").exists()


def _weights(path):
    ck = load(path)
    sd = {f"G.{k}": v for k, v in (ck.G_train or ck.G).state_dict().items()}
    sd.update({f"D.{k}": v for k, v in ck.D.state_dict().items()})
    return sd


@pytest.mark.parametrize("variant,extra", [("dcgan", {"ema": 0.9}), ("wgan_gp", {}), ("stylegan", {})])
def test_resume_is_exact(tmp_path, mnist_dir, variant, extra):
    overrides = {"batch_size": 16, "dataset": "mnist", "data_dir": str(mnist_dir), "eval_every": 0,
                 "epochs": 3, "val_fraction": 0.1, **extra}
    mcfg, tcfg = resolve(variant, {"width": 8}, overrides)
    quiet = dict(quiet=True, log=lambda s: None)
    straight = train(mcfg, tcfg, tmp_path / "a", max_steps=4, **quiet)
    first = train(mcfg, tcfg, tmp_path / "b", max_steps=2, **quiet)
    resumed = train(mcfg, tcfg, tmp_path / "b", resume=first.latest, max_steps=4, **quiet)
    assert straight.step == resumed.step == 4
    a, b = _weights(straight.latest), _weights(resumed.latest)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_after_the_last_epoch_to_train_longer_is_exact(tmp_path, mnist_dir):
    # The documented way to train longer: a finished run, then --resume latest --epochs N.
    overrides = {"batch_size": 64, "dataset": "mnist", "data_dir": str(mnist_dir), "eval_every": 0,
                 "stop_on_collapse": False}
    quiet = dict(quiet=True, log=lambda s: None)
    mcfg, tcfg3 = resolve("dcgan", {"width": 8}, {**overrides, "epochs": 3})
    _, tcfg1 = resolve("dcgan", {"width": 8}, {**overrides, "epochs": 1})
    straight = train(mcfg, tcfg3, tmp_path / "a", **quiet)
    first = train(mcfg, tcfg1, tmp_path / "b", **quiet)
    longer = train(mcfg, tcfg3, tmp_path / "b", resume=first.latest, **quiet)
    assert straight.step == longer.step
    a, b = _weights(straight.latest), _weights(longer.latest)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_across_epoch_boundary_and_grown_d(tmp_path, mnist_dir):
    # 270 training images / (16 * 1) = 16 steps per epoch: stop at 10, resume through the epoch end to 20.
    overrides = {"batch_size": 16, "dataset": "mnist", "data_dir": str(mnist_dir), "eval_every": 0,
                 "epochs": 2, "grow_d_at": 12, "val_fraction": 0.1}
    mcfg, tcfg = resolve("dcgan", {"width": 8, "depth": 2}, overrides)
    quiet = dict(quiet=True, log=lambda s: None)
    straight = train(mcfg, tcfg, tmp_path / "a", max_steps=20, **quiet)
    first = train(mcfg, tcfg, tmp_path / "b", max_steps=10, **quiet)
    assert not bool(load(first.latest).D.grown)
    resumed = train(mcfg, tcfg, tmp_path / "b", resume=first.latest, max_steps=20, **quiet)
    assert bool(load(resumed.latest).D.grown)
    a, b = _weights(straight.latest), _weights(resumed.latest)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len(load(resumed.latest).history) == 1


def test_resume_with_new_learning_rates_uses_them_and_says_so(tmp_path):
    mcfg, tcfg = resolve("dcgan", {"width": 8}, {"batch_size": 8, "eval_every": 0})
    first = train(mcfg, tcfg, tmp_path, dry_run=True, max_steps=2, quiet=True, log=lambda s: None)
    lines: list[str] = []
    _, tcfg2 = resolve("dcgan", {"width": 8}, {"batch_size": 8, "eval_every": 0, "lr_g": 1e-5, "betas": (0.0, 0.9)})
    trainer = Trainer(mcfg, tcfg2, tmp_path, quiet=True, dry_run=True, log=lines.append)
    trainer.resume(first.latest)
    assert [g["lr"] for g in trainer.opt_G.param_groups] == [1e-5]
    assert trainer.opt_G.param_groups[0]["betas"] == (0.0, 0.9)
    assert trainer.opt_D.param_groups[0]["lr"] == tcfg.lr_d
    assert any("lr_g 0.0002 -> 1e-05" in line and "betas" in line for line in lines)
    _, tcfg3 = resolve("dcgan", {"width": 8}, {"batch_size": 8, "eval_every": 0, "optimizer": "rmsprop"})
    with pytest.raises(TrainingError, match="--optimizer adam"):
        Trainer(mcfg, tcfg3, tmp_path, quiet=True, dry_run=True, log=lines.append).resume(first.latest)


@pytest.mark.parametrize("variant", ["dcgan", "mlp_gan", "sngan"])  # BatchNorm; dropout; spectral norm
def test_held_out_accuracy_is_judged_as_in_training_and_changes_nothing(tmp_path, mnist_dir, variant):
    overrides = {"batch_size": 16, "dataset": "mnist", "data_dir": str(mnist_dir), "eval_every": 0,
                 "epochs": 1, "val_fraction": 0.2}
    mcfg, tcfg = resolve(variant, {"width": 8}, overrides)
    result = train(mcfg, tcfg, tmp_path, quiet=True, log=lambda s: None)
    row = result.history[-1]
    assert 0 <= row["val_acc_real"] <= 1 and 0 <= row["train_acc_real"] <= 1
    assert "train_acc_real" in (tmp_path / "metrics.csv").read_text().splitlines()[0]

    trainer = Trainer(mcfg, tcfg, tmp_path / "again", quiet=True, log=lambda s: None)
    trainer.run(max_steps=5)
    D = trainer.D
    before = {k: v.clone() for k, v in D.state_dict().items()}
    rng = torch.get_rng_state()
    acc = trainer.real_accuracy(trainer.val_images)
    assert D.training and torch.equal(torch.get_rng_state(), rng)
    for k, v in D.state_dict().items():
        assert torch.equal(v, before[k]), k
    # What D says of real-only batches in training mode (dropout aside), on a copy that may change.
    import copy

    ref = copy.deepcopy(D).train()
    for m in ref.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    n = len(trainer.val_images) - len(trainer.val_images) % trainer.batch_size
    with torch.no_grad():
        logits = torch.cat([ref(c.float() / 127.5 - 1) for c in trainer.val_images[:n].split(trainer.batch_size)])
    if variant != "sngan":  # spectral norm takes one power-iteration step in training mode, none here
        assert acc == pytest.approx(float((logits > 0).float().mean()))


@pytest.mark.parametrize("flags,message", [
    (["--batch-size", "0"], "--batch-size 0 is out of range"),
    (["--d-steps", "0"], "--d-steps 0"),
    (["--val-fraction", "1.5"], "--val-fraction 1.5"),
    (["--lr-g", "-1"], "--lr-g -1.0"),
    (["--ema", "1.5"], "--ema 1.5"),
    (["--betas", "0.5", "2"], "--betas 0.5 2.0"),
    (["--clip", "-0.01"], "--clip -0.01"),
])
def test_bad_training_settings_are_refused_before_anything_runs(tmp_path, flags, message):
    r = run_cli("--dry-run", "--quiet", "--out", str(tmp_path / "run"), *flags)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()


def test_sweep_checks_every_combination_before_training_any(tmp_path):
    r = run_cli("sweep", "--dry-run", "--set", "width=8", "--set", "batch_size=8,1", "--out", str(tmp_path / "sw"))
    assert r.returncode == 2 and "batch_size=1" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "sw").exists()


def test_a_held_out_share_that_leaves_nothing_to_train_on_is_refused(tmp_path, mnist_dir):
    mcfg, tcfg = resolve("dcgan", {"width": 8}, {"dataset": "mnist", "data_dir": str(mnist_dir), "val_fraction": 0.999})
    with pytest.raises(TrainingError, match="hold out fewer"):
        train(mcfg, tcfg, tmp_path, quiet=True, log=lambda s: None)


def test_save_every_keeps_resumable_epochs_and_resuming_from_one_rewrites_the_logs(tmp_path, mnist_dir):
    overrides = {"batch_size": 64, "dataset": "mnist", "data_dir": str(mnist_dir), "eval_every": 0,
                 "epochs": 3, "save_every": 1}
    mcfg, tcfg = resolve("dcgan", {"width": 8}, overrides)
    quiet = dict(quiet=True, log=lambda s: None)
    train(mcfg, tcfg, tmp_path, **quiet)
    assert sorted(p.name for p in tmp_path.glob("epoch*.safetensors")) == [
        "epoch001.safetensors", "epoch002.safetensors", "epoch003.safetensors"]
    first = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in first] == [1, 2, 3]
    straight = _weights(tmp_path / "latest.safetensors")
    # Back to epoch 1 (say epoch 2 went wrong) and on again: no repeated rows, and the same run as before,
    # weight for weight (an epoch's end is where `--resume X --epochs N` continues from).
    train(mcfg, tcfg, tmp_path, resume=tmp_path / "epoch001.safetensors", **quiet)
    resumed = _weights(tmp_path / "latest.safetensors")
    for k in straight:
        assert torch.equal(straight[k], resumed[k]), k
    again = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in again] == [1, 2, 3]
    assert [r["loss_d"] for r in again] == [r["loss_d"] for r in first]
    csv_rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert len(csv_rows) == 4 and csv_rows[0].startswith("epoch,")


def test_constant_identical_and_varied_samples_are_told_apart():
    g = torch.Generator().manual_seed(0)
    assert "constant" in degenerate(torch.full((16, 1, 28, 28), -1.0))  # the lr 0.2 black images
    one = torch.rand(1, 1, 28, 28, generator=g) * 2 - 1
    assert "identical" in degenerate(one.repeat(16, 1, 1, 1) + 0.001 * torch.randn(16, 1, 28, 28, generator=g))
    assert degenerate(torch.rand(16, 1, 28, 28, generator=g) * 2 - 1) is None


@pytest.mark.parametrize("loss,stats,won", [
    # Measured (dcgan, MNIST): lr_g 0.2 after one epoch; a healthy first epoch; a late healthy epoch.
    ("bce", dict(loss_d=0.0116, loss_g=9.64, d_acc_real=0.9995, d_acc_fake=0.9982), True),
    ("bce", dict(loss_d=0.356, loss_g=2.16, d_acc_real=0.978, d_acc_fake=0.972), False),
    ("bce", dict(loss_d=0.04, loss_g=3.5, d_acc_real=0.999, d_acc_fake=0.999), False),
    ("hinge", dict(loss_d=0.01, loss_g=2.0, d_acc_real=1.0, d_acc_fake=1.0), True),
    ("lsgan", dict(loss_d=0.001, loss_g=0.49, d_acc_real=1.0, d_acc_fake=0.5), True),
    ("wasserstein", dict(loss_d=-50.0, loss_g=80.0, d_acc_real=1.0, d_acc_fake=1.0), False),
])
def test_a_runaway_d_is_recognised_from_an_epochs_averages(loss, stats, won):
    assert (d_has_won(loss, stats) is not None) == won


def test_a_d_that_wins_is_reported_in_the_log_and_the_history(tmp_path, mnist_dir):
    # G frozen (lr 1e-9) while D learns fast: within a few epochs D separates everything.
    overrides = {"batch_size": 32, "dataset": "mnist", "data_dir": str(mnist_dir), "eval_every": 0, "epochs": 6,
                 "lr_g": 1e-9, "lr_d": 2e-3}
    mcfg, tcfg = resolve("dcgan", {"width": 8}, overrides)
    lines = []
    result = train(mcfg, tcfg, tmp_path, quiet=True, log=lines.append)
    assert any("D has won" in line for line in lines)
    assert any("D has won" in w for w in result.history[-1]["warnings"])


@pytest.mark.parametrize("keep_going", [False, True])
def test_samples_constant_two_epochs_running_stop_the_run(tmp_path, mnist_dir, monkeypatch, keep_going):
    monkeypatch.setattr(training, "degenerate", lambda x: "generated images are constant (all pixels ~-1.00)")
    overrides = {"batch_size": 16, "dataset": "mnist", "data_dir": str(mnist_dir), "eval_every": 0, "epochs": 10,
                 "stop_on_collapse": not keep_going}
    mcfg, tcfg = resolve("dcgan", {"width": 8}, overrides)
    steps_per_epoch = 300 // 16
    if keep_going:
        assert train(mcfg, tcfg, tmp_path, quiet=True, log=lambda s: None).epoch == 10
        return
    with pytest.raises(TrainingError, match="constant.*learning rate.*--keep-going"):
        train(mcfg, tcfg, tmp_path, quiet=True, log=lambda s: None)
    ck = load(tmp_path / "latest.safetensors")  # the stop leaves a loadable, resumable checkpoint
    assert ck.meta["state"]["step"] >= training.MIN_STEPS_TO_JUDGE
    assert ck.meta["state"]["epoch"] == -(-training.MIN_STEPS_TO_JUDGE // steps_per_epoch)


def test_a_run_stopped_mid_epoch_says_how_far_it_got(tmp_path, mnist_dir):
    overrides = {"batch_size": 16, "dataset": "mnist", "data_dir": str(mnist_dir), "eval_every": 0}
    mcfg, tcfg = resolve("dcgan", {"width": 8}, overrides)
    lines = []
    train(mcfg, tcfg, tmp_path, max_steps=5, quiet=True, log=lines.append)
    assert any(line.startswith("stopped (max steps) at step 5, 5/18 of epoch 1: loss D") for line in lines), lines


def test_nan_stops_cleanly_and_keeps_the_last_good_checkpoint(tmp_path):
    mcfg, tcfg = resolve("dcgan", {"width": 8}, {"batch_size": 8, "lr_d": 1e30, "lr_g": 1e30, "optimizer": "sgd"})
    with pytest.raises(TrainingError, match=r"step \d+.*learning rate"):
        train(mcfg, tcfg, tmp_path, dry_run=True, max_steps=50, quiet=True, log=lambda s: None)
    ck = load(tmp_path / "latest.safetensors")  # the step-0 checkpoint: finite, loadable
    assert torch.isfinite(ck.G(torch.randn(2, mcfg.z_dim))).all()


def test_reading_losses_every_few_steps_changes_nothing_and_still_names_the_nan_step(tmp_path, mnist_dir):
    # On a GPU the losses are read every SYNC_EVERY_CUDA steps instead of every step; run that cadence here.
    import re

    def nan_message(out, every):
        mcfg, tcfg = resolve("dcgan", {"width": 8}, {"batch_size": 8, "lr_d": 1e30, "lr_g": 1e30, "optimizer": "sgd"})
        trainer = Trainer(mcfg, tcfg, out, quiet=True, dry_run=True, log=lambda s: None)
        trainer.sync_every = every
        with pytest.raises(TrainingError) as e:
            trainer.run(max_steps=50)
        ck = load(out / "latest.safetensors")
        assert torch.isfinite(ck.G(torch.randn(2, mcfg.z_dim))).all()
        return re.search(r"(D's|G's) loss became \S+ at step \d+", str(e.value)).group(0)

    assert nan_message(tmp_path / "every", 1) == nan_message(tmp_path / "seventh", 7)

    overrides = {"batch_size": 32, "dataset": "mnist", "data_dir": str(mnist_dir), "eval_every": 0, "epochs": 2}
    mcfg, tcfg = resolve("dcgan", {"width": 8}, overrides)
    runs = []
    for every in (1, 7):
        trainer = Trainer(mcfg, tcfg, tmp_path / f"run{every}", quiet=True, log=lambda s: None)
        trainer.sync_every = every
        runs.append(trainer.run())
    assert [r["loss_d"] for r in runs[0].history] == [r["loss_d"] for r in runs[1].history]
    a, b = _weights(runs[0].latest), _weights(runs[1].latest)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_nan_from_cli_is_one_clear_line(tmp_path):
    r = run_cli("--variant", "dcgan", "--dry-run", "--quiet", "--width", "8", "--lr-d", "1e30", "--lr-g", "1e30",
                "--optimizer", "sgd", "--out", str(tmp_path))
    assert r.returncode == 2
    assert "error:" in r.stderr and "Traceback" not in r.stderr


def test_atomic_write_survives_a_crash_mid_write(tmp_path, monkeypatch):
    path = tmp_path / "latest.safetensors"
    atomic_write(path, b"old contents")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        atomic_write(path, b"new contents that never land")
    assert path.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["latest.safetensors"]  # no temp file left behind


def test_unwritable_output_folder_is_a_clear_error(tmp_path):
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_text("x")
        out = blocker / "run"  # a folder inside a file: fails even for root
    else:
        out = tmp_path / "ro"
        out.mkdir()
        out.chmod(0o500)
    r = run_cli("--variant", "dcgan", "--dry-run", "--quiet", "--width", "8", "--out", str(out))
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and str(out.name) in r.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# dcgan: the plain case. A D grown at step 1 runs its small head, then its full one, each leaving the other's
# weights without gradients (DDP stopped at step 2 before it was told). wgan_gp: the penalty's double
# backward and 5 critic steps through the DDP wrapper.
@pytest.mark.parametrize("extra", [["--variant", "dcgan"], ["--variant", "dcgan", "--grow-d-at", "1"],
                                   ["--variant", "wgan_gp"]], ids=["dcgan", "grown_d", "wgan_gp"])
def test_two_process_gloo_ddp_writes_one_checkpoint(tmp_path, extra):
    out = tmp_path / "ddp"
    # A fixed port failed now and then when an earlier run's socket was still in TIME_WAIT.
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
           str(ROOT / "train.py"), *extra, "--dry-run", "--quiet", "--width", "8", "--device", "cpu",
           "--batch-size", "8", "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300, cwd=ROOT)
    # The launcher's own report comes last; the failing worker's traceback is earlier.
    assert r.returncode == 0, r.stderr[:3000] + "\n...\n" + r.stderr[-1500:]
    assert "Grad strides do not match" not in r.stderr
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["latest.safetensors"]
    assert not list(out.glob("*.tmp*"))
    assert load(out / "latest.safetensors").meta["state"]["step"] == 2


def test_class_filter_selects_only_the_named_folders(tmp_path):
    for cls, colour in (("cats", (255, 0, 0, 255)), ("dogs", (0, 255, 0, 128)), ("fish", (0, 0, 255, 255))):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("RGBA", (40, 30), colour).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "fish" / "broken.png").write_bytes(b"not a png")
    ds = load_dataset("folder", tmp_path, img_size=16, img_channels=3, class_filter=("dogs", "fish"))
    assert ds.classes == ["dogs", "fish"] and len(ds) == 6
    assert ds.images.shape == (6, 3, 16, 16)
    dog = ds.images[0, :, 8, 8].tolist()
    assert dog[1] == 255 and dog[0] == dog[2] and 120 < dog[0] < 135  # half-transparent green on white
    with pytest.raises(DataError, match="birds"):
        load_dataset("folder", tmp_path, img_size=16, class_filter=("birds",))


def test_class_filter_on_mnist_keeps_the_named_digits_and_refuses_unknown_names(mnist_dir):
    ds = load_dataset("mnist", mnist_dir, class_filter=("3", "5"))
    assert len(ds) > 0 and set(ds.labels.tolist()) == {3, 5}
    with pytest.raises(DataError, match=r"\['x'\].*'0', '1'"):
        load_dataset("mnist", mnist_dir, class_filter=("3", "x"))


def test_idx_reading_from_the_committed_fixture(mnist_dir):
    images = read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")
    assert images.shape == (300, 28, 28) and images.dtype == np.uint8
    ds = load_dataset("mnist", mnist_dir, split="test")
    assert len(ds) == 300 and ds.labels[:5].tolist() == [7, 2, 1, 0, 4]
    ds32 = load_dataset("mnist", mnist_dir, img_size=32)
    assert ds32.images.shape == (300, 1, 32, 32)


def test_idx_plain_and_torchvision_layout(tmp_path, mnist_dir):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in mnist_dir.iterdir():
        (raw / f.name.removesuffix(".gz")).write_bytes(gzip.decompress(f.read_bytes()))
    assert len(load_dataset("mnist", tmp_path)) == 300


def test_missing_empty_and_corrupt_data_folders(tmp_path, mnist_dir):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nope")
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_dataset("mnist", tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03garbage"))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes((mnist_dir / "train-labels-idx1-ubyte.gz").read_bytes())
    with pytest.raises(DataError, match="corrupt|truncated"):
        load_dataset("mnist", tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images"):
        load_dataset("folder", empty, img_size=16)
    r = run_cli("--variant", "dcgan", "--dataset", "mnist", "--data-dir", str(tmp_path / "nope"), "--quiet",
                "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "nope" in r.stderr and "Traceback" not in r.stderr


def test_plot_and_sweep_commands(tmp_path, mnist_dir):
    r = run_cli("sweep", "--variant", "dcgan", "--width", "8", "--dry-run", "--set", "lr_g=2e-4,2e-3",
                "--set", "z_dim=16,32", "--out", str(tmp_path / "sweep"))
    assert r.returncode == 0, r.stderr
    table = (tmp_path / "sweep" / "sweep.md").read_text()
    assert table.count("\n") == 2 + 4 and "lr_g" in table
    assert (tmp_path / "sweep" / "sweep_curves.png").exists()
    mcfg, tcfg = resolve("dcgan", {"width": 8}, {"batch_size": 16, "dataset": "mnist", "data_dir": str(mnist_dir),
                                                 "epochs": 2, "eval_every": 0})
    result = train(mcfg, tcfg, tmp_path / "run", quiet=True, log=lambda s: None)
    r = run_cli("plot", "--checkpoint", str(result.latest), "--output-dir", str(tmp_path / "plots"))
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert names == ["d_accuracy.png", "losses.png", "samples.png"]
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 3
    assert (tmp_path / "run" / "samples_epoch002.png").exists()


def test_evaluate_writes_json_only_when_asked(tmp_path):
    # Run from a scratch folder: a regression must not overwrite the repository's own leaderboard.json.
    r = run_cli("--variant", "dcgan", "--dry-run", "--quiet", "--width", "8", "--out", str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr
    ck = str(tmp_path / "run" / "latest.safetensors")
    evaluate = [sys.executable, str(ROOT / "train.py"), "evaluate", ck, "-n", "64"]
    r = subprocess.run(evaluate, capture_output=True, text=True, env=ENV, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "| latest | dcgan |" in r.stdout and not (tmp_path / "leaderboard.json").exists()
    r = subprocess.run([*evaluate, "--json", "out.json"], capture_output=True, text=True, env=ENV, timeout=300,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = json.loads((tmp_path / "out.json").read_text())
    assert len(rows) == 1 and rows[0]["variant"] == "dcgan"


def test_cli_resume_alone_continues_the_run_with_its_own_settings_in_its_folder(tmp_path, mnist_dir):
    run = tmp_path / "run"
    r = run_cli("--variant", "wgan_gp", "--width", "8", "--batch-size", "16", "--dataset", "mnist", "--data-dir",
                str(mnist_dir), "--eval-every", "0", "--max-steps", "2", "--quiet", "--out", str(run))
    assert r.returncode == 0, r.stderr
    r = run_cli("--resume", str(run / "latest.safetensors"), "--max-steps", "4", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "resumed from" in r.stdout + r.stderr and '"gp_weight": 10.0' in r.stdout
    ck = load(run / "latest.safetensors")
    assert ck.meta["variant"] == "wgan_gp" and ck.meta["model"]["width"] == 8
    assert ck.meta["state"]["step"] == 4 and ck.meta["train"]["batch_size"] == 16
    # A flag given with --resume changes that setting (and a model change is refused, as before).
    r = run_cli("--resume", str(run / "latest.safetensors"), "--max-steps", "5", "--lr-d", "5e-5", "--quiet")
    assert r.returncode == 0 and "lr_d 0.0001 -> 5e-05" in r.stdout + r.stderr
    r = run_cli("--resume", str(run / "latest.safetensors"), "--width", "16", "--quiet")
    assert r.returncode != 0 and "different model config" in r.stderr


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", None])
def test_cli_resume_from_a_file_that_cannot_continue_is_one_clear_line(tmp_path, content):
    path = tmp_path / "x.safetensors"
    if content is None:  # a sampling-only export: weights but no optimiser state
        r = run_cli("--variant", "dcgan", "--dry-run", "--quiet", "--width", "8", "--out", str(tmp_path / "run"))
        assert r.returncode == 0, r.stderr
        r = run_cli("export", str(tmp_path / "run" / "latest.safetensors"), str(path), "--sampling-only")
        assert r.returncode == 0, r.stderr
    else:
        path.write_bytes(content)
    r = run_cli("--resume", str(path), "--quiet")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert str(path) in r.stderr or "checkpoint" in r.stderr
    assert not any(tmp_path.glob("runs/*"))
