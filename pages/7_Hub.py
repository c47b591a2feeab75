import streamlit as st

from ganzoo import ui
from ganzoo.checkpoint import CheckpointError
from ganzoo.hub import HubError, download

ui.page_header("Hub", ":material/cloud_download:", "Load a ganzoo checkpoint from the Hugging Face Hub.")
with st.form("hub"):
    repo = st.text_input("Repository id", placeholder="user/ganzoo-dcgan-mnist")
    filename = st.text_input("File name", value="dcgan.safetensors")
    revision = st.text_input("Revision (optional)", placeholder="main, a tag or a commit hash")
    go = st.form_submit_button("Load", icon=":material/cloud_download:")
if go:
    try:
        with st.spinner("Downloading..."):
            path = download(repo.strip(), filename.strip(), revision.strip() or None)
        key = ui.add_hub(repo.strip(), filename.strip(), revision.strip() or None, path)
    except (HubError, CheckpointError) as e:
        st.error(str(e), icon=":material/cloud_off:")
    else:
        st.success(f"Loaded {repo}/{filename}: it is now selected in the sidebar.")
ui.sidebar()
st.caption("Downloads are cached in the usual Hugging Face cache and get the same safety checks as uploads.")
