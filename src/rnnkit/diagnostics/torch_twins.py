"""Diagnose models built from torch.nn's RNN/LSTM/GRU by swapping in rnnkit twins.

torch.nn's fused kernels expose neither per-step gradients nor gate activations. A twin is an
rnnkit layer with the same configuration that shares the very same Parameter objects, so a
forward/backward through it computes exactly what torch.nn would (the parity tests guarantee
this) while the engine records the inside of the recurrence. Gradients land on the original
parameters. Supported: torch.nn.RNN, LSTM (with projection) and GRU anywhere in a model.
Not supported: recurrences a user writes by hand around torch.nn.*Cell (there is no layer to
swap); such loops can call ``rnnkit.*Cell`` and read the states directly instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

from rnnkit.layers.rnn import GRU, LSTM, RNN, RNNBase


def make_twin(module: nn.RNNBase) -> RNNBase:
    """An rnnkit layer configured like ``module`` whose parameters are ``module``'s own."""
    common = dict(
        input_size=module.input_size,
        hidden_size=module.hidden_size,
        num_layers=module.num_layers,
        bias=module.bias,
        batch_first=module.batch_first,
        dropout=module.dropout,
        bidirectional=module.bidirectional,
        device="meta",  # placeholders only: replaced by the shared parameters below
        backend="engine",
    )
    if isinstance(module, nn.LSTM):
        twin = LSTM(proj_size=module.proj_size, **common)
    elif isinstance(module, nn.GRU):
        twin = GRU(**common)
    else:
        twin = RNN(nonlinearity=module.nonlinearity, **common)
    for name in list(twin._parameters):
        twin._parameters[name] = module._parameters[name]
    twin.train(module.training)
    return twin


@contextmanager
def rnnkit_twins(model: nn.Module) -> Iterator[dict[str, RNNBase]]:
    """Within the block, every torch.nn RNN/LSTM/GRU in ``model`` (or ``model`` itself) runs
    through its twin. Yields {module name: twin}.

    The torch.nn layer keeps its identity (so closures and parent modules that hold it still
    work): only its ``forward`` is redirected, on the instance, until the block ends.
    """
    twins = {}
    for name, module in model.named_modules():
        if type(module) in (nn.RNN, nn.LSTM, nn.GRU):
            twin = make_twin(module)
            module.forward = twin.forward  # instance attribute shadows the class method
            twins[name] = (module, twin)
    try:
        yield {name: twin for name, (_, twin) in twins.items()}
    finally:
        for module, _ in twins.values():
            del module.forward
