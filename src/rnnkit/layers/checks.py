"""Checks at the API boundary: each raises an error that names what is wrong."""

from __future__ import annotations

import numbers

import torch
from torch import Tensor

from rnnkit.backends.base import capture


def check_positive_int(value, name: str, owner: str) -> int:
    """``value`` as an int > 0, else TypeError (not an int) or ValueError (not positive)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{owner}: {name} must be greater than zero, got {value}")
    return int(value)


def check_input_tensor(x, name: str, owner: str, like: Tensor) -> None:
    """``x`` must be a floating-point tensor with the dtype and device of ``like``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{owner}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{owner}: {name} must be a floating-point tensor, got dtype {x.dtype}; "
            f"convert it with {name}.to({like.dtype})"
        )
    if x.dtype != like.dtype:
        raise ValueError(
            f"{owner}: {name} dtype ({x.dtype}) does not match the weight dtype ({like.dtype}); "
            f"convert the input with .to({like.dtype}) or the model with .to({x.dtype})"
        )
    if x.device != like.device:
        raise ValueError(f"{owner}: {name} is on {x.device} but the weights are on {like.device}")


def check_shape(x: Tensor, expected: tuple[int, ...], name: str, owner: str) -> None:
    """``x`` must have exactly the shape ``expected``."""
    if tuple(x.shape) != tuple(expected):
        raise ValueError(
            f"{owner}: expected {name} of shape {tuple(expected)}, got {tuple(x.shape)}"
        )


def check_lengths(lengths, batch: int, steps: int, owner: str) -> Tensor | None:
    """Sequence lengths as a CPU int64 tensor (B,), or None when every sequence is full
    (values are checked in eager mode only: a graph capture keeps them as they come)."""
    if not isinstance(lengths, Tensor):  # (as_tensor on a tensor is a constant in a trace)
        lengths = torch.as_tensor(lengths)
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise TypeError(f"{owner}: lengths must be integers, got dtype {lengths.dtype}")
    if lengths.dim() != 1 or lengths.numel() != batch:
        raise ValueError(
            f"{owner}: lengths must have one entry per sequence, shape ({batch},), "
            f"got shape {tuple(lengths.shape)}"
        )
    lengths = lengths.to("cpu", torch.int64)
    if capture() is not None:
        # A graph capture cannot read values (a trace would freeze this example's answers,
        # torch.export refuses): the lengths stay an input of the graph, whatever they are.
        return lengths
    if batch and int(lengths.min()) < 0:
        raise ValueError(f"{owner}: lengths must be >= 0, got {lengths.tolist()}")
    if batch and int(lengths.max()) > steps:
        raise ValueError(
            f"{owner}: a length ({int(lengths.max())}) exceeds the sequence length of the "
            f"input ({steps} steps)"
        )
    if bool((lengths == steps).all()):
        return None  # nothing is padded: skip masking altogether
    return lengths
