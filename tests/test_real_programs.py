"""Drop-in for real programs (#18): what user code does with a recurrent layer besides calling
it — copies, dtype moves, state_dicts both ways, flatten_parameters, torch.compile,
torch.jit.trace, torch.func.functional_call, autocast, DDP, train/eval, names and repr — each
compared with torch.nn where torch.nn has an answer. Whole-model pickling: test_pickling.py."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.func import functional_call

import rnnkit
from helpers import CELLS, make_pair
from rnnkit.errors import ConfigError

pytestmark = pytest.mark.usefixtures("torch_globals")

SIZES = dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True)  # + proj_size=3
STEP_CELLS = {"RNNCell": nn.RNNCell, "LSTMCell": nn.LSTMCell, "GRUCell": nn.GRUCell}


def first(out):
    """The output tensor of a layer (out, state) or of a cell (h or (h, c))."""
    return out[0] if isinstance(out, tuple) else out


# ---- copies, dtypes, state_dicts, names, repr --------------------------------------------


@pytest.mark.parametrize("cell", list(CELLS))
def test_state_dict_loads_strictly_both_ways_and_names_match(cell):
    ours, theirs = make_pair(cell, **SIZES)
    ours.load_state_dict(theirs.state_dict(), strict=True)  # torch.nn -> rnnkit
    fresh = type(theirs)(**SIZES, **CELLS[cell][2])
    fresh.load_state_dict(ours.state_dict(), strict=True)  # rnnkit -> torch.nn
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [
        (n, p.shape) for n, p in theirs.named_parameters()
    ]
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(ours(x)[0], fresh(x)[0])


def test_state_dict_loads_into_a_model_on_another_backend():
    x = torch.randn(5, 2, 3)
    source = rnnkit.LSTM(3, 4, 2, bidirectional=True, proj_size=3, backend="native")
    want = source(x)[0]
    for backend in ("auto", "engine", "reference", "torch"):
        other = rnnkit.LSTM(3, 4, 2, bidirectional=True, proj_size=3, backend=backend)
        other.load_state_dict(source.state_dict(), strict=True)
        torch.testing.assert_close(other(x)[0], want, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN", *STEP_CELLS])
def test_deepcopy_is_an_independent_equal_module(name):
    m = getattr(rnnkit, name)(3, 4)
    x = torch.randn(2, 3) if name in STEP_CELLS else torch.randn(5, 2, 3)
    twin = copy.deepcopy(m)
    torch.testing.assert_close(first(twin(x)), first(m(x)), rtol=0, atol=0)
    with torch.no_grad():
        (twin.weight_ih if name in STEP_CELLS else twin.weight_ih_l0).add_(1)
    assert not torch.equal(first(twin(x)), first(m(x))), "the copy must not share weights"


@pytest.mark.parametrize("cell", ["lstm_proj", "gru", "rnn_tanh"])
def test_dtype_moves_follow_torch(cell):
    ours, theirs = make_pair(cell, **SIZES)
    x = torch.randn(5, 2, 3)
    for move in (lambda m: m.to(torch.float64), lambda m: m.double()):
        o, t = move(copy.deepcopy(ours)), move(copy.deepcopy(theirs))
        assert {p.dtype for p in o.parameters()} == {torch.float64}
        out, ref = o(x.double())[0], t(x.double())[0]
        assert out.dtype == torch.float64
        torch.testing.assert_close(out, ref, atol=1e-12, rtol=1e-12)
    # .half() and back: the weights are rounded to float16 and return as float32, as torch's.
    o, t = ours.half(), theirs.half()
    assert {p.dtype for p in o.parameters()} == {torch.float16}
    assert o(x.half())[0].dtype == torch.float16
    o, t = o.float(), t.float()
    assert {p.dtype for p in o.parameters()} == {torch.float32}
    for (k, a), (_, b) in zip(o.state_dict().items(), t.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    torch.testing.assert_close(o(x)[0], t(x)[0])


@pytest.mark.parametrize("name", list(STEP_CELLS))
def test_cells_move_dtypes_and_load_both_ways(name):
    ours, theirs = getattr(rnnkit, name)(3, 4), STEP_CELLS[name](3, 4)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    x = torch.randn(2, 3, dtype=torch.float64)
    out = first(ours.double()(x))
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, first(theirs.double()(x)))


def test_flatten_parameters_exists_and_changes_nothing():
    # torch.nn's layers compact their weights into one buffer for cuDNN; rnnkit keeps none, so
    # the call user code makes (after .to(), in DataParallel replicas) is a no-op.
    m = rnnkit.LSTM(3, 4, 2).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    before = [(n, p, p.data_ptr()) for n, p in m.named_parameters()]
    want = m(x)[0]
    assert m.flatten_parameters() is None
    assert [(n, p, p.data_ptr()) for n, p in m.named_parameters()] == before
    assert torch.equal(m(x)[0], want)
    assert nn.LSTM(3, 4).flatten_parameters() is None  # the same answer as torch's


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        dict(num_layers=2, dropout=0.5, bidirectional=True, batch_first=True),
        dict(bias=False, proj_size=2),
    ],
)
def test_repr_matches_torch(kwargs):
    for name in ("LSTM", "GRU", "RNN"):
        if "proj_size" in kwargs and name != "LSTM":
            continue
        assert repr(getattr(rnnkit, name)(3, 4, **kwargs)) == repr(
            getattr(nn, name)(3, 4, **kwargs)
        )


def test_cell_repr_matches_torch():
    for name, cls in STEP_CELLS.items():
        assert repr(getattr(rnnkit, name)(3, 4, bias=False)) == repr(cls(3, 4, bias=False))
    relu = dict(nonlinearity="relu")
    assert repr(rnnkit.RNNCell(3, 4, **relu)) == repr(nn.RNNCell(3, 4, **relu))


@pytest.mark.parametrize("backend", ["auto", "engine", "torch"])
def test_dropout_between_layers_follows_train_and_eval_like_torch(backend):
    x = torch.randn(5, 2, 3)
    # dropout=1 zeroes what layer 1 passes to layer 2 in training, so both libraries must then
    # give layer 2's response to zeros: a deterministic check that dropout is applied there.
    ours, theirs = make_pair("gru", backend=backend, input_size=3, hidden_size=4, num_layers=2,
                             dropout=1.0)  # fmt: skip
    torch.testing.assert_close(ours(x)[0], theirs(x)[0])
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x)[0], theirs(x)[0])
    ours.train(), theirs.train()
    ours.dropout = theirs.dropout = 0.5
    assert not torch.equal(ours(x)[0], ours(x)[0]), "train(): two passes draw different masks"
    ours.eval()
    assert torch.equal(ours(x)[0], ours(x)[0])


def test_parametrized_weights_work_like_torch():
    # weight_norm / spectral_norm / weight-drop replace a parameter by a computed attribute.
    ours, theirs = make_pair("lstm", input_size=3, hidden_size=4)
    for m in (ours, theirs):
        torch.nn.utils.parametrizations.weight_norm(m, "weight_hh_l0")
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(ours(x)[0], theirs(x)[0])
    ours(x)[0].sum().backward()
    assert ours.parametrizations.weight_hh_l0.original0.grad is not None


# ---- functional_call, autocast ---------------------------------------------------------------


@pytest.mark.parametrize("backend", ["auto", "engine", "torch"])
def test_functional_call_uses_the_given_tensors(backend):
    m = rnnkit.LSTM(3, 4, 2, backend=backend)
    x = torch.randn(5, 2, 3)
    params = {k: torch.randn_like(v, requires_grad=True) for k, v in m.named_parameters()}
    out = functional_call(m, params, (x,))[0]
    twin = rnnkit.LSTM(3, 4, 2, backend=backend)
    twin.load_state_dict(params)
    torch.testing.assert_close(out, twin(x)[0])
    assert not torch.allclose(out, m(x)[0]), "other parameters must give another output"
    out.pow(2).sum().backward()
    twin(x)[0].pow(2).sum().backward()
    for k, p in twin.named_parameters():
        torch.testing.assert_close(params[k].grad, p.grad, atol=1e-6, rtol=1e-5)
    assert all(p.grad is None for p in m.parameters())


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_autocast_runs_the_layer_in_bfloat16_like_torch(name):
    ours, theirs = getattr(rnnkit, name)(3, 4, 2), getattr(nn, name)(3, 4, 2)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(5, 2, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, state = ours(x)
        ref = theirs(x)[0]
    # torch.nn.LSTM and RNN run in bfloat16 under CPU autocast (and all three under CUDA
    # autocast); torch.nn.GRU stays float32 on the CPU, where torch's GRU has no autocast
    # entry. rnnkit runs all three in the autocast dtype.
    assert out.dtype == first(state).dtype == torch.bfloat16
    assert ref.dtype == (torch.float32 if name == "GRU" else torch.bfloat16)
    torch.testing.assert_close(out.float(), ref.float(), atol=2e-2, rtol=0)
    out.float().sum().backward()
    assert ours.weight_hh_l0.grad.dtype == torch.float32  # the parameters stay float32


def test_autocast_cells_give_torchs_dtypes_and_native_says_what_to_use():
    x = torch.randn(2, 3)
    for name, cls in STEP_CELLS.items():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert first(getattr(rnnkit, name)(3, 4)(x)).dtype == first(cls(3, 4)(x)).dtype, name
    m = rnnkit.GRU(3, 4, backend="native")  # float32/float64 kernels
    with (
        torch.autocast("cpu", dtype=torch.bfloat16),
        pytest.raises(
            ConfigError, match=r"not torch.bfloat16 \(torch.autocast cast .* backend='auto' takes"
        ),
    ):
        m(torch.randn(5, 2, 3))


# ---- torch.jit.trace, torch.compile ----------------------------------------------------------

# torch 2.13 deprecates torch.jit.trace, and its tracer warns about every Python-level shape
# check (torch.nn's own layers trigger the same TracerWarning): both are torch's warnings.
trace_warnings_ignored = pytest.mark.filterwarnings(
    "ignore:`torch.jit.trace.*` is deprecated:DeprecationWarning",
    "ignore::torch.jit.TracerWarning",
)


@trace_warnings_ignored
@pytest.mark.parametrize("backend", ["auto", "engine", "torch"])
def test_jit_trace_records_a_backend_made_of_torch_operators(backend):
    m = rnnkit.LSTM(3, 4, 2, backend=backend)
    # check_trace=False: torch's own check would have caught a frozen trace; a user who turns
    # it off must not get one either.
    traced = torch.jit.trace(m, (torch.randn(5, 2, 3),), check_trace=False)
    assert m.last_backend != "native"  # auto passed over the C++ kernels while tracing
    x = torch.randn(5, 2, 3)  # new values: a trace that froze its outputs would fail here
    torch.testing.assert_close(traced(x)[0], m(x)[0], atol=1e-6, rtol=1e-5)
    traced(x)[0].pow(2).sum().backward()
    grad = m.weight_hh_l0.grad.clone()
    m.zero_grad()
    m(x)[0].pow(2).sum().backward()
    torch.testing.assert_close(grad, m.weight_hh_l0.grad, atol=1e-6, rtol=1e-5)


@trace_warnings_ignored
def test_jit_trace_refuses_the_native_kernels_clearly():
    # A C++ extension is invisible to the tracer: the trace would replay the first outputs.
    m = rnnkit.GRU(3, 4, backend="native")
    with pytest.raises(ConfigError, match="torch.jit.trace cannot record the native kernels"):
        torch.jit.trace(m, (torch.randn(5, 2, 3),))


def test_torch_compile_in_a_fresh_process():
    """torch.compile's checks (tests/compile_checks.py) run in their own process: once
    torch.compile has run, Triton's CPU interpreter can no longer run the triton backend's
    kernels in the same process (it then reports "Cannot call @triton.jit'd outside of the
    scope of a kernel"), which would fail tests/test_triton_backend.py after this file."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("compile_checks.py")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(script)], capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


# ---- DistributedDataParallel -----------------------------------------------------------------


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = rnnkit.LSTM(3, 4, 2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.rnn(x)[0])


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")
def test_ddp_single_process_gives_the_unwrapped_models_gradients(tmp_path):
    dist.init_process_group(
        "gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1
    )
    try:
        model = Tagger()
        plain = copy.deepcopy(model)
        ddp = nn.parallel.DistributedDataParallel(model)
        x = torch.randn(2, 5, 3)
        before = model.rnn.weight_hh_l0.detach().clone()
        for m in (ddp, plain):  # one training step each
            opt = torch.optim.SGD(m.parameters(), lr=0.1)
            m(x).pow(2).mean().backward()
            opt.step()
        for (k, p), (_, q) in zip(model.named_parameters(), plain.named_parameters(), strict=True):
            torch.testing.assert_close(p.grad, q.grad, atol=1e-6, rtol=1e-5, msg=k)
            torch.testing.assert_close(p, q, msg=k)
        assert not torch.equal(model.rnn.weight_hh_l0, before), "the step must move the weights"
    finally:
        dist.destroy_process_group()
