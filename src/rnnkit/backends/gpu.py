"""The triton backend: rnnkit's BPTT on the GPU, each layer's time loop one Triton kernel.

Same contract as the native backend (one autograd Function per layer and direction, masks,
reverse direction, initial-state gradients, ``grad_norms``). Per layer and direction:
forward is one cuBLAS GEMM for every step's input projection and one launch of
``triton_kernels.forward_kernel`` for the time loop; backward one launch of
``backward_kernel`` and cuBLAS GEMMs for dx and the weight gradients after it. float32,
CUDA tensors; on the CPU only under Triton's interpreter (``TRITON_INTERPRET=1``), which is
how the tests run it without a GPU. The recurrent matmuls are IEEE float32 unless
``torch.backends.cuda.matmul.allow_tf32`` asks for TF32, as for torch's own matmuls.

``auto`` passes it over until a GPU session has measured it against cuDNN: name it
(``backend="triton"``) to use it. Not supported: LSTM projections (proj_size), user-defined
cells, double backward.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import torch

from rnnkit.backends.base import (
    MODES,
    RNNCall,
    records_graph,
    refuse_double_backward,
    run_stacked,
    untraceable_reason,
)


@functools.cache
def _kernels():
    # Imported on first use: triton.jit reads TRITON_INTERPRET when the kernels are defined.
    from rnnkit.backends import triton_kernels

    return triton_kernels


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def _precision(x: torch.Tensor) -> str:
    tf32 = x.device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32
    return "tf32" if tf32 else "ieee"


def _launch_shape(B: int, H: int) -> tuple[tuple[int], dict]:
    block_b, block_h, block_k = _kernels().block_sizes(B, H)
    grid = (max(1, (B + block_b - 1) // block_b),)  # an empty batch: one program, no rows
    return grid, {"BLOCK_B": block_b, "BLOCK_H": block_h, "BLOCK_K": block_k}


def triton_forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, mask, reverse, save):
    """One layer, one direction. Returns (y, h_n, c_n, saved), saved = (act, aux, c_prev,
    h_prev) for backward when ``save`` (entries None where the cell keeps nothing)."""
    T, B, I = x.shape
    GH, H = w_hh.shape
    lstm, gru = mode == "LSTM", mode == "GRU"
    bhn = None
    if b_ih is None:
        bias = None
    elif gru:  # b_hr and b_hz join the input projection; b_hn stays inside r * (...)
        bias = b_ih + torch.cat([b_hh[: 2 * H], b_hh.new_zeros(H)])
        bhn = b_hh[2 * H :].contiguous()
    else:
        bias = b_ih + b_hh
    x2 = x.reshape(T * B, I)
    pre = torch.addmm(bias, x2, w_ih.t()) if bias is not None else x2 @ w_ih.t()
    none = x.new_empty(1)  # stands for the pointers a mode does not use
    if gru and bhn is None:
        bhn = x.new_zeros(H)
    hbuf = x.new_empty(2, B, H)
    hbuf[0] = h0
    c = c0.clone() if lstm else none
    y = x.new_empty(T, B, H)
    act = x.new_empty(T, B, GH) if save else none
    aux = x.new_empty(T, B, H) if save and (lstm or gru) else none
    c_prev = x.new_empty(T, B, H) if save and lstm else none
    h_prev = x.new_empty(T, B, H) if save else none
    mask8 = mask.to(torch.int8).contiguous() if mask is not None else none
    grid, blocks = _launch_shape(B, H)
    _kernels().forward_kernel[grid](
        pre, w_hh, bhn if gru else none, hbuf, c, y, act, aux, c_prev, h_prev, mask8,
        T, B, H, MODE=MODES[mode], G=GH // H, REVERSE=reverse, SAVE=save,
        HAS_MASK=mask is not None, PRECISION=_precision(x), **blocks,
    )  # fmt: skip
    saved = (act, aux if lstm or gru else None, c_prev if lstm else None, h_prev)
    return y, hbuf[T % 2].clone(), (c if lstm else None), (saved if save else None)


class TritonBPTT(torch.autograd.Function):
    """One layer, one direction; both time loops in ``triton_kernels``."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, mode, mask, reverse, grad_norms):
        y, h_n, c_n, saved = triton_forward(
            mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, mask, reverse, True
        )
        ctx.save_for_backward(x, w_ih, w_hh, mask, *saved)
        ctx.mode, ctx.reverse, ctx.grad_norms = mode, reverse, grad_norms
        ctx.has_bias = b_ih is not None
        return (y, h_n) if c0 is None else (y, h_n, c_n)

    @staticmethod
    def backward(ctx, dy, dh_n, dc_n=None):
        refuse_double_backward("triton")
        x, w_ih, w_hh, mask, act, aux, c_prev, h_prev = ctx.saved_tensors
        T, B, I = x.shape
        GH, H = w_hh.shape
        mode = ctx.mode
        none = x.new_empty(1)
        dy = dy.contiguous() if dy is not None else x.new_zeros(T, B, H)
        dh = dh_n.clone() if dh_n is not None else x.new_zeros(B, H)
        lstm = mode == "LSTM"
        dc = (dc_n.clone() if dc_n is not None else x.new_zeros(B, H)) if lstm else none
        dpx = x.new_empty(T, B, GH)
        dph = x.new_empty(T, B, GH) if mode == "GRU" else dpx
        norms = x.new_empty(T, B) if ctx.grad_norms is not None else none
        mask8 = mask.to(torch.int8).contiguous() if mask is not None else none
        grid, blocks = _launch_shape(B, H)
        _kernels().backward_kernel[grid](
            dy, act, aux if aux is not None else none, c_prev if c_prev is not None else none,
            h_prev, w_hh, mask8, dh, dc, dpx, dph, norms, T, B, H,
            MODE=MODES[mode], G=GH // H, REVERSE=ctx.reverse, HAS_MASK=mask is not None,
            NORMS=ctx.grad_norms is not None, PRECISION=_precision(x), **blocks,
        )  # fmt: skip
        if ctx.grad_norms is not None:
            ctx.grad_norms.copy_(norms)
        need = ctx.needs_input_grad
        dpx2, dph2 = dpx.view(T * B, GH), dph.view(T * B, GH)
        dx = (dpx2 @ w_ih).view(T, B, I) if need[0] else None
        dw_ih = dpx2.t() @ x.reshape(T * B, I) if need[3] else None
        dw_hh = dph2.t() @ h_prev.view(T * B, H) if need[4] else None
        db_ih = dpx2.sum(0) if ctx.has_bias and need[5] else None
        db_hh = dph2.sum(0) if ctx.has_bias and need[6] else None
        return dx, dh, (dc if lstm else None), dw_ih, dw_hh, db_ih, db_hh, None, None, None, None


def triton_layer(mode, x, h0, c0, w, mask=None, reverse=False, grad_norms=None):
    """One layer in one direction through the Triton kernels. Returns (y, h_n, c_n or None)."""
    if mask is not None:
        mask = mask.squeeze(-1)  # (T, B)
    x, h0 = x.contiguous(), h0.contiguous()
    c0 = c0.contiguous() if c0 is not None else None
    weights = [t.contiguous() if t is not None else None for t in w[:4]]
    if not records_graph((x, h0, c0, *weights)):
        y, h_n, c_n, _ = triton_forward(mode, x, h0, c0, *weights, mask, reverse, False)
        return y, h_n, c_n
    out = TritonBPTT.apply(x, h0, c0, *weights, mode, mask, reverse, grad_norms)
    return (out[0], out[1], out[2]) if c0 is not None else (out[0], out[1], None)


class TritonBackend:
    """Each layer's time loop in one Triton kernel launch (GPU)."""

    name = "triton"
    description = "rnnkit's BPTT on the GPU, one Triton kernel per layer's time loop"

    def why_not(self, call: RNNCall) -> str | None:
        if importlib.util.find_spec("triton") is None:
            return "Triton is not installed (pip install triton)"
        device = call.x.device.type
        if device != "cuda" and not (device == "cpu" and _interpreting()):
            return (
                f"the Triton kernels run on CUDA devices, not {device} (on the CPU only under "
                "TRITON_INTERPRET=1, Triton's interpreter, for tests)"
            )
        if call.x.dtype != torch.float32:
            return f"the Triton kernels support float32 only, not {call.x.dtype}"
        if call.cell is not None:
            return "user-defined cells have no Triton kernel yet"
        if call.weights[0].w_hr is not None:
            return "LSTM projections (proj_size) have no Triton kernel yet"
        return untraceable_reason("Triton kernels")

    def avoid(self, call: RNNCall) -> str | None:
        return "not yet measured against cuDNN on a GPU; request backend='triton' to use it"

    def run(self, call: RNNCall):
        return run_stacked(call, triton_layer)
