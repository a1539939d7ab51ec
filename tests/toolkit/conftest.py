"""Fixtures for toolkit tests: tiny generated text, and torch globals restored after
each test. Everything is sized so the folder runs in a couple of minutes on 2 CPU cores."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tk_helpers import make_text


@pytest.fixture(scope="session")
def text_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "verse.txt"
    path.write_text(make_text(), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _torch_globals():
    """One thread: tiny models gain nothing from more, and on a busy 2-core machine extra
    OpenMP threads slow training tenfold. Training also turns on flush-to-zero. Both are
    restored so other tests see torch's defaults."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_flush_denormal(False)
    torch.set_num_threads(threads)
