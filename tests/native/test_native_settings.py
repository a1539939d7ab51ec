"""The kernels' RNNKIT_NATIVE_* switches (settings.h): read once, re-read by
reload_settings() in the built-in and the custom-cell extensions, invalid numbers refused
by name; every switch's path still matches torch.nn. And the build key covers every header."""

from __future__ import annotations

import os
import re

import pytest
import torch

import rnnkit
from helpers import make_pair
from rnnkit import native
from rnnkit.native import codegen

pytestmark = pytest.mark.skipif(
    native.unavailable_reason() is not None, reason=f"{native.unavailable_reason()}"
)

DEFAULTS = {
    "no_pack": False,
    "mkl_pack": False,
    "pack_min_steps": 8,
    "small_mm_max_b": 8,
    "panel_threaded_macs": 1 << 17,
    "no_fuse": False,
    "no_batch_split": False,
    "no_wgrad_swap": False,
}
VARIABLES = {f"RNNKIT_NATIVE_{field.upper()}": field for field in DEFAULTS}


@pytest.fixture
def environ():
    """Sets switches in os.environ; afterwards restores them and reloads the settings (not
    monkeypatch: its undo would run after this fixture's reload)."""
    saved = {name: os.environ.get(name) for name in VARIABLES}
    for name in VARIABLES:
        os.environ.pop(name, None)
    native.reload_settings()
    yield os.environ
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    native.reload_settings()


def test_the_table_names_every_switch(environ):
    assert native.settings() == DEFAULTS


def test_switches_are_read_once_and_reloaded(environ):
    environ["RNNKIT_NATIVE_PACK_MIN_STEPS"] = "3"
    environ["RNNKIT_NATIVE_NO_FUSE"] = "0"  # a flag is set by existing, whatever its value
    assert native.settings() == DEFAULTS  # not re-read per call any more
    new = native.reload_settings()
    assert new == native.settings() == {**DEFAULTS, "pack_min_steps": 3, "no_fuse": True}
    del environ["RNNKIT_NATIVE_PACK_MIN_STEPS"], environ["RNNKIT_NATIVE_NO_FUSE"]
    assert native.reload_settings() == DEFAULTS


@pytest.mark.parametrize("value", ["abc", "", "-1", "12x", "1e5"])
def test_an_invalid_number_is_refused_by_name(environ, value):
    environ["RNNKIT_NATIVE_SMALL_MM_MAX_B"] = "4"
    native.reload_settings()
    environ["RNNKIT_NATIVE_SMALL_MM_MAX_B"] = value
    with pytest.raises(RuntimeError, match=f"RNNKIT_NATIVE_SMALL_MM_MAX_B='{value}'"):
        native.reload_settings()
    assert native.settings()["small_mm_max_b"] == 4  # the settings in force are kept


def test_the_switch_changes_what_the_kernel_runs(environ):
    """batched_mm runs the panel kernel (panel builds) unless RNNKIT_NATIVE_MKL_PACK is set,
    and then it is ATen's mm, bit for bit. A sum longer than the panel kernel's 512-long
    k-blocks, whose partial sums it adds, rounds differently from MKL."""
    ext = native.load()
    a, b = torch.randn(300, 1100), torch.randn(1100, 64)
    environ["RNNKIT_NATIVE_MKL_PACK"] = "1"
    if ext.panel_kernel:
        assert not torch.equal(ext.matmul(a, b, None), a @ b)  # not re-read yet: panels
    native.reload_settings()
    assert torch.equal(ext.matmul(a, b, None), a @ b)


def mgu_step(x, h, state):
    """test_custom_cells.py's minimal gated unit: the same source, so the same build."""
    f = torch.sigmoid(x.f + h.f)
    n = (x.n + f * h.n).tanh()
    return {"h": (1 - f) * state.h + f * n}


CELL = rnnkit.GatedCell("mgu", ("f", "n"), mgu_step)


def test_reload_reaches_custom_cell_modules(environ):
    rnnkit.CustomRNN(CELL, 3, 8)(torch.randn(2, 1, 3))  # builds and loads the cell's module
    module = codegen.load_cell(CELL)
    assert module is not None and dict(module.settings()) == DEFAULTS
    environ["RNNKIT_NATIVE_PANEL_THREADED_MACS"] = "1024"
    native.reload_settings()
    assert dict(module.settings())["panel_threaded_macs"] == 1024


@pytest.mark.parametrize(
    "switch",
    [
        "RNNKIT_NATIVE_NO_PACK=1",
        "RNNKIT_NATIVE_MKL_PACK=1",  # on panel builds: MKL's packing and the AVX2 micro-kernel
        "RNNKIT_NATIVE_PACK_MIN_STEPS=100",
        "RNNKIT_NATIVE_SMALL_MM_MAX_B=0",
        "RNNKIT_NATIVE_PANEL_THREADED_MACS=0",
        "RNNKIT_NATIVE_NO_FUSE=1",
        "RNNKIT_NATIVE_NO_BATCH_SPLIT=1",
    ],
)
@pytest.mark.parametrize(("cell", "B", "H"), [("lstm", 2, 40), ("lstm", 16, 64), ("gru", 6, 64)])
def test_every_switch_still_matches_torch_nn(environ, switch, cell, B, H):
    name, _, value = switch.partition("=")
    environ[name] = value
    native.reload_settings()
    ours, theirs = make_pair(cell, backend="native", input_size=12, hidden_size=H)
    x = torch.randn(9, B, 12)
    with torch.no_grad():  # inference (the fused LSTM step at B >= 16)
        torch.testing.assert_close(ours(x)[0], theirs(x)[0], atol=1e-5, rtol=1e-5)
    grads = []
    for m in (ours, theirs):
        xi = x.clone().requires_grad_()
        m(xi)[0].pow(2).sum().backward()
        grads.append([xi.grad, *(p.grad for p in m.parameters())])
    for u, v in zip(*grads, strict=True):
        torch.testing.assert_close(u, v, atol=1e-4, rtol=1e-4)
    assert ours.last_backend == "native"


def test_build_key_covers_every_header(tmp_path, monkeypatch):
    """Every header the sources include is hashed into the build key, so editing any of
    them rebuilds (the built-in kernels and the custom cells alike)."""
    here = native.HERE
    sources = [native.SOURCE, *here.glob("*.h")]
    included = {m for p in sources for m in re.findall(r'#include "([^"]+)"', p.read_text())}
    included |= set(re.findall(r'#include "([^"]+)"', codegen.cell_source(CELL)))
    assert included <= {p.name for p in native.HEADERS}
    assert {p.name for p in native.HEADERS} == {p.name for p in here.glob("*.h")}
    copies = []
    for p in native.HEADERS:
        copies.append(tmp_path / p.name)
        copies[-1].write_bytes(p.read_bytes())
    monkeypatch.setattr(native, "HEADERS", tuple(copies))
    key = native.build_key()
    assert key == native.build_key()
    copies[0].write_bytes(copies[0].read_bytes() + b"\n// edited\n")
    assert native.build_key() != key
