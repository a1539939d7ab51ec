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
def _restore_torch_globals():
    """Training turns on flush-to-zero for speed; undo it so other tests see defaults."""
    threads = torch.get_num_threads()
    yield
    torch.set_flush_denormal(False)
    torch.set_num_threads(threads)
