import os
import sys
import tempfile
from pathlib import Path

# Offline, with a private Hub cache: set before huggingface_hub is first imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_CACHE"] = tempfile.mkdtemp(prefix="ganzoo-hf-cache-")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture
def mnist_dir() -> Path:
    return FIXTURES / "mnist"
