import streamlit as st

from ganzoo import ui
from ganzoo.explore import frames_to_arrays, label_images, parse_seed_rows, walk
from ganzoo.images import gif_bytes, grid, png_bytes, upscale

ui.page_header("Interpolate", ":material/timeline:",
               "Walk between seeds: where does a 7 become a 9? One row per line of seeds.")
key, ckpt = ui.sidebar()
if ckpt is None:
    st.stop()
G = ckpt.G
c = st.columns([3, 1, 1, 1])
text = c[0].text_area("Seeds, one walk per line", "1, 2\n3, 4, 5\n10, 11", height=110,
                      help="Two or more integer seeds per line (at most 6 lines and 8 seeds a line).")
steps = c[1].number_input("Steps per segment", 2, 60, 10)
method = c[2].radio("Path", ["linear", "spherical"], help="spherical (slerp) keeps latents at a typical length")
space = c[3].radio("Space", ["w", "z"] if G.has_mapping else ["z"])
rows = parse_seed_rows(text)
if not rows:
    st.warning("Write at least two seeds on a line, like `3, 7`.")
    st.stop()
clf = ui.model_for(ckpt)
for r, seeds in enumerate(rows):
    frames = walk(G, seeds, int(steps), method, space)
    lab = label_images(frames, clf)
    st.markdown(f"**{' → '.join(map(str, seeds))}** · {len(frames)} frames")
    strip = grid(frames, nrow=len(frames), pad=1)
    ui.image(upscale(strip, max(1, 64 // ckpt.cfg.img_size)), width="stretch" if len(frames) > 12 else "content")
    if clf is not None:
        st.caption("classifier: " + " · ".join(f"{lbl}" for lbl in lab.labels))
    d = st.columns([1, 1, 6])
    d[1].download_button("PNG", png_bytes(strip), file_name=f"walk-{'-'.join(map(str, seeds))}.png",
                         mime="image/png", icon=":material/download:", key=f"png{r}")
    d[0].download_button("GIF", gif_bytes(frames_to_arrays(frames, ckpt.cfg.img_size)),
                         file_name=f"walk-{'-'.join(map(str, seeds))}.gif", mime="image/gif",
                         icon=":material/gif_box:", key=f"gif{r}")
