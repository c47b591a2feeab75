import streamlit as st

from ganzoo import ui
from ganzoo.checkpoint import CheckpointError
from ganzoo.explore import grid_png_array, samples

ui.page_header("Upload", ":material/upload:",
               "Bring your own checkpoint: a ganzoo .safetensors file, or a .pt/.pth state_dict "
               "(pytorch/examples DCGAN generators are recognised). Nothing in a file is ever executed.")
limit_mb = st.get_option("server.maxUploadSize")
st.caption(f"Size limit: {limit_mb} MB. Pickled Python objects other than tensors are refused.")
f = st.file_uploader("Checkpoint file", type=["safetensors", "pt", "pth"])
if f is not None:
    data = f.getvalue()
    try:
        if len(data) > limit_mb * 2**20:
            raise CheckpointError(f"the file is {len(data) / 2**20:.1f} MB, over the {limit_mb} MB limit")
        key = ui.add_upload(f.name, data)
        ckpt = ui.get(key)
    except CheckpointError as e:
        st.error(f"**Not loaded.** {e}", icon=":material/block:")
    except Exception as e:  # anything else is still one sentence, never a traceback
        st.error(f"**Not loaded.** The file could not be read ({e.__class__.__name__}).", icon=":material/block:")
    else:
        st.success(f"Loaded **{f.name}**: it is now selected in the sidebar.", icon=":material/check_circle:")
        pc = ckpt.param_counts()
        st.markdown(
            f"- architecture `{ckpt.cfg.arch}` ({ckpt.variant}), dataset {ckpt.dataset}\n"
            f"- images {ckpt.cfg.img_channels}×{ckpt.cfg.img_size}×{ckpt.cfg.img_size}, z_dim {ckpt.cfg.z_dim}, "
            f"width {ckpt.cfg.width}\n"
            f"- parameters: G {pc['G']:,}" + (f", D {pc['D']:,}" if pc.get("D") else "")
            + (f"\n- imported from: {ckpt.meta['imported']}" if ckpt.meta.get("imported") else "")
        )
        ui.image(grid_png_array(samples(ckpt.G, 0, 16), 8, ckpt.cfg.img_size))
ui.sidebar()
