import random

import streamlit as st

from ganzoo import ui
from ganzoo.explore import MAX_SEED, clamp_int, grid_png_array, label_images, samples, scale_for
from ganzoo.images import grid
from ganzoo.metrics import normalised_entropy

ui.page_header("Generate", ":material/grid_view:", "A grid of samples from a seed, labelled by the classifier.")
key, ckpt = ui.sidebar()
if ckpt is None:
    st.stop()

qp = st.query_params
if "gen_seed" not in st.session_state:
    st.session_state.gen_seed = clamp_int(qp.get("seed", 0), 0, MAX_SEED, 0)
c = st.columns([2, 2, 2, 1], vertical_alignment="bottom")
n = c[0].slider("Samples", 1, 64, clamp_int(qp.get("n", 16), 1, 64, 16))
c[1].number_input("Seed", 0, MAX_SEED, key="gen_seed")
psi = c[2].slider("Truncation ψ", 0.0, 1.5, 1.0, 0.05,
                  help="Pull latents towards the average (1 = off). Lower: cleaner but less varied.")
if c[3].button("New seed", icon=":material/casino:"):
    st.session_state.gen_seed = random.randrange(MAX_SEED)
    st.rerun()
seed = st.session_state.gen_seed
images = samples(ckpt.G, seed, n, psi)
clf = ui.model_for(ckpt)
lab = label_images(images, clf)
per_row = 8
scale = scale_for(ckpt.cfg.img_size, 84)
for start in range(0, n, per_row):
    cols = st.columns(per_row)
    for i in range(start, min(start + per_row, n)):
        cap = f"{lab.labels[i]} · {lab.confidences[i]:.0%}" if clf is not None else f"seed {seed + i}"
        with cols[i - start]:
            ui.image(grid(images[i : i + 1], nrow=1, pad=0), caption=cap, scale=scale)
ui.download_png("Download grid (PNG)", grid_png_array(images, min(n, 8), ckpt.cfg.img_size),
                f"{ckpt.variant}-seed{seed}.png")

st.subheader("What does it draw?")
if clf is None:
    st.info(f"No classifier for the {ckpt.dataset} dataset, so no class histogram.")
else:
    big = st.select_slider("Samples in the histogram", [200, 500, 1000, 2000], value=1000)
    stats = ui.class_histogram(f"{key}:{id(ckpt.G)}", big, psi, ckpt.G, clf)
    if stats["warning"]:
        st.warning(f"**Mode collapse?** {stats['warning']}", icon=":material/warning:")
    m = st.columns(4)
    m[0].metric("coverage", f"{stats['coverage']}/{len(stats['classes'])}", help="classes with at least 1%")
    real = stats.get("real_shares")
    m[1].metric("entropy", f"{stats['entropy']:.3f}",
                help="normalised: 1 = every class equally often"
                + (f"; the real data's own is {normalised_entropy(real):.3f}" if real else ""))
    m[2].metric("confidence", f"{stats['confidence']:.3f}", help="mean top-1 probability")
    m[3].metric("unsure (<0.5)", f"{stats['low_confidence']:.1%}")
    ui.class_chart(stats)
    if stats.get("kl_real") is not None:
        st.caption(f"KL divergence of the generated class shares from the real data's: {stats['kl_real']:.4f} "
                   "(0 = drawn exactly as often as in the training data)")
