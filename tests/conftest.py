"""Shared fixtures: every test starts from a fixed seed."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def torch_globals():
    """One thread: tiny models gain nothing from more, and on a busy 2-core machine extra
    OpenMP threads slow training tenfold. Training also turns on flush-to-zero. Both are
    restored so other tests see torch's defaults. Test modules that train opt in with
    ``pytestmark = pytest.mark.usefixtures("torch_globals")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_flush_denormal(False)
    torch.set_num_threads(threads)
