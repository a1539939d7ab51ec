"""torch.compile with rnnkit layers: the kernels run behind an explained graph break,
engine and reference trace into one graph. Run by tests/test_real_programs.py in a process
of its own (see there why); by hand: ``python -m pytest tests/compile_checks.py``."""

from __future__ import annotations

import pytest
import torch

import rnnkit

pytestmark = pytest.mark.usefixtures("torch_globals")


@pytest.fixture
def fresh_dynamo():
    torch._dynamo.reset()  # every test compiles RNNBase.forward anew (recompile limits)
    yield
    torch._dynamo.reset()


# Warnings raised inside torch, not by rnnkit: importing inductor defines a ScriptModule,
# dynamo instantiates torch.autograd.Function to trace one, and dynamo reads .grad of the
# tensors a graph break hands over (it hides that warning itself, which "error" bypasses).
compile_warnings_ignored = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning",
    "ignore:.*autograd.function.Function'> should not be instantiated:DeprecationWarning",
    "ignore:The .grad attribute of a Tensor that is not a leaf Tensor:UserWarning",
)


@compile_warnings_ignored
@pytest.mark.filterwarnings("ignore:Dynamo does not know how to trace:UserWarning")
@pytest.mark.filterwarnings("ignore::UserWarning:torch._dynamo")
@pytest.mark.usefixtures("fresh_dynamo")
def test_torch_compile_runs_the_native_kernels_between_graphs():
    # Dynamo cannot trace the C++ extension: it breaks the graph there (with warnings) and
    # runs the kernels eagerly; outputs and gradients equal eager mode's.
    m = rnnkit.LSTM(3, 4, 2, backend="auto")
    x = torch.randn(5, 2, 3)
    eager = m(x)[0]
    out = torch.compile(m)(x)[0]
    assert m.last_backend == "native"
    torch.testing.assert_close(out, eager)
    out.pow(2).sum().backward()
    grad = m.weight_ih_l0.grad.clone()
    m.zero_grad()
    m(x)[0].pow(2).sum().backward()
    torch.testing.assert_close(grad, m.weight_ih_l0.grad)
    assert "torch.compile: rnnkit's native kernels are a C++ extension" in m.explain(x)


@compile_warnings_ignored
@pytest.mark.usefixtures("fresh_dynamo")
@pytest.mark.parametrize("backend", ["engine", "reference"])
def test_torch_compile_traces_engine_and_reference_into_one_graph(backend):
    # aot_eager: dynamo and AOT autograd as inductor sees them, without inductor's C++ build
    # (20 s for this layer on two busy cores).
    m = rnnkit.LSTM(3, 4, 2, proj_size=2, backend=backend)
    x = torch.randn(5, 2, 3)
    out = torch.compile(m, backend="aot_eager", fullgraph=True)(x)[0]
    torch.testing.assert_close(out, m(x)[0])
    out.pow(2).sum().backward()
    assert m.weight_hr_l1.grad is not None


