"""Builders shared by the tests: matching rnnkit/torch.nn pairs and random inputs for the
layer tests, the one-line DataError check, and gettext .mo catalogues for the game readers."""

from __future__ import annotations

import torch
from torch import nn

import rnnkit

CELLS = {
    "rnn_tanh": (rnnkit.RNN, nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (rnnkit.RNN, nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (rnnkit.LSTM, nn.LSTM, {}),
    "lstm_proj": (rnnkit.LSTM, nn.LSTM, {"proj_size": 3}),
    "gru": (rnnkit.GRU, nn.GRU, {}),
}


def make_pair(cell, *, backend="auto", dtype=torch.float32, **kwargs):
    """A torch.nn module and an rnnkit module with identical weights."""
    ours_cls, theirs_cls, extra = CELLS[cell]
    kwargs = {**extra, **kwargs}
    theirs = theirs_cls(dtype=dtype, **kwargs)
    ours = ours_cls(dtype=dtype, backend=backend, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def initial_state(module, batch, dtype=torch.float32, requires_grad=True):
    """Random (h0,) or (h0, c0) for ``module`` with leaf tensors that collect gradients."""
    LD = module.num_layers * (2 if module.bidirectional else 1)
    proj = getattr(module, "proj_size", 0)
    h0 = torch.randn(
        LD, batch, proj or module.hidden_size, dtype=dtype, requires_grad=requires_grad
    )
    if isinstance(module, nn.LSTM | rnnkit.LSTM):
        c0 = torch.randn(LD, batch, module.hidden_size, dtype=dtype, requires_grad=requires_grad)
        return (h0, c0)
    return (h0,)


def assert_grad_norms_match(cell, backend, reference="engine"):
    """||dL/dh_t|| per step, layer and direction (the diagnostics hook) from ``backend`` equal
    those of ``reference``, on a 2-layer bidirectional stack with unequal lengths."""
    results = []
    for name in (backend, reference):
        torch.manual_seed(0)
        m, _ = make_pair(cell, backend=name, input_size=3, hidden_size=5, num_layers=2,
                         bidirectional=True)  # fmt: skip
        x = torch.randn(6, 4, 3)
        with rnnkit.diagnostics.record_hidden_grads(m) as rec:
            m(x, lengths=[6, 2, 5, 1])[0].pow(2).sum().backward()
        assert m.last_backend == name
        results.append(dict(rec.norms))
    assert results[0].keys() == results[1].keys()
    for k in results[0]:
        torch.testing.assert_close(results[0][k], results[1][k], atol=1e-5, rtol=1e-5)


def data_error_message(call, *args, **kwargs) -> str:
    """The message of the DataError ``call(*args, **kwargs)`` raises; it must be one line."""
    import pytest

    from rnnkit.errors import DataError

    with pytest.raises(DataError) as info:
        call(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


MO_MAGIC = 0x950412DE
MO_HEADER = ("Project-Id-Version: test 1.0\nMIME-Version: 1.0\n"
             "Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: 8bit\n"
             "Plural-Forms: nplurals=2; plural=(n != 1);\n")


def mo_bytes(entries, *, charset="UTF-8", order="little", header=True) -> bytes:
    """A GNU .mo catalogue holding ``entries``: msgid -> msgstr, where a msgid may carry a
    context (``"ctx\\x04msgid"``) and a plural entry is ``(msgid, msgid_plural) ->
    (form0, form1)``; the header entry (msgid "") is added unless header is False."""
    pairs = []
    if header:
        pairs.append((b"", MO_HEADER.format(charset=charset).encode("ascii")))
    for key, value in entries.items():
        key = "\x00".join(key) if isinstance(key, tuple) else key
        value = "\x00".join(value) if isinstance(value, tuple) else value
        pairs.append((key.encode(charset), value.encode(charset)))
    pairs.sort()  # msgfmt sorts by msgid, so the header comes first
    n = len(pairs)
    ids_at = 28
    strs_at = ids_at + 8 * n
    at = strs_at + 8 * n
    tables = [b"", b""]
    blob = b""
    for side in (0, 1):
        for pair in pairs:
            s = pair[side]
            tables[side] += len(s).to_bytes(4, order) + (at + len(blob)).to_bytes(4, order)
            blob += s + b"\x00"
    head = b"".join(v.to_bytes(4, order) for v in (MO_MAGIC, 0, n, ids_at, strs_at, 0, 0))
    return head + tables[0] + tables[1] + blob
