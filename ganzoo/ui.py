"""The only module that imports streamlit: cached loaders, the sidebar picker, image widgets.

A model is addressed by a key: `shipped:<file name>`, `upload:<sha256>` or `hub:<repo>/<file>@<rev>`.
Uploads and Hub loads are listed in the session's own state, so a session sees only its own;
the model objects behind them are cached by content digest (bounded), so reruns never reload.
"""

from __future__ import annotations

import gc
import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
import torch

from ganzoo.checkpoint import Checkpoint, CheckpointError, load, peek
from ganzoo.images import png_bytes, upscale

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT_DIR = Path(os.environ.get("GANZOO_CHECKPOINTS", ROOT / "checkpoints"))
SELECTED = "ganzoo_selected"  # session key holding the chosen model across pages
UPLOADS = "ganzoo_uploads"  # {key: {"name":..., "data": bytes}}
HUB = "ganzoo_hub"  # {key: {"name":..., "path": str}}

# Everything imported so far lives as long as the process: keep it out of the cyclic collector's full
# passes, which otherwise walk ~350k torch and streamlit objects (~180 ms holding the GIL, so the server
# cannot send a finished image meanwhile). Objects the pages create later are still collected.
gc.freeze()


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@st.cache_data(show_spinner=False)
def _catalog(folder: str, stamp: float) -> list[dict[str, Any]]:
    entries = []
    for path in sorted(Path(folder).glob("*.safetensors")):
        try:
            meta = peek(path)
        except (CheckpointError, OSError):
            continue
        entries.append({"key": f"shipped:{path.name}", "name": path.stem, "path": str(path),
                        "dataset": meta.get("dataset", "unknown"), "variant": meta.get("variant", "?"),
                        "meta": meta})
    # Grouped by dataset, MNIST first.
    return sorted(entries, key=lambda e: (e["dataset"] != "mnist", e["dataset"], e["name"]))


def shipped() -> list[dict[str, Any]]:
    folder = CHECKPOINT_DIR
    stamp = max((p.stat().st_mtime for p in folder.glob("*.safetensors")), default=0.0)
    return _catalog(str(folder), stamp)


@st.cache_resource(show_spinner="Loading model...", max_entries=32)
def _load_path(path: str, mtime: float, dev: str) -> Checkpoint:
    return load(path, device=dev)


@st.cache_resource(show_spinner="Loading model...", max_entries=8)
def _load_bytes(digest: str, name: str, _data: bytes, dev: str) -> Checkpoint:
    # Keyed by the content digest: identical uploads share one model, and at most 8 are held.
    return load(_data, device=dev, name=name)


@st.cache_resource(show_spinner=False)
def classifier(dataset: str, class_filter: tuple[str, ...] = ()):
    from ganzoo.metrics import find_classifier, load_classifier

    path = find_classifier(dataset, class_filter)
    return load_classifier(path, device()) if path else None


@st.cache_resource(show_spinner="Finding the main directions...", max_entries=64)
def directions(key: str, space: str, k: int, _G: torch.nn.Module) -> dict[str, torch.Tensor]:
    """GANSpace directions of a model, computed once per (model, space, k)."""
    from ganzoo.explore import directions as compute

    return compute(_G, space, k=k)


@st.cache_data(show_spinner="Classifying samples...", max_entries=256)
def class_histogram(key: str, n: int, psi: float, _G: torch.nn.Module, _clf) -> dict[str, Any]:
    """The class histogram of n fixed samples: independent of the page's seed, so computed once per
    (model, n, psi) instead of on every rerun. `key` must name the model object (see directions)."""
    from ganzoo.explore import class_histogram as compute

    return compute(_G, _clf, n=n, psi=psi)


def model_for(ckpt: Checkpoint):
    """The dataset's classifier when it fits this model's images, else None."""
    from ganzoo.metrics import class_filter_of

    clf = classifier(ckpt.dataset, class_filter_of(ckpt.meta.get("train")))
    if clf is None or clf.in_channels != ckpt.cfg.img_channels:
        return None
    return clf


def options() -> dict[str, str]:
    """{key: label} of every model this session can pick."""
    out = {e["key"]: f"{e['dataset']} · {e['name']}" for e in shipped()}
    for key, info in st.session_state.get(UPLOADS, {}).items():
        out[key] = f"uploaded · {info['name']}"
    for key, info in st.session_state.get(HUB, {}).items():
        out[key] = f"hub · {info['name']}"
    return out


def get(key: str) -> Checkpoint:
    kind, _, rest = key.partition(":")
    if kind == "shipped":
        path = CHECKPOINT_DIR / rest
        return _load_path(str(path), path.stat().st_mtime, device())
    if kind == "upload":
        info = st.session_state.get(UPLOADS, {}).get(key)
        if info is None:
            raise CheckpointError("that upload belongs to another session or has expired; upload it again")
        return _load_bytes(rest, info["name"], info["data"], device())
    if kind == "hub":
        info = st.session_state.get(HUB, {}).get(key)
        if info is None:
            raise CheckpointError("load that Hub model again from the Hub page")
        path = Path(info["path"])
        return _load_path(str(path), path.stat().st_mtime, device())
    raise CheckpointError(f"unknown model key {key!r}")


def add_upload(name: str, data: bytes) -> str:
    """Validate an upload and make it selectable in this session; raises CheckpointError."""
    digest = hashlib.sha256(data).hexdigest()
    key = f"upload:{digest}"
    _load_bytes(digest, name, data, device())  # raises before anything is listed
    st.session_state.setdefault(UPLOADS, {})[key] = {"name": name, "data": data}
    st.session_state[SELECTED] = key
    return key


def add_hub(repo_id: str, filename: str, revision: str | None, path: str) -> str:
    key = f"hub:{repo_id}/{filename}@{revision or 'main'}"
    p = Path(path)
    _load_path(str(p), p.stat().st_mtime, device())
    st.session_state.setdefault(HUB, {})[key] = {"name": f"{repo_id}/{filename}", "path": str(p)}
    st.session_state[SELECTED] = key
    return key


PAGES = [
    ("app.py", "Home · Zoo", ":material/pets:"),
    ("pages/1_Generate.py", "Generate", ":material/grid_view:"),
    ("pages/2_Latent_sliders.py", "Latent sliders", ":material/tune:"),
    ("pages/3_Interpolate.py", "Interpolate", ":material/timeline:"),
    ("pages/4_Compare.py", "Compare", ":material/compare:"),
    ("pages/5_Training.py", "Training", ":material/show_chart:"),
    ("pages/6_Upload.py", "Upload", ":material/upload:"),
    ("pages/7_Hub.py", "Hub", ":material/cloud_download:"),
]


def nav() -> None:
    """Our own page list (the automatic one would call the home page "app")."""
    from streamlit.errors import StreamlitAPIException

    with st.sidebar:
        try:
            for path, label, icon in PAGES:
                st.page_link(path, label=label, icon=icon)
        except StreamlitAPIException:
            pass  # a page run on its own (AppTest) is its own entry point and has no siblings
        st.divider()


def _on_pick() -> None:
    st.session_state[SELECTED] = st.session_state["_picker"]


def sidebar() -> tuple[str, Checkpoint] | tuple[None, None]:
    """The checkpoint picker shown on every page. Returns (key, checkpoint) of the choice."""
    opts = options()
    nav()
    with st.sidebar:
        st.markdown("### :material/deployed_code: Model")
        if not opts:
            st.info("No checkpoints yet: upload one on the Upload page.")
            return None, None
        keys = list(opts)
        chosen = st.session_state.get(SELECTED)
        if chosen not in opts:
            chosen = keys[0]
            st.session_state[SELECTED] = chosen
        # The widget's own state is dropped between pages; SELECTED is ours and survives.
        st.session_state["_picker"] = chosen
        st.selectbox("Checkpoint", keys, format_func=opts.get, key="_picker", on_change=_on_pick)
        try:
            ckpt = get(chosen)
        except (CheckpointError, OSError) as e:
            st.error(str(e))
            return None, None
        pc = ckpt.param_counts()
        ev = ckpt.meta.get("eval") or {}
        st.caption(f"**{ckpt.variant}** · `{ckpt.cfg.arch}` · {ckpt.dataset} · "
                   f"{ckpt.cfg.img_channels}×{ckpt.cfg.img_size}×{ckpt.cfg.img_size}")
        cols = st.columns(2)
        cols[0].metric("G params", f"{pc.get('G', 0) / 1e6:.2f}M")
        cols[1].metric("D params", f"{pc['D'] / 1e6:.2f}M" if pc.get("D") else "—")
        if ev.get("fid") is not None:
            cols = st.columns(2)
            cols[0].metric("classifier-FID", f"{ev['fid']:.2f}")
            cols[1].metric("classes", coverage_label(ev))
        st.caption(f"device: {device()}")
    return chosen, ckpt


def coverage_label(ev: dict[str, Any]) -> str:
    """'covered/classes' of stored metrics (the histogram's length is the number of classes)."""
    return f"{ev.get('coverage', '?')}/{len(ev.get('histogram') or []) or 10}"


def class_chart(stats: dict[str, Any], height: int | str = "content") -> None:
    """The class histogram as shares, beside the real data's shares when the classifier knows them."""
    from ganzoo.explore import histogram_frame

    frame = histogram_frame(stats)
    st.bar_chart(frame, x="class", y=[c for c in frame.columns if c != "class"], stack=False,
                 y_label="share of samples", height=height)


def image(arr: np.ndarray, caption: str | None = None, scale: int = 1, width: str = "content") -> None:
    """Crisp display: nearest-neighbour upscaling on the server, sent as PNG (never JPEG)."""
    st.image(png_bytes(upscale(arr, scale)), caption=caption, output_format="PNG", width=width)


def download_png(label: str, arr: np.ndarray, file_name: str, key: str | None = None) -> None:
    st.download_button(label, png_bytes(arr), file_name=file_name, mime="image/png", key=key,
                       icon=":material/download:")


def configure_torch() -> None:
    """One intra-op thread per request by default.

    The app runs tiny models on one or a few images per rerun, for several sessions at once: thread
    hand-offs then cost more than the maths (a 28x28 DCGAN image: ~1 ms on one thread, ~100 ms on two when
    the other core is busy). GANZOO_THREADS overrides it.
    """
    n = int(os.environ.get("GANZOO_THREADS", "1"))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def page_header(title: str, icon: str, blurb: str) -> None:
    configure_torch()
    st.set_page_config(page_title=f"{title} · GAN Zoo", page_icon=icon, layout="wide")
    st.title(title)
    st.caption(blurb)
