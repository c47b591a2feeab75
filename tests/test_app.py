"""Every page through streamlit's AppTest: renders for every shipped checkpoint, widgets do their job."""

import io
import os
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from ganzoo import create_model, save

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["app.py"] + sorted(f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py"))
SHIPPED = sorted(p.name for p in (ROOT / "checkpoints").glob("*.safetensors"))
AppTest = pytest.importorskip("streamlit.testing.v1").AppTest


def app(page: str, model: str | None = None):
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    if model:
        at.session_state["ganzoo_selected"] = f"shipped:{model}"
    return at


def assert_clean(at):
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(page):
    at = app(page).run()
    assert_clean(at)


@pytest.mark.parametrize("model", SHIPPED)
@pytest.mark.parametrize("page", [p for p in PAGES if "Upload" not in p and "Hub" not in p and p != "app.py"])
def test_pages_render_for_every_shipped_checkpoint(page, model):
    at = app(page, model).run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    if "Generate" in page or "Latent" in page:
        assert at.image, "no image shown"


def test_selection_survives_between_pages():
    assert len(SHIPPED) >= 2
    at = app("app.py").run()
    at.switch_page("pages/1_Generate.py").run()
    at.selectbox(key="_picker").set_value(f"shipped:{SHIPPED[1]}").run()
    assert at.session_state["ganzoo_selected"] == f"shipped:{SHIPPED[1]}"
    at.switch_page("pages/3_Interpolate.py").run()
    assert at.selectbox(key="_picker").value == f"shipped:{SHIPPED[1]}"


def test_generate_labels_every_sample_and_new_seed_changes_images():
    at = app("pages/1_Generate.py", "dcgan.safetensors").run()
    images = [i for i in at.image if i.captions and i.captions[0]]
    assert len(images) == 16
    assert all("%" in i.captions[0] for i in images)  # "7 · 98%"
    before = [i.value for i in at.image]
    at.button[0].click().run()  # New seed
    assert [i.value for i in at.image] != before


def test_moving_a_slider_changes_the_image():
    at = app("pages/2_Latent_sliders.py", "dcgan.safetensors").run()
    before = at.image[0].value
    slider = next(s for s in at.slider if s.label == "z[0]")
    slider.set_value(3.5).run()
    assert_clean(at)
    assert at.image[0].value != before
    pc = next(s for s in at.slider if s.label.startswith("PC1"))
    after_dim = at.image[0].value
    pc.set_value(3.0).run()
    assert at.image[0].value != after_dim


def test_interpolation_gives_the_requested_number_of_frames():
    at = app("pages/3_Interpolate.py", "dcgan.safetensors").run()
    at.text_area[0].set_value("1, 2\n3, 4, 5").run()
    at.number_input[0].set_value(7).run()
    assert_clean(at)
    texts = [m.value for m in at.markdown if "frames" in m.value]
    assert any("1 → 2" in t and "7 frames" in t for t in texts), texts
    assert any("3 → 4 → 5" in t and "13 frames" in t for t in texts), texts
    labels = [c.value for c in at.caption if c.value.startswith("classifier:")]
    assert len(labels[0].split(" · ")) == 7


class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {Path(os.environ.get('TMPDIR', '/tmp')) / 'ganzoo_pwned_app'}",))


def _upload(data: bytes, name: str):
    at = app("pages/6_Upload.py").run()
    at.file_uploader[0].upload(name, data).run()
    return at


def test_upload_outcomes(tmp_path):
    G, D = create_model("dcgan", z_dim=12, width=8)
    good = save(tmp_path / "mine.safetensors", G, D=D, meta={"dataset": "mnist"}).read_bytes()
    at = _upload(good, "mine.safetensors")
    assert_clean(at)
    assert at.success and "mine.safetensors" in at.success[0].value
    assert at.session_state["ganzoo_selected"].startswith("upload:")
    assert any("uploaded · mine.safetensors" in o for o in at.selectbox(key="_picker").options)

    at = _upload(good[: len(good) // 2], "cut.safetensors")
    assert at.error and "truncated" in at.error[0].value

    marker = Path(os.environ.get("TMPDIR", "/tmp")) / "ganzoo_pwned_app"
    marker.unlink(missing_ok=True)
    buf = io.BytesIO()
    torch.save({"x": Evil()}, buf)
    at = _upload(buf.getvalue(), "evil.pt")
    assert at.error and "refused" in at.error[0].value
    at = _upload(pickle.dumps(Evil(), protocol=2), "evil2.pth")
    assert at.error
    assert not marker.exists()

    buf = io.BytesIO()
    torch.save(nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 26 * 26, 10)).state_dict(), buf)
    at = _upload(buf.getvalue(), "classifier.pth")
    assert at.error and "unrecognised" in at.error[0].value


def test_hub_page_offline_message():
    at = app("pages/7_Hub.py").run()
    at.text_input[0].set_value("nobody/nothing-here")
    at.button[0].click().run()
    assert_clean(at)
    assert at.error and ("offline" in at.error[0].value or "cache" in at.error[0].value)


def test_hostile_query_parameters_are_clamped():
    at = AppTest.from_file(str(ROOT / "pages/1_Generate.py"), default_timeout=120)
    at.query_params["seed"] = "-99999999999999999999"
    at.query_params["n"] = "NaN"
    at.run()
    assert_clean(at)
    assert at.number_input[0].value == 0


def test_an_upload_is_visible_only_to_its_own_session(tmp_path):
    G, D = create_model("dcgan", z_dim=12, width=8)
    data = save(tmp_path / "private.safetensors", G, D=D).read_bytes()
    mine = _upload(data, "private.safetensors")
    assert any("private.safetensors" in o for o in mine.selectbox(key="_picker").options)
    other = app("pages/1_Generate.py").run()  # a second browser session
    assert not any("private" in str(o) for o in other.selectbox(key="_picker").options)
    assert not any(k.startswith("upload:") for k in other.session_state["ganzoo_selected"].split())
    other.session_state["ganzoo_selected"] = mine.session_state["ganzoo_selected"]  # guessing the key
    other.run()
    assert_clean(other)
    assert other.selectbox(key="_picker").value.startswith("shipped:")


def test_training_page_offers_downloads():
    at = app("pages/5_Training.py", "dcgan.safetensors").run()
    assert_clean(at)
    labels = [b.label for b in at.get("download_button")]
    assert any("GIF" in label for label in labels) and any("grid" in label for label in labels)
    bars = [e for e in at.expander if e.label.startswith("Quality bars")]
    assert bars and any("classifier-FID <= 15x the floor" in md.value for md in bars[0].markdown)
