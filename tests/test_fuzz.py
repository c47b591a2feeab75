"""Fuzzing the checkpoint loader: every mutated or hostile file ends in the loader's own clear error
(or, for a harmless mutation, a model), fast and without large allocations; never a crash or a hang."""

import io
import json
import os
import pickle
import resource
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganzoo import CheckpointError, create_model, load
from ganzoo.checkpoint import build_file

SECONDS_PER_CASE = 10.0  # a hang detector; typical cases take milliseconds
COUNTS: dict[str, int] = {}


@pytest.fixture(scope="module")
def valid() -> bytes:
    torch.manual_seed(0)
    G, D = create_model("dcgan", z_dim=8, width=4)
    return build_file(G, G.cfg, D=D, meta={"dataset": "mnist", "history": [{"epoch": 1, "loss_d": 1.0}]})


def check(data: bytes, name: str = "", kind: str = "case") -> None:
    """One case: a CheckpointError or a usable model, within the time bound."""
    COUNTS[kind] = COUNTS.get(kind, 0) + 1
    t = time.perf_counter()
    try:
        ck = load(data, name=name)
    except CheckpointError as e:
        msg = str(e)
        assert msg and "\n" not in msg and len(msg) < 400
    else:
        out = ck.G(torch.randn(2, ck.cfg.z_dim))
        assert torch.isfinite(out).all()
    assert time.perf_counter() - t < SECONDS_PER_CASE


def header_of(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def with_header(header: dict, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


@settings(max_examples=1800, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.data())
def test_truncations_and_flipped_bytes(valid, data):
    mode = data.draw(st.sampled_from(["truncate", "flip", "flip_header", "splice"]))
    blob = bytearray(valid)
    if mode == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif mode == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] ^= data.draw(st.integers(1, 255))
    elif mode == "flip_header":
        (n,) = struct.unpack("<Q", valid[:8])
        i = data.draw(st.integers(0, 8 + n - 1))
        blob[i] = data.draw(st.integers(0, 255))
    else:
        blob += data.draw(st.binary(min_size=1, max_size=64))
    check(bytes(blob), kind=f"bytes:{mode}")


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.binary(max_size=256), st.sampled_from(["x.safetensors", "x.pt", "x.pth"]))
def test_random_bytes(blob, name):
    check(blob, name=name, kind="random bytes")


def test_header_attacks(valid):
    header, body = header_of(valid)
    cases = [struct.pack("<Q", 2**63) + valid[8:], struct.pack("<Q", len(valid)) + valid[8:],
             struct.pack("<Q", 5) + b"[1,2]" + body, struct.pack("<Q", 9) + b'{"a": 1}x' + body]
    for dtype in ("F8_E4M3", "I8", "complex64", None, 7):
        h = json.loads(json.dumps(header))
        next(v for k, v in h.items() if k != "__metadata__")["dtype"] = dtype
        cases.append(with_header(h, body))
    for shape in ([10**12], [-1, 4], [2**40, 2**40], "abc", [1.5]):
        h = json.loads(json.dumps(header))
        next(v for k, v in h.items() if k != "__metadata__")["shape"] = shape
        cases.append(with_header(h, body))
    for offsets in ([0, 10**15], [-5, 3], [8, 4], None):
        h = json.loads(json.dumps(header))
        next(v for k, v in h.items() if k != "__metadata__")["data_offsets"] = offsets
        cases.append(with_header(h, body))
    for case in cases:
        check(case, kind="header")


def _meta_variants():
    yield lambda m: m["model"].update(arch="unknown_gan")
    for key, value in [("width", 10**6), ("z_dim", 10**9), ("depth", 10**9), ("img_size", 10**6),
                       ("width", -3), ("width", "8"), ("width", 8.0), ("d_dropout", 5), ("spectral_norm", "all"),
                       ("mapping_layers", 10**6), ("img_channels", 0), ("w_dim", -1), ("start", "nope"),
                       ("depth", 7), ("img_size", 200)]:
        yield lambda m, k=key, v=value: m["model"].update({k: v})
    yield lambda m: m["model"].update(extra_key=1)
    yield lambda m: m.update(model="dcgan")
    yield lambda m: m.update(format_version=99)
    yield lambda m: m.update(history="not a list", eval={"fid": "NaN?"}, dataset=5)
    yield lambda m: m.update(history=[{"epoch": "x"}, 3, None])


def test_config_attacks_and_absurd_sizes(valid):
    header, body = header_of(valid)
    for change in _meta_variants():
        h = json.loads(json.dumps(header))
        meta = json.loads(h["__metadata__"]["ganzoo"])
        change(meta)
        h["__metadata__"]["ganzoo"] = json.dumps(meta)
        check(with_header(h, body), kind="config")
    h = json.loads(json.dumps(header))
    h["__metadata__"]["ganzoo"] = "{not json"
    check(with_header(h, body), kind="config")


def test_wrong_dtypes_shapes_and_nonfinite_tensors():
    from safetensors.torch import save

    G, D = create_model("dcgan", z_dim=8, width=4)
    base = build_file(G, G.cfg)
    header, _ = header_of(base)
    meta = header["__metadata__"]
    sd = {f"G.{k}": v for k, v in G.state_dict().items()}
    first = next(k for k in sd if k.endswith("weight"))
    variants = {
        "int weights": {**sd, first: sd[first].to(torch.int32)},
        "wrong shape": {**sd, first: torch.zeros(3, 3)},
        "missing key": {k: v for k, v in sd.items() if k != first},
        "extra key": {**sd, "G.extra": torch.zeros(1)},
        "nan": {**sd, first: torch.full_like(sd[first], float("nan"))},
        "inf": {**sd, first: torch.full_like(sd[first], float("inf"))},
        "no G": {"D.x": torch.zeros(1)},
    }
    for tensors in variants.values():
        data = save(tensors, metadata=meta)
        with pytest.raises(CheckpointError):
            load(data)
        COUNTS["tensors"] = COUNTS.get("tensors", 0) + 1


class Payload:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def test_pickle_attacks_never_run(tmp_path):
    marker = tmp_path / "pwned"
    cmd = f"touch {marker}"
    payloads = [Payload(os.system, cmd), Payload(eval, f"__import__('os').system({cmd!r})"),
                Payload(exec, f"import os; os.system({cmd!r})"),
                Payload(subprocess.getoutput, cmd), Payload(__import__("builtins").exec, f"open({str(marker)!r}, 'w')")]
    blobs = []
    for p in payloads:
        blobs.append(pickle.dumps(p, protocol=2))
        blobs.append(pickle.dumps({"main.0.weight": p}, protocol=4))
        buf = io.BytesIO()
        torch.save({"state_dict": {"w": torch.zeros(1)}, "x": p}, buf)
        blobs.append(buf.getvalue())
    # A torch zip whose data.pkl is replaced by a malicious pickle.
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith("data.pkl"):
                data = pickle.dumps(Payload(os.system, cmd), protocol=2)
            z.writestr(item, data)
    blobs.append(out.getvalue())
    for blob in blobs:
        for name in ("evil.pt", "evil.pth", "evil.safetensors"):
            with pytest.raises(CheckpointError):
                load(blob, name=name)
            COUNTS["pickle attacks"] = COUNTS.get("pickle attacks", 0) + 1
    assert not marker.exists()


def test_oversized_file_is_refused_before_reading(tmp_path, monkeypatch):
    big = tmp_path / "big.safetensors"
    with open(big, "wb") as f:
        f.truncate(300 * 2**20)  # sparse: 300 MB on paper, nothing on disk
    read = []
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self) or b"")
    with pytest.raises(CheckpointError, match="over the"):
        load(big)
    assert not read


def test_memory_stays_bounded_and_report(valid):
    # Everything above ran in this process: peak RSS must stay far from what a hostile size would allocate.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_mb < 4000, peak_mb
    total = sum(COUNTS.values())
    print(f"\nfuzzed {total} cases: {COUNTS}; peak RSS {peak_mb:.0f} MB", file=sys.stderr)
    assert total >= 2000
