import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture
def mnist_dir() -> Path:
    return FIXTURES / "mnist"
