"""The Hub, offline: loading from a cache laid out as huggingface_hub lays it out, and push via a fake HfApi."""

import os
from pathlib import Path

import pytest

import ganzoo
from ganzoo import create_model, save
from ganzoo.hub import HubError, download, model_card, parse_hf_url, push

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _cache_file(repo_id: str, filename: str, data: bytes, revision: str = "main") -> Path:
    root = Path(os.environ["HF_HUB_CACHE"]) / f"models--{repo_id.replace('/', '--')}"
    snap = root / "snapshots" / COMMIT
    snap.mkdir(parents=True, exist_ok=True)
    (snap / filename).write_bytes(data)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / revision).write_text(COMMIT)
    return snap / filename


@pytest.fixture
def checkpoint(tmp_path):
    G, D = create_model("dcgan", z_dim=12, width=8)
    meta = {"dataset": "mnist", "variant": "dcgan", "train": {"lr_g": 2e-4}, "epochs_done": 3,
            "eval": {"fid": 12.5, "coverage": 10, "entropy": 0.98, "n": 1000, "floor": {"fid": 0.14}}}
    return save(tmp_path / "dcgan.safetensors", G, D=D, meta=meta)


def test_load_from_the_local_hub_cache(checkpoint):
    _cache_file("someone/zoo", "dcgan.safetensors", checkpoint.read_bytes())
    ck = ganzoo.load("hf://someone/zoo/dcgan.safetensors")
    assert ck.cfg.z_dim == 12 and ck.dataset == "mnist"
    _cache_file("someone/zoo", "dcgan.safetensors", checkpoint.read_bytes(), revision="v1")
    assert ganzoo.load("hf://someone/zoo/dcgan.safetensors@v1").cfg.width == 8


def test_hub_errors_are_clear():
    with pytest.raises(HubError, match="local cache"):
        download("someone/absent", "x.safetensors")
    with pytest.raises(HubError, match="repo id"):
        download("not a repo", "x.safetensors")
    with pytest.raises(ganzoo.CheckpointError, match="hf://"):
        parse_hf_url("hf://only-one-part")
    assert parse_hf_url("hf://a/b/dir/f.safetensors@rev") == ("a/b", "dir/f.safetensors", "rev")


def test_hostile_file_from_the_hub_is_refused(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    _cache_file("someone/evil", "model.pt", pickle.dumps(Evil(), protocol=2))
    with pytest.raises(ganzoo.CheckpointError):
        ganzoo.load("hf://someone/evil/model.pt")
    assert not (tmp_path / "pwned").exists()


class FakeApi:
    def __init__(self, logged_in=True):
        self.logged_in, self.calls, self.files = logged_in, [], {}

    def whoami(self):
        if not self.logged_in:
            raise OSError("401 Unauthorized")
        return {"name": "me"}

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))

    def upload_folder(self, folder_path, repo_id, **kw):
        self.calls.append(("upload_folder", repo_id, kw))
        self.files = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}


def test_push_uploads_checkpoint_card_and_samples(checkpoint):
    api = FakeApi()
    url = push(checkpoint, "me/ganzoo-dcgan", private=True, api=api)
    assert url == "https://huggingface.co/me/ganzoo-dcgan"
    assert api.calls[0] == ("create_repo", "me/ganzoo-dcgan", {"private": True, "exist_ok": True,
                                                                "repo_type": "model"})
    assert set(api.files) == {"README.md", "samples.png", "dcgan.safetensors"}
    assert api.files["dcgan.safetensors"] == checkpoint.read_bytes()
    assert api.files["samples.png"][:8] == b"\x89PNG\r\n\x1a\n"
    card = api.files["README.md"].decode()
    assert card.startswith("---\n") and "library_name: ganzoo" in card
    assert 'ganzoo.load("hf://me/ganzoo-dcgan/dcgan.safetensors")' in card
    assert "| classifier-FID | 12.500 | 0.140 |" in card and "model.z_dim | 12" in card


def test_push_when_not_logged_in(checkpoint):
    with pytest.raises(HubError, match="not logged in"):
        push(checkpoint, "me/x", api=FakeApi(logged_in=False))


def test_model_card_mentions_training(checkpoint):
    card = model_card(ganzoo.load(checkpoint), "me/x", "dcgan.safetensors")
    assert "Trained for 3 epochs" in card
