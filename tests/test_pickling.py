"""Whole models with rnnkit layers load with torch.load's default weights_only=True, and a
file naming rnnkit's pickling entry points still cannot run code of its choosing."""

from __future__ import annotations

import copy
import io
import os
import pickle

import pytest
import torch

import rnnkit
from rnnkit.core.gated_cell import builtin_cell, gated_mgu
from rnnkit.layers.pickling import rebuild_module


def round_trip(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf)  # weights_only=True is torch's default


LAYERS = {
    "RNN": lambda: rnnkit.RNN(3, 5, num_layers=2, nonlinearity="relu"),
    "LSTM": lambda: rnnkit.LSTM(3, 5, bidirectional=True, batch_first=True, proj_size=2),
    "GRU": lambda: rnnkit.GRU(3, 5, num_layers=2, dropout=0.1),
    "CustomRNN-mgu": lambda: rnnkit.CustomRNN(gated_mgu(), 3, 5, backend="reference"),
}
CELLS = {"RNNCell": lambda: rnnkit.RNNCell(3, 5), "LSTMCell": lambda: rnnkit.LSTMCell(3, 5),
         "GRUCell": lambda: rnnkit.GRUCell(3, 5)}


@pytest.mark.parametrize("name", list(LAYERS))
def test_whole_layer_round_trips_with_weights_only(name):
    layer = LAYERS[name]().eval()
    x = torch.randn(4, 2, 3)
    loaded = round_trip(layer)
    assert type(loaded) is type(layer)
    torch.testing.assert_close(loaded(x)[0], layer(x)[0])
    assert loaded.state_dict().keys() == layer.state_dict().keys()
    deep = copy.deepcopy(layer)  # deepcopy goes through the same reduce
    torch.testing.assert_close(deep(x)[0], layer(x)[0])


@pytest.mark.parametrize("name", list(CELLS))
def test_cells_round_trip(name):
    cell = CELLS[name]()
    x = torch.randn(2, 3)
    out, ref = round_trip(cell)(x), cell(x)
    torch.testing.assert_close(out[0] if isinstance(out, tuple) else out,
                               ref[0] if isinstance(ref, tuple) else ref)


class WordModel(torch.nn.Module):
    """A user's model around rnnkit layers, as in torch's word-level LM example."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(10, 4)
        self.rnn = rnnkit.LSTM(4, 6, 2)
        self.head = torch.nn.Linear(6, 10)

    def forward(self, x):
        return self.head(self.rnn(self.embed(x))[0])


def test_a_users_model_needs_only_its_own_classes_listed():
    model = WordModel().eval()
    x = torch.randint(0, 10, (5, 2))
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    with torch.serialization.safe_globals([WordModel, torch.nn.Embedding, torch.nn.Linear]):
        loaded = torch.load(buf)
    torch.testing.assert_close(loaded(x), model(x))


class Mine(rnnkit.GRU):
    """A user's subclass: not in rnnkit's table, so it pickles the ordinary way."""


def test_a_users_subclass_pickles_as_usual():
    layer = Mine(2, 3)
    buf = io.BytesIO()
    torch.save(layer, buf)
    buf.seek(0)
    assert type(torch.load(buf, weights_only=False)) is Mine


class CallsAnything:
    """What a malicious file does: call an allowed global with arguments it chose."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("payload", [
    CallsAnything(rebuild_module, "system", {}),                   # not an rnnkit module
    CallsAnything(rebuild_module, "LSTM", "not a dict"),
    CallsAnything(builtin_cell, "os.system"),                     # not a built-in cell
    CallsAnything(os.system, "echo pwned"),                       # never allowed
    CallsAnything(rnnkit.LSTM, 10**6, 10**6),                     # classes are not allowed
], ids=["unknown-name", "bad-state", "unknown-cell", "os.system", "class-call"])
def test_a_malicious_pickle_cannot_run_code(payload):
    buf = io.BytesIO()
    torch.save(payload, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(buf)


def test_rebuild_runs_no_init():
    # The most a file can do with rebuild_module: an rnnkit object holding its data.
    obj = rebuild_module("LSTM", {"note": "from a file"})
    assert type(obj) is rnnkit.LSTM and obj.__dict__["note"] == "from a file"
    assert "_parameters" not in obj.__dict__  # __init__ never ran
