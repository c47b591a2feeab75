import pandas as pd
import streamlit as st

from ganzoo import ui
from ganzoo.cards import bars_table
from ganzoo.images import gif_bytes, grid, upscale

ui.page_header("Training", ":material/show_chart:", "How the chosen checkpoint got here: curves and samples by epoch.")
key, ckpt = ui.sidebar()
if ckpt is None:
    st.stop()
hist = ckpt.history
m = ckpt.meta
st.caption(f"{m.get('epochs_done', '?')} epochs, {m.get('steps_done', '?')} steps, {m.get('wall_seconds', '?')} s "
           f"on {m.get('device', 'unknown device')}" + (f" · shipped epoch: {m['best_epoch']}" if m.get("best_epoch")
                                                        else ""))
if m.get("note"):
    st.code(m["note"], language="bash")
bars = bars_table(ckpt)
if bars or m.get("tried"):
    with st.expander("Quality bars" + (" and what was tried" if m.get("tried") else "")):
        if bars:
            st.markdown(bars)
        if m.get("tried"):
            st.markdown(m["tried"])
if not hist:
    st.info("This checkpoint carries no training history (imported, or saved outside train.py).")
    st.stop()
df = pd.DataFrame([{k: v for k, v in h.items() if not isinstance(v, (dict, list))} for h in hist]).set_index("epoch")
c = st.columns(2)
with c[0]:
    st.markdown("**Losses**")
    st.line_chart(df[["loss_d", "loss_g"]].rename(columns={"loss_d": "D", "loss_g": "G"}))
with c[1]:
    st.markdown("**D accuracy** (0.5 = D cannot tell)")
    # Short names: the chart's legend cuts long ones. The last two are judged together at the epoch's end.
    names = {"d_acc_real": "real", "d_acc_fake": "generated", "val_acc_real": "held-out real",
             "train_acc_real": "training real"}
    st.line_chart(df[[x for x in names if x in df]].rename(columns=names))
if "fid" in df:
    c = st.columns(2)
    with c[0]:
        st.markdown("**Classifier-FID** (lower is better)")
        st.line_chart(df[["fid"]])
    with c[1]:
        st.markdown("**Coverage and entropy**")
        st.line_chart(df[[x for x in ("entropy", "confidence") if x in df]])
samples = ckpt.tensors.get("history.samples")
epochs = m.get("sample_epochs", [])
if samples is not None and len(epochs) == samples.shape[0]:
    st.subheader("Samples over training")
    st.caption("The same fixed latents after each epoch.")
    i = st.select_slider("Epoch", options=list(range(len(epochs))), value=len(epochs) - 1,
                         format_func=lambda j: str(epochs[j]))
    arr = upscale(grid(samples[i], nrow=8), max(1, 112 // ckpt.cfg.img_size))
    ui.image(arr)
    ui.download_png("Download this grid", arr, f"{ckpt.variant}-epoch{epochs[i]}.png", key="dl-epoch")
    strip = grid(samples[:, 0], nrow=len(epochs), pad=1)
    st.caption("The first latent, epoch by epoch:")
    ui.image(upscale(strip, max(1, 56 // ckpt.cfg.img_size)))
    frames = [upscale(grid(samples[j], nrow=4), max(1, 112 // ckpt.cfg.img_size)) for j in range(len(epochs))]
    st.download_button("Training as an animated GIF", gif_bytes(frames, ms_per_frame=400, bounce=False),
                       file_name=f"{ckpt.variant}-training.gif", mime="image/gif", icon=":material/gif_box:")
with st.expander("All logged numbers"):
    st.dataframe(df)
