"""kill -9 a training run at random moments: a loadable checkpoint is always there, and --resume goes on."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from ganzoo import load

ROOT = Path(__file__).resolve().parent.parent


ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def long_run(out: Path, mnist_dir: Path) -> list[str]:
    """A tiny DCGAN on the 300-digit fixture, for far longer than any test lets it run."""
    return [sys.executable, str(ROOT / "train.py"), "--variant", "dcgan", "--width", "8", "--dataset", "mnist",
            "--data-dir", str(mnist_dir), "--batch-size", "8", "--epochs", "400", "--eval-every", "0", "--quiet",
            "--keep-going", "--out", str(out)]


def test_kill_minus_nine_at_random_moments(tmp_path, mnist_dir):
    out = tmp_path / "run"
    args = long_run(out, mnist_dir)
    env = ENV
    rng = random.Random(7)
    steps = []
    for i in range(5):
        cmd = args + (["--resume", str(out / "latest.safetensors")] if i else [])
        latest = out / "latest.safetensors"
        before = latest.stat().st_mtime_ns if latest.exists() else 0
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Wait until this run has written at least once (imports take seconds), then kill at a random moment:
        # an epoch of 34 steps ends, and saves, every fraction of a second.
        deadline = time.time() + 120
        while (not latest.exists() or latest.stat().st_mtime_ns == before) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 2.0))
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
        assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
        ck = load(out / "latest.safetensors")  # always loadable
        steps.append(ck.meta["state"]["step"])
    assert steps == sorted(steps) and steps[-1] > steps[0], steps  # each resume continued, never restarted
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    print(f"\nsurvived 5 kills, checkpoint steps {steps}, {len(leftovers)} stray temp files", file=sys.stderr)


def test_ctrl_c_saves_before_exiting(tmp_path, mnist_dir):
    out = tmp_path / "run"
    proc = subprocess.Popen(long_run(out, mnist_dir), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    latest = out / "latest.safetensors"
    deadline = time.time() + 120
    while not (out / "metrics.csv").exists() and time.time() < deadline:  # past the first epoch
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted: saved" in stdout and "--resume" in stdout
    state = load(latest).meta["state"]
    assert state["step"] > 0 and state["batch_in_epoch"] >= 0
