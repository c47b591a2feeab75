"""The checkpoint format: bit-exact round trips, foreign imports, and refusals with clear messages."""

import io
import json
import os
import pickle
import struct
from collections import OrderedDict

import pytest
import torch
from torch import nn

import ganzoo
from ganzoo import CheckpointError, create_model, list_models, load, save
from ganzoo.checkpoint import build_file, peek


@pytest.mark.parametrize("arch", list_models())
def test_round_trip_is_bit_exact(tmp_path, arch):
    G, D = create_model(arch, z_dim=16, width=8, spectral_norm="d" if arch != "style" else "none")
    with torch.no_grad():  # make BN running stats non-default so they are checked too
        G.train()(torch.randn(4, 16))
    path = save(tmp_path / "m.safetensors", G, D=D, meta={"dataset": "mnist", "history": [{"epoch": 1}]})
    ck = load(path)
    for (k, a), (k2, b) in zip(G.state_dict().items(), ck.G.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k
    for k, v in D.state_dict().items():
        assert torch.equal(v, ck.D.state_dict()[k]), k
    assert ck.cfg == G.cfg
    assert ck.meta["ganzoo_version"] == ganzoo.__version__ and ck.meta["format_version"] == 1
    assert ck.history == [{"epoch": 1}] and ck.dataset == "mnist"
    assert peek(path)["model"]["arch"] == arch


def test_ema_generator_is_the_sampling_one(tmp_path):
    G, D = create_model("dcgan", z_dim=8, width=8)
    G_ema, _ = create_model("dcgan", z_dim=8, width=8)
    ck = load(save(tmp_path / "m.safetensors", G, D=D, G_ema=G_ema))
    assert all(torch.equal(a, b) for a, b in zip(ck.G.state_dict().values(), G_ema.state_dict().values()))
    assert ck.G_train is not None


def _examples_netG(nz=100, ngf=64, nc=3):
    """The generator of pytorch/examples dcgan/main.py, as written there."""
    return nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh(),
    )


@pytest.mark.parametrize("prefix", ["", "module.", "_orig_mod.module."])
def test_pytorch_examples_dcgan_generator_imports_with_shape_inferred(tmp_path, prefix):
    torch.manual_seed(0)
    main = _examples_netG(nz=50, ngf=16, nc=3).eval()
    sd = OrderedDict((f"{prefix}main.{k}", v) for k, v in main.state_dict().items())
    path = tmp_path / "netG_epoch_24.pth"
    torch.save(sd, path)
    ck = load(path)
    assert (ck.cfg.arch, ck.cfg.z_dim, ck.cfg.width, ck.cfg.img_channels, ck.cfg.img_size) == ("dcgan", 50, 16, 3, 64)
    z = torch.randn(2, 50)
    assert torch.allclose(ck.G(z), main(z.view(2, 50, 1, 1)), atol=1e-6)


def test_ganzoo_dict_saved_with_torch_save_imports(tmp_path):
    G, _ = create_model("style", z_dim=8, width=8)
    path = tmp_path / "g.pt"
    torch.save({"config": G.cfg.to_dict(), "G": G.state_dict()}, path)
    assert load(path).cfg == G.cfg


class Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_hostile_pickle_is_refused_and_never_runs(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"main.0.weight": torch.zeros(1), "x": Evil(target)}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load(path)
    raw = tmp_path / "evil.pth"
    raw.write_bytes(pickle.dumps(Evil(target), protocol=2))
    with pytest.raises(CheckpointError):
        load(raw)
    assert not target.exists()


def _valid(tmp_path):
    G, D = create_model("dcgan", z_dim=8, width=8)
    return save(tmp_path / "ok.safetensors", G, D=D).read_bytes()


def test_refusals_are_one_clear_sentence(tmp_path):
    data = _valid(tmp_path)
    cases = {
        "empty": b"",
        "not a checkpoint": b"hello world, this is text",
        "truncated": data[: len(data) // 2],
        "inflated header": struct.pack("<Q", 2**40) + data[8:],
        "bad json": struct.pack("<Q", 10) + b"{not json}" + data[18:],
    }
    for name, blob in cases.items():
        with pytest.raises(CheckpointError) as e:
            load(blob)
        msg = str(e.value)
        assert "\n" not in msg and len(msg) < 300, name


def _with_meta(data: bytes, change) -> bytes:
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["ganzoo"])
    change(meta)
    header["__metadata__"]["ganzoo"] = json.dumps(meta)
    new = json.dumps(header).encode()
    new += b" " * ((8 - len(new) % 8) % 8)
    return struct.pack("<Q", len(new)) + new + data[8 + n :]


def test_config_problems_are_refused_before_building(tmp_path):
    data = _valid(tmp_path)
    with pytest.raises(CheckpointError, match="unknown architecture"):
        load(_with_meta(data, lambda m: m["model"].update(arch="biggan")))
    with pytest.raises(CheckpointError, match="width"):
        load(_with_meta(data, lambda m: m["model"].update(width=10**6)))
    with pytest.raises(CheckpointError, match="do not match|shape"):
        load(_with_meta(data, lambda m: m["model"].update(z_dim=9)))


def test_nan_weights_and_size_cap(tmp_path):
    G, D = create_model("dcgan", z_dim=8, width=8)
    with torch.no_grad():
        next(G.parameters())[0].fill_(float("nan"))
    with pytest.raises(CheckpointError, match="NaN"):
        load(build_file(G, G.cfg))
    data = _valid(tmp_path)
    with pytest.raises(CheckpointError, match="over the"):
        load(data, max_bytes=1000)
    big = tmp_path / "big.safetensors"
    big.write_bytes(data)
    with pytest.raises(CheckpointError, match="over the"):
        load(big, max_bytes=1000)


def test_wrong_architecture_state_dict_is_refused(tmp_path):
    clf = nn.Sequential(nn.Conv2d(1, 8, 3), nn.Flatten(), nn.Linear(8 * 26 * 26, 10))
    path = tmp_path / "classifier.pt"
    torch.save(clf.state_dict(), path)
    with pytest.raises(CheckpointError, match="unrecognised|not form"):
        load(path)
    buf = io.BytesIO()
    torch.save([1, 2, 3], buf)
    with pytest.raises(CheckpointError, match="not a state_dict"):
        load(buf.getvalue(), name="list.pt")
