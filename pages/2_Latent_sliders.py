import random

import streamlit as st

from ganzoo import ui
from ganzoo.explore import (
    MAX_SEED,
    clamp_int,
    edit_latent,
    label_images,
    latent_for_seed,
    render_latent,
    scale_for,
)
from ganzoo.images import grid

ui.page_header("Latent sliders", ":material/tune:",
               "Move single latent coordinates, or walk along the principal directions of the latent space.")
key, ckpt = ui.sidebar()
if ckpt is None:
    st.stop()
G = ckpt.G
spaces = ["w", "z"] if G.has_mapping else ["z"]
c = st.columns([2, 2, 1, 1], vertical_alignment="bottom")
if "lat_seed" not in st.session_state:
    st.session_state.lat_seed = clamp_int(st.query_params.get("seed", 0), 0, MAX_SEED, 0)
c[0].number_input("Start from seed", 0, MAX_SEED, key="lat_seed")
space = c[1].radio("Latent space", spaces, horizontal=True,
                   help="w is the mapping network's output (StyleGAN); elsewhere w = z.")
dim = G.w_dim if space == "w" else G.z_dim
state_key = f"lat::{key}::{space}"


def reset() -> None:
    for k in list(st.session_state):
        if k.startswith(state_key):
            del st.session_state[k]


if c[2].button("Reset", icon=":material/restart_alt:"):
    reset()
if c[3].button("Randomise", icon=":material/casino:"):
    reset()
    st.session_state.lat_seed = random.randrange(MAX_SEED)
    st.rerun()

seed = st.session_state.lat_seed
base = latent_for_seed(G, seed, space)
dims = st.multiselect(f"{space} coordinates to slide", list(range(dim)), default=list(range(min(6, dim))),
                      max_selections=16)
n_pc = st.slider("Semantic (principal-component) sliders", 0, 10, 5)
pca = ui.directions(f"{key}:{id(G)}", space, 10, G) if n_pc else None  # id: a reloaded file is a new G
clf = ui.model_for(ckpt)


@st.fragment
def sliders() -> None:
    # Only this fragment reruns on a slider release: the model and the directions are already in hand.
    left, right = st.columns([3, 2])
    with left:
        values = {}
        cols = st.columns(2)
        for j, d in enumerate(dims):
            values[d] = cols[j % 2].slider(f"{space}[{d}]", -4.0, 4.0, float(round(base[d].item(), 2)), 0.05,
                                           key=f"{state_key}::{seed}::d{d}")
        pcs = {}
        if pca is not None:
            st.markdown(f"**Semantic directions** (GANSpace: principal components of {pca['n']:,} samples"
                        + (" of w)" if space == "w" else " of the images, regressed onto z)"))
            cols = st.columns(2)
            for i in range(n_pc):
                pcs[i] = cols[i % 2].slider(
                    f"PC{i + 1} · {pca['explained'][i]:.1%} of the variance", -5.0, 5.0, 0.0, 0.25,
                    key=f"{state_key}::{seed}::pc{i}", help="in standard deviations along this direction")
    v = edit_latent(base, values, pcs, pca)
    img = render_latent(G, v, space)
    lab = label_images(img, clf)
    with right:
        arr = grid(img, nrow=1, pad=0)
        cap = f"classifier: {lab.labels[0]} ({lab.confidences[0]:.0%})" if clf is not None else None
        ui.image(arr, caption=cap, scale=scale_for(ckpt.cfg.img_size, 280))
        ui.download_png("Download image", arr, f"{ckpt.variant}-seed{seed}-edit.png", key="dl_edit")


sliders()
