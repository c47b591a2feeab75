"""Hugging Face Hub: push a checkpoint with a model card; download `hf://user/repo/file[@revision]`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ganzoo.checkpoint import MAX_BYTES, CheckpointError


class HubError(RuntimeError):
    """Offline, not logged in, not found: one sentence a user can act on."""


def parse_hf_url(url: str) -> tuple[str, str, str | None]:
    """hf://USER/NAME/path/to/file.safetensors[@revision] -> (repo_id, filename, revision)."""
    rest = url.removeprefix("hf://")
    revision = None
    if "@" in rest:
        rest, revision = rest.rsplit("@", 1)
    parts = rest.split("/")
    if len(parts) < 3 or not all(parts):
        raise CheckpointError(f"{url!r} is not hf://USER/NAME/FILE[@revision]")
    return "/".join(parts[:2]), "/".join(parts[2:]), revision


def download(url_or_repo: str, filename: str | None = None, revision: str | None = None,
             *, local_files_only: bool | None = None) -> str:
    """Fetch a file with hf_hub_download (cached in the usual HF cache) and return its local path."""
    if filename is None:
        repo_id, filename, revision = parse_hf_url(url_or_repo)
    else:
        repo_id = url_or_repo
    _check_repo_id(repo_id)
    if not filename.endswith((".safetensors", ".pt", ".pth")):
        raise HubError(f"{filename!r}: ganzoo loads .safetensors (or .pt/.pth state_dicts) files")
    try:
        from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
        from huggingface_hub.errors import (
            EntryNotFoundError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:
        raise HubError("huggingface_hub is not installed: pip install huggingface_hub") from None
    offline = local_files_only if local_files_only is not None else os.environ.get("HF_HUB_OFFLINE") == "1"
    try:
        if not offline:
            # Refuse oversized files before downloading them.
            size = get_hf_file_metadata(hf_hub_url(repo_id, filename, revision=revision)).size
            if size and size > MAX_BYTES:
                raise HubError(f"{filename} is {size / 2**20:.0f} MB, over the {MAX_BYTES / 2**20:.0f} MB limit")
        return hf_hub_download(repo_id, filename, revision=revision, local_files_only=offline)
    except HubError:
        raise
    except RepositoryNotFoundError:
        raise HubError(f"repository {repo_id} was not found on the Hub (or it is private: log in)") from None
    except RevisionNotFoundError:
        raise HubError(f"revision {revision!r} does not exist in {repo_id}") from None
    # LocalEntryNotFoundError subclasses EntryNotFoundError: it must be caught first.
    except LocalEntryNotFoundError:
        raise HubError(f"cannot reach the Hub and {repo_id}/{filename} is not in the local cache "
                       "(offline? HF_HUB_OFFLINE is set?)") from None
    except EntryNotFoundError:
        raise HubError(f"{filename} is not in {repo_id}" + (f" at {revision}" if revision else "")) from None
    except Exception as e:  # connection errors come in many classes
        raise HubError(f"could not download {repo_id}/{filename}: {e.__class__.__name__}: "
                       f"{str(e).splitlines()[0][:160] if str(e) else 'no details'}") from None


def _check_repo_id(repo_id: str) -> None:
    import re

    if not re.fullmatch(r"[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}", repo_id):
        raise HubError(f"{repo_id!r} is not a Hub repo id (USER/NAME)")


def model_card(ckpt, repo_id: str, filename: str) -> str:
    """A Hub README (YAML front matter + markdown) generated from the checkpoint's metadata."""
    from ganzoo.cards import metrics_table, settings_table

    m = ckpt.meta
    lines = [
        "---",
        "library_name: ganzoo",
        "license: mit",
        "tags: [gan, ganzoo, image-generation, " + ckpt.variant.split()[0] + "]",
        "---",
        f"# {ckpt.variant} on {ckpt.dataset}",
        "",
        f"A **{ckpt.variant}** generator ({ckpt.cfg.arch} architecture) trained with "
        f"[ganzoo](https://github.com/) on **{ckpt.dataset}** "
        f"({ckpt.cfg.img_channels}x{ckpt.cfg.img_size}x{ckpt.cfg.img_size}).",
        "",
        "![samples](samples.png)",
        "",
        "## Settings",
        settings_table(ckpt),
        "",
        "## Metrics",
        metrics_table(ckpt),
        "",
        "## How to load it",
        "```python",
        "import ganzoo",
        f'ckpt = ganzoo.load("hf://{repo_id}/{filename}")',
        "from ganzoo.latent import generate, sample_z",
        "images = generate(ckpt.G, sample_z(list(range(16)), ckpt.cfg.z_dim))  # (16, C, H, W) in [-1, 1]",
        "```",
        "The file is a single safetensors checkpoint: loading it never runs code.",
        f"Trained for {m.get('epochs_done', '?')} epochs ({m.get('steps_done', '?')} steps) on "
        f"{m.get('device', 'unknown device')} in {m.get('wall_seconds', '?')} s.",
    ]
    return "\n".join(lines) + "\n"


def push(path: str | os.PathLike, repo_id: str, *, private: bool = False, revision: str | None = None,
         api: Any = None) -> str:
    """Upload a checkpoint, its sample grid and a model card; returns the repo URL."""
    from ganzoo.checkpoint import load
    from ganzoo.images import grid, png_bytes, upscale
    from ganzoo.latent import generate, sample_z

    _check_repo_id(repo_id)
    try:
        ckpt = load(path)
    except CheckpointError as e:
        raise HubError(f"not pushing {path}: {e}") from None
    if api is None:
        try:
            from huggingface_hub import HfApi
        except ImportError:
            raise HubError("huggingface_hub is not installed: pip install huggingface_hub") from None
        api = HfApi()
    filename = Path(path).name
    try:
        user = api.whoami()
    except Exception as e:
        raise HubError("not logged in to the Hub (or offline): run `huggingface-cli login` or set HF_TOKEN "
                       f"({e.__class__.__name__})") from None
    del user
    samples = png_bytes(upscale(grid(generate(ckpt.G, sample_z(list(range(16)), ckpt.cfg.z_dim)), nrow=8), 2))
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "README.md").write_text(model_card(ckpt, repo_id, filename))
            (folder / "samples.png").write_bytes(samples)
            (folder / filename).write_bytes(Path(path).read_bytes())
            api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model", revision=revision,
                              commit_message=f"ganzoo: upload {filename}")
    except Exception as e:
        raise HubError(f"upload to {repo_id} failed: {e.__class__.__name__}: {str(e).splitlines()[0][:160]}") from None
    return f"https://huggingface.co/{repo_id}"


__all__ = ["HubError", "download", "model_card", "parse_hf_url", "push"]
