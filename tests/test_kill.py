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


def test_kill_minus_nine_at_random_moments(tmp_path, mnist_dir):
    out = tmp_path / "run"
    args = [sys.executable, str(ROOT / "train.py"), "--variant", "dcgan", "--width", "8", "--dataset", "mnist",
            "--data-dir", str(mnist_dir), "--batch-size", "8", "--epochs", "400", "--eval-every", "0", "--quiet",
            "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
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
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        ck = load(out / "latest.safetensors")  # always loadable
        steps.append(ck.meta["state"]["step"])
    assert steps == sorted(steps) and steps[-1] > steps[0], steps  # each resume continued, never restarted
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    print(f"\nsurvived 5 kills, checkpoint steps {steps}, {len(leftovers)} stray temp files", file=sys.stderr)
