"""GAN Zoo: the home page. `streamlit run app.py`; the other pages live in pages/."""

import streamlit as st

from ganzoo import ui
from ganzoo.explore import grid_png_array, samples

ui.page_header("GAN Zoo", ":material/pets:", "Eight GAN variants, trained and measured, to explore in your browser.")
ui.sidebar()

st.markdown(
    "Every model here was trained with the project's one `train.py` and judged the same way: a classifier "
    "trained on the real data labels 10,000 generated images, and we report how far their features are from "
    "real ones (**classifier-FID**, lower is better; real images score the *floor*), whether every class is "
    "drawn (**coverage**, **entropy**), and how sure the classifier is (**confidence**)."
)
cols = st.columns(4)
cols[0].page_link("pages/1_Generate.py", label="Generate", icon=":material/grid_view:")
cols[1].page_link("pages/2_Latent_sliders.py", label="Latent sliders", icon=":material/tune:")
cols[2].page_link("pages/3_Interpolate.py", label="Interpolate", icon=":material/timeline:")
cols[3].page_link("pages/4_Compare.py", label="Compare", icon=":material/compare:")
cols = st.columns(4)
cols[0].page_link("pages/5_Training.py", label="Training curves", icon=":material/show_chart:")
cols[1].page_link("pages/6_Upload.py", label="Upload a checkpoint", icon=":material/upload:")
cols[2].page_link("pages/7_Hub.py", label="Load from the Hub", icon=":material/cloud_download:")

st.subheader("Leaderboard")
entries = ui.shipped()
if not entries:
    st.info("No shipped checkpoints found in checkpoints/.")
for dataset in dict.fromkeys(e["dataset"] for e in entries):  # ui.shipped() lists MNIST first
    group = [e for e in entries if e["dataset"] == dataset]
    st.markdown(f"#### {dataset}")
    floors = [(e["meta"].get("eval") or {}).get("floor") or {} for e in group]
    floor = next((f for f in floors if f.get("fid") is not None), None)
    if floor:
        # Read every figure below against what real images of this data score.
        st.caption(f"Real training images score classifier-FID {floor['fid']:.3f}, coverage "
                   f"{floor.get('coverage')} classes, entropy {floor.get('entropy', 0):.3f}, "
                   f"confidence {floor.get('confidence', 0):.3f} (the floor).")
    for e in sorted(group, key=lambda e: (e["meta"].get("eval") or {}).get("fid") or 1e9):
        ev = e["meta"].get("eval") or {}
        floor = ev.get("floor") or {}
        c_img, c_text = st.columns([1, 4], vertical_alignment="center")
        with c_img:
            try:
                ckpt = ui.get(e["key"])
                ui.image(grid_png_array(samples(ckpt.G, 0, 16), 4, ckpt.cfg.img_size), scale=1)
            except Exception as exc:  # a broken shipped file must not take the page down
                st.error(f"cannot load: {exc}")
                continue
        with c_text:
            st.markdown(f"**{e['name']}** — {ckpt.variant} (`{ckpt.cfg.arch}`), "
                        f"G {ckpt.param_counts()['G'] / 1e6:.2f}M params")
            if ev.get("fid") is not None:
                m = st.columns(5)
                m[0].metric("classifier-FID", f"{ev['fid']:.2f}",
                            help=f"real-data floor {floor.get('fid', float('nan')):.3f}")
                m[1].metric("coverage", ui.coverage_label(ev))
                m[2].metric("entropy", f"{ev['entropy']:.3f}")
                m[3].metric("confidence", f"{ev['confidence']:.3f}")
                m[4].metric("ms / image", f"{ev.get('ms_per_image', float('nan')):.2f}")
            else:
                st.caption("not evaluated yet: `python train.py evaluate --write-meta checkpoints/`"
                           if ev == {} else "no classifier for this dataset")
