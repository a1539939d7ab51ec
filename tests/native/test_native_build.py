"""A failed build must warn once, make the backend refuse with the reason, and let auto fall
back to the engine: never crash. Provoked with a deliberately broken source file."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit import native


@pytest.fixture
def broken_build(tmp_path, monkeypatch):
    src = tmp_path / "broken.cpp"
    src.write_text("#error rnnkit test: a deliberately broken source\n")
    monkeypatch.setattr(native, "SOURCE", src)
    monkeypatch.setenv("RNNKIT_NATIVE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RNNKIT_DISABLE_NATIVE", raising=False)
    saved = (native._module, native._reason, native._tried)
    native._reset_for_tests()
    yield
    native._module, native._reason, native._tried = saved


def test_failed_build_warns_once_and_auto_falls_back(broken_build):
    with pytest.warns(native.NativeUnavailableWarning, match="falling back to the engine"):
        assert native.load() is None
    reason = native.unavailable_reason()  # no second warning: pytest turns warnings into errors
    assert "could not be built" in reason and "deliberately broken" in reason
    m = rnnkit.LSTM(3, 4, proj_size=2)
    m(torch.randn(5, 2, 3))
    assert m.last_backend == "engine"
    assert "native" in m.explain() and "could not be built" in m.explain()
    with pytest.raises(ValueError, match="backend 'native' cannot run this call"):
        rnnkit.GRU(3, 4, backend="native")(torch.randn(5, 2, 3))


def test_disabled_by_environment(monkeypatch):
    saved = (native._module, native._reason, native._tried)
    native._reset_for_tests()
    monkeypatch.setenv("RNNKIT_DISABLE_NATIVE", "1")
    try:
        assert native.load() is None
        assert "RNNKIT_DISABLE_NATIVE" in native.unavailable_reason()
    finally:
        native._module, native._reason, native._tried = saved
