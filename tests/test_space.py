"""The Hugging Face Space: front matter, Dockerfile and Streamlit config hold what a Docker Space needs."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def front_matter() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n"), "README must start with the Space's YAML front matter"
    block = text.split("---\n", 2)[1]
    out = {}
    for line in block.strip().splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


def test_front_matter_has_the_space_keys():
    fm = front_matter()
    for key in ("title", "emoji", "colorFrom", "colorTo", "sdk", "app_port", "pinned", "license",
                "short_description", "tags"):
        assert fm.get(key), key
    assert fm["sdk"] == "docker" and fm["app_port"] == "8501"
    assert "streamlit" in fm["tags"] and "gan" in fm["tags"]
    assert len(fm["short_description"]) <= 60


def test_dockerfile_builds_the_app_as_a_space_wants():
    d = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", d, re.M)
    assert "useradd -m -u 1000" in d and re.search(r"^USER user", d, re.M)
    assert "download.pytorch.org/whl/cpu" in d and "-r requirements.txt" in d
    assert "EXPOSE 8501" in d and "/_stcore/health" in d and "HEALTHCHECK" in d
    cmd = re.search(r"^CMD (.*)$", d, re.M).group(1)
    assert '"streamlit", "run", "app.py", "--server.port", "8501", "--server.address", "0.0.0.0"' in cmd


def test_streamlit_config_caps_uploads_and_allows_the_iframe():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert 0 < cfg["server"]["maxUploadSize"] <= 200
    assert cfg["server"]["enableXsrfProtection"] is False


def test_requirements_install_from_pypi_alone():
    reqs = (ROOT / "requirements.txt").read_text()
    assert "--index-url" not in reqs and "--extra-index-url" not in reqs
    assert re.search(r"^torch>=2\.6", reqs, re.M) and re.search(r"^torchvision>=0\.21", reqs, re.M)


def test_shipped_checkpoints_fit_without_lfs():
    for p in (ROOT / "checkpoints").rglob("*.safetensors"):
        assert p.stat().st_size < 10 * 2**20, p
