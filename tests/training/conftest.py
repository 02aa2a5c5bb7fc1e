"""What the training tests share: training sets torch's thread count (``--threads``), which is
process-wide, so each module gives it back to what it was."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module", autouse=True)
def _restore_threads():
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
