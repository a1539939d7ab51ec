"""Fixtures for toolkit tests: tiny generated text, and torch globals restored after
each test. Everything is sized so the folder runs in a couple of minutes on 2 CPU cores."""

from __future__ import annotations

from pathlib import Path

import pytest
from tk_helpers import make_text


@pytest.fixture(scope="session")
def text_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "verse.txt"
    path.write_text(make_text(), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _torch_globals(torch_globals):
    """Every toolkit test trains: one thread, torch's globals restored (tests/conftest.py)."""
    yield
