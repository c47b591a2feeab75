import streamlit as st

from ganzoo import ui
from ganzoo.explore import MAX_SEED, clamp_int, grid_png_array, samples

ui.page_header("Compare", ":material/compare:", "The same seeds through several checkpoints, side by side.")
key, ckpt = ui.sidebar()
opts = ui.options()
if not opts:
    st.stop()
default = [k for k in opts if k.startswith("shipped:") and opts[k].startswith("mnist")][:3] or list(opts)[:2]
chosen = st.multiselect("Checkpoints", list(opts), default=default, format_func=opts.get, max_selections=6)
c = st.columns(3)
seed = c[0].number_input("First seed", 0, MAX_SEED, clamp_int(st.query_params.get("seed", 0), 0, MAX_SEED, 0))
n = c[1].slider("Samples each", 4, 36, 16, 4)
hist_n = c[2].select_slider("Histogram samples", [200, 500, 1000], value=500)
if not chosen:
    st.info("Pick at least one checkpoint.")
    st.stop()
cols = st.columns(len(chosen))
for col, k in zip(cols, chosen):
    with col:
        try:
            m = ui.get(k)
        except Exception as e:
            st.error(str(e))
            continue
        st.markdown(f"**{opts[k]}**  \n{m.variant} · `{m.cfg.arch}` · G {m.param_counts()['G'] / 1e6:.2f}M")
        arr = grid_png_array(samples(m.G, int(seed), n), 4, m.cfg.img_size)
        ui.image(arr, width="stretch")
        ui.download_png("PNG", arr, f"{m.variant}-seed{seed}.png", key=f"dl-{k}")
        ev = m.meta.get("eval") or {}
        if ev.get("fid") is not None:
            st.caption(f"cFID {ev['fid']:.2f} · KID {ev['kid']:.4f} · precision {ev['precision']:.2f} · "
                       f"recall {ev['recall']:.2f}")
        clf = ui.model_for(m)
        if clf is not None:
            stats = ui.class_histogram(f"{k}:{id(m.G)}", hist_n, 1.0, m.G, clf)
            st.caption(f"coverage {stats['coverage']}/{len(stats['classes'])} · entropy {stats['entropy']:.3f} · "
                       f"confidence {stats['confidence']:.3f}")
            if stats["warning"]:
                st.warning(stats["warning"])
            ui.class_chart(stats, height=200)
