"""The native backend: rnnkit's BPTT with both time loops in C++ (``rnnkit/native``).

Same contract as the engine backend (``core/engine.py``): one autograd Function per layer
and direction, masks for variable lengths, reverse direction, gradients for the initial
states, ``grad_norms`` filled with ||dL/dh_t|| during backward. The difference is where the
time loop runs: one call into C++ per forward and one per backward, so no Python and no
tensor allocation per step. float32 and float64 on the CPU only.

Recompute (``with recompute_activations(): out = model(x)``): forward then keeps nothing
but what the layer already holds (its input, initial state and weights) instead of the
per-step gates and states, (T, B, (G+2..4)*H) per layer; backward re-runs that layer's
forward to regenerate them just before its sweep. One extra forward (about a third of a
training step) buys a peak that holds one layer's activations at a time, not all layers'.

torch.compile and torch.jit.trace see only torch operators, and these kernels are a C++
extension. torch.compile breaks its graph at them (dynamo cannot trace the extension; it
warns and runs it eagerly), which ``explain()`` states as ``COMPILE_NOTE``. Marking the
kernels with torch.compiler.disable would make that break explicit, but it imports
torch._dynamo with rnnkit (1.5 s more per import) — registering them as torch custom ops
is the way to a single graph. torch.jit.trace would replay its
outputs as constants and torch.export cannot run it on fake tensors, so it refuses to run
while tracing or exporting (``auto`` then takes another backend).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools

import torch

from rnnkit import native
from rnnkit.backends.base import (
    MODES,
    RNNCall,
    records_graph,
    refuse_double_backward,
    run_stacked,
    untraceable_reason,
)
from rnnkit.native import codegen

_RECOMPUTE = contextvars.ContextVar("rnnkit_native_recompute", default=False)


@contextlib.contextmanager
def recompute_activations(enabled: bool = True):
    """Inside this block, native forward calls save no activations; backward recomputes them."""
    token = _RECOMPUTE.set(enabled)
    try:
        yield
    finally:
        _RECOMPUTE.reset(token)


class NativeBPTT(torch.autograd.Function):
    """One layer, one direction; forward and backward sweeps in ``rnn_kernels.cpp``."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, mode, mask, reverse, grad_norms):
        # x (T, B, I), h0 (B, Hr), c0 (B, H) or None, mask (T, B) bool or None
        # native_layer calls this Function only when a graph is recorded: save for backward.
        ext = native.load()
        recompute = _RECOMPUTE.get()
        y, h_n, c_n, act, aux, h_prev, c_prev, m_all = ext.forward(
            MODES[mode], x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, mask, reverse,
            not recompute,
        )  # fmt: skip
        if recompute:  # keep only the forward's inputs; backward regenerates the rest
            ctx.save_for_backward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, mask)
        else:
            ctx.save_for_backward(x, w_ih, w_hh, w_hr, act, aux, h_prev, c_prev, m_all, mask)
        ctx.recompute = recompute
        ctx.mode, ctx.reverse, ctx.grad_norms = MODES[mode], reverse, grad_norms
        ctx.has_bias = b_ih is not None
        if c0 is None:
            return y, h_n
        return y, h_n, c_n

    @staticmethod
    def backward(ctx, dy, dh_n, dc_n=None):
        refuse_double_backward("native")
        if ctx.recompute:
            x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, mask = ctx.saved_tensors
            _, _, _, act, aux, h_prev, c_prev, m_all = native.load().forward(
                ctx.mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, mask, ctx.reverse, True
            )
        else:
            x, w_ih, w_hh, w_hr, act, aux, h_prev, c_prev, m_all, mask = ctx.saved_tensors
        need = ctx.needs_input_grad
        grads = native.load().backward(
            ctx.mode,
            x,
            w_ih,
            w_hh,
            w_hr,
            ctx.has_bias,
            act,
            aux,
            h_prev,
            c_prev,
            m_all,
            mask,
            ctx.reverse,
            dy,
            dh_n,
            dc_n,
            ctx.grad_norms is not None,
            [need[0], need[3], need[4], need[5], need[6], need[7]],
        )
        dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr, norms = grads
        if ctx.grad_norms is not None:
            ctx.grad_norms.copy_(norms)
        return dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr, None, None, None, None


def native_layer(mode, x, h0, c0, w, mask=None, reverse=False, grad_norms=None):
    """One layer in one direction through the native kernels. Returns (y, h_n, c_n or None)."""
    if mask is not None:
        mask = mask.squeeze(-1)  # (T, B)
    tensors = (x, h0, c0, *w)
    if not records_graph(tensors):
        # Inference: no graph, so skip the autograd Function and save nothing.
        y, h_n, c_n, *_ = native.load().forward(MODES[mode], *tensors, mask, reverse, False)
        return y, h_n, (c_n if c0 is not None else None)
    out = NativeBPTT.apply(x, h0, c0, *w, mode, mask, reverse, grad_norms)
    return (out[0], out[1], out[2]) if c0 is not None else (out[0], out[1], None)


def quantized_layer(mode, x, h0, c0, wq, mask=None, reverse=False, grad_norms=None):
    """One layer in one direction with reduced-precision W_ih and W_hh (inference only).

    ``wq`` is (LayerWeights, QuantizedWeights): the float32 weights (for the biases and W_hr)
    and the reduced-precision W_ih and W_hh. Returns (y, h_n, c_n or None).
    """
    weights, q = wq
    if x.shape[0] == 1 and mask is None and weights.w_hr is None:  # one step: lean entry
        h, c = lowp_cell_step(mode, x[0], h0, c0, weights, q)
        return h[None], h, c
    if mask is not None:
        mask = mask.squeeze(-1)  # (T, B)
    y, h_n, c_n = native.load().forward_lowp(
        MODES[mode], x, h0, c0, q.kind, q.rows, q.ih, q.ih_scale, q.ih_rowsum,
        q.hh, q.hh_scale, q.hh_rowsum, weights.b_ih, weights.b_hh, weights.w_hr, mask, reverse,
    )  # fmt: skip
    return y, h_n, (c_n if c0 is not None else None)


def lowp_cell_step(mode: str, x, h, c, w, q):
    """One cell step with reduced-precision W_ih and W_hh (``q``, QuantizedWeights; biases
    from ``w``): x (B, I), h and c (B, H) -> (h', c' or None)."""
    h, c = native.load().step_lowp(
        MODES[mode], x, h, c, q.kind, q.rows, q.ih, q.ih_scale, q.ih_rowsum,
        q.hh, q.hh_scale, q.hh_rowsum, w.b_ih, w.b_hh,
    )  # fmt: skip
    return h, (c if mode == "LSTM" else None)


# Inference calls of at most this many steps (a decoder's step, a streamed chunk) run on
# panels packed once per model and kept in the module (step_pack), not packed per call: at
# one step, packing W_hh cost about as much as the step. Longer calls pack per call, which
# their steps amortise, and keep no copy of the weights.
KEEP_MAX_STEPS = 8
# ... where they beat torch's cells (MKL), measured per step (step_kept, one thread, this
# Intel Xeon): at few rows a step is memory-bound and one fused GEMM over [x, h, 1] streams
# the weights once where torch's cell runs two (LSTM B = 16, H = 1024: 1.27x; B = 24,
# H = 800: 1.22x); past that the panel kernel keeps up with MKL's blocked GEMM only for
# moderate GEMMs: GRU B = 200, H = 600 (4.3e8 multiply-adds a step, 8.6 MB of weights)
# 1.06-1.17x; GRU B = 150, H = 800 (5.8e8) 0.98x; LSTM B = 300, H = 700 0.91x; with 25 MB
# of weights (GRU H = 1024) 1.00x at B = 32, 0.86x at B = 60.
KEEP_SMALL_BATCH = 24
KEEP_MAX_MACS = 5e8
KEEP_MAX_BYTES = 20 << 20


def panels_pay(rows: int, w) -> bool:
    """Whether one step of ``rows`` rows on kept panels beats torch's path for the layer
    weights ``w`` (LayerWeights), by the rule above."""
    GH, H = w.w_hh.shape
    size = GH * (w.w_ih.shape[1] + H + 1)  # the fused GEMM's weights, in floats
    return rows <= KEEP_SMALL_BATCH or (4 * size <= KEEP_MAX_BYTES
                                        and rows * size <= KEEP_MAX_MACS)


def kept_panels(mode: str, weights, cache: dict | None, x, states=(), *, step: bool = False
                ) -> list | None:
    """Per layer and direction, panels packed once for these weights (repacked when a weight
    changes), or None where they do not apply: no cache, a graph recorded (through x, the
    ``states`` or a weight), not float32 on the CPU, a projection, more than KEEP_MAX_STEPS
    steps, a step where they do not pay (``panels_pay``), or no AVX-512 panel kernel. x is
    (T, B, I), or with ``step`` one step's (B, I) whose caller has ruled out a graph (a
    decoder's per-token call, where each microsecond shows)."""
    rows = x.shape[0] if step else x.shape[1]
    if cache is None or (not step and x.shape[0] > KEEP_MAX_STEPS):
        return None
    if x.dtype != torch.float32 or not x.is_cpu or mode not in MODES:
        return None
    if weights[0].w_hr is not None or not _panel_kernel() or not panels_pay(rows, weights[0]):
        return None
    tensors = [t for w in weights for t in w[:4] if t is not None]
    if not step and records_graph([x, *states, *tensors]):
        return None
    # versions see in-place updates (an optimizer step), pointers a swapped .data
    key = [(t._version, t.data_ptr()) for t in tensors]
    entry = cache.get("native_step")
    if entry is None or entry[0] != key:
        ext = native.load()
        entry = (key, [ext.step_pack(MODES[mode], *w[:4]) for w in weights])
        cache["native_step"] = entry
    return entry[1]


def _kept_for(call: RNNCall) -> list | None:
    """kept_panels for this call, worked out once (avoid and run both ask)."""
    memo = call.__dict__
    if "_kept" not in memo:
        memo["_kept"] = kept_panels(call.mode, call.weights, call.cache, call.x)
    return memo["_kept"]


def kept_layer(mode, x, h0, c0, wp, mask=None, reverse=False, grad_norms=None):
    """One layer in one direction on kept panels (inference). ``wp`` is (LayerWeights,
    panels). Returns (y, h_n, c_n or None)."""
    w, panels = wp
    if x.shape[0] == 1 and mask is None:  # one step (a decoder's): the lean cell entry
        h, c = kept_cell_step(mode, x[0], h0, c0, w, panels)
        return h[None], h, c
    if mask is not None:
        mask = mask.squeeze(-1)  # (T, B)
    y, h_n, c_n = native.load().forward_kept(
        MODES[mode], x, h0, c0, w.w_ih, w.w_hh, w.b_ih, w.b_hh, panels, mask, reverse
    )
    return y, h_n, (c_n if c0 is not None else None)


def kept_cell_step(mode: str, x, h, c, w, panels):
    """One cell step on kept panels (inference): x (B, I), h and c (B, H) -> (h', c' or
    None)."""
    h, c = native.load().step_kept(MODES[mode], x, h, c, panels, w.b_hh)
    return h, (c if mode == "LSTM" else None)


def _runs_quantized(call: RNNCall) -> bool:
    """Whether the reduced-precision kernels run ``call``: a quantised layer, no graph."""
    if call.quantized is None:
        return False
    tensors = (call.x, call.h0, call.c0, *(t for w in call.weights for t in w))
    return not records_graph(tensors)


class NativeCellBPTT(torch.autograd.Function):
    """A GatedCell's layer, one direction; time loops generated by ``native/codegen.py``."""

    @staticmethod
    def forward(ctx, x, s0, w_ih, w_hh, b_ih, b_hh, ext, mask, reverse, grad_norms):
        # s0 (S, B, H): h first, then the cell's other states
        recompute = _RECOMPUTE.get()
        y, s_n, pre, rs, sp = ext.forward(
            x, s0, w_ih, w_hh, b_ih, b_hh, mask, reverse, not recompute
        )
        if recompute:
            ctx.save_for_backward(x, s0, w_ih, w_hh, b_ih, b_hh, mask)
        else:
            ctx.save_for_backward(x, w_ih, w_hh, pre, rs, sp, mask)
        ctx.recompute, ctx.ext, ctx.reverse, ctx.grad_norms = recompute, ext, reverse, grad_norms
        ctx.has_bias = b_ih is not None
        return y, s_n

    @staticmethod
    def backward(ctx, dy, ds_n):
        refuse_double_backward("native")
        if ctx.recompute:
            x, s0, w_ih, w_hh, b_ih, b_hh, mask = ctx.saved_tensors
            _, _, pre, rs, sp = ctx.ext.forward(
                x, s0, w_ih, w_hh, b_ih, b_hh, mask, ctx.reverse, True
            )
        else:
            x, w_ih, w_hh, pre, rs, sp, mask = ctx.saved_tensors
        need = ctx.needs_input_grad
        dx, ds0, dw_ih, dw_hh, db_ih, db_hh, norms = ctx.ext.backward(
            x, w_ih, w_hh, ctx.has_bias, pre, rs, sp, mask, ctx.reverse, dy, ds_n,
            ctx.grad_norms is not None, [need[0], need[2], need[3], need[4], need[5]],
        )  # fmt: skip
        if ctx.grad_norms is not None:
            ctx.grad_norms.copy_(norms)
        return dx, ds0, dw_ih, dw_hh, db_ih, db_hh, None, None, None, None


def native_cell_layer(cell, mode, x, h0, c0, w, mask=None, reverse=False, grad_norms=None):
    """A GatedCell's layer in one direction through its generated kernels.

    c0 is (S-1, B, H), the states after h, or None. Returns (y, h_n, the other states or None).
    """
    ext = codegen.load_cell(cell)
    if mask is not None:
        mask = mask.squeeze(-1)  # (T, B)
    s0 = h0.unsqueeze(0) if c0 is None else torch.cat([h0.unsqueeze(0), c0])
    tensors = (x, s0, w.w_ih, w.w_hh, w.b_ih, w.b_hh)
    if records_graph(tensors):
        y, s_n = NativeCellBPTT.apply(*tensors, ext, mask, reverse, grad_norms)
    else:
        y, s_n, *_ = ext.forward(*tensors, mask, reverse, False)
    return y, s_n[0], (s_n[1:] if c0 is not None else None)


COMPILE_NOTE = (
    "rnnkit's native kernels are a C++ extension that torch.compile cannot trace: the layer "
    "runs them eagerly between compiled graphs (for one graph, e.g. fullgraph=True, build the "
    "layer with backend='engine')"
)


def _unavailable(cell) -> str | None:
    """Why the native kernels (or ``cell``'s generated ones) cannot run here, or None.

    Builds them on first use; the answer holds for the process.
    """
    if cell is not None:
        return codegen.cell_unavailable_reason(cell)
    return native.unavailable_reason()


@functools.cache
def _panel_kernel() -> bool:
    """Whether the built-in kernels were built with the AVX-512 panel GEMM (for the life of
    the process, as the build is)."""
    return bool(getattr(native.load(), "panel_kernel", False))


def _torch_backend():
    from rnnkit.backends.fused import TorchBackend

    return TorchBackend()


class NativeBackend:
    """C++ forward/backward time loops: one BLAS call and one fused gate loop per step."""

    name = "native"
    description = "rnnkit's BPTT in C++ (per-step BLAS + vectorised gate loop)"
    compile_note = COMPILE_NOTE

    def why_not(self, call: RNNCall) -> str | None:
        if call.x.device.type != "cpu":
            return f"the native kernels run on the CPU only, not {call.x.device.type}"
        if call.x.dtype not in (torch.float32, torch.float64):
            return f"the native kernels support float32 and float64, not {call.x.dtype}"
        return untraceable_reason("native kernels") or _unavailable(call.cell)

    def avoid(self, call: RNNCall) -> str | None:
        if call.quantized is not None:
            return None  # the only backend with reduced-precision kernels
        return self._avoid_float(call)

    def _avoid_float(self, call: RNNCall) -> str | None:
        # Where torch.nn's path measured faster (docs/PERFORMANCE.md, AMD EPYC, 1 thread,
        # T=50): pass over native only if torch can take the call, else native is the fastest.
        if call.cell is not None:
            return None  # the only fast path a custom cell has
        if _kept_for(call) is not None:
            return None  # few steps on kept panels: oneDNN re-packs its weights every call
        torch_backend = _torch_backend()
        if torch_backend.why_not(call) is not None or torch_backend.avoid(call) is not None:
            return None
        B = call.x.shape[1]
        tensors = (call.x, call.h0, call.c0, *(t for w in call.weights for t in w))
        inference = not records_graph(tensors)
        H = call.weights[0].w_hh.shape[1]
        if not inference:
            return None  # training: native measured faster at every grid point
        if _panel_kernel():
            # AVX-512 build (AMD EPYC Zen 4, docs/PERFORMANCE.md sections 3b-3c): native ran
            # GRU and RNN inference faster everywhere, the LSTM's at 0.96x or better except at
            # batch 1 with a large hidden size, where it is a toss-up on two threads.
            if call.mode == "LSTM" and B == 1 and H >= 1024:
                return (
                    "oneDNN's fused LSTM inference measured as fast or faster at batch 1, "
                    "hidden >= 1024 (native 0.94-1.15x of torch.nn on two threads, 0.92x at "
                    "H = 2048 on one)"
                )
            return None
        if call.mode == "LSTM" and B >= 16 and H >= 256:
            return (
                "oneDNN's fused LSTM inference measured faster at batch >= 16, hidden >= 256 "
                "(native 0.87-0.99x of torch.nn)"
            )
        if call.mode == "GRU" and (B >= 64 or (B >= 16 and H >= 256)):
            return (
                "torch's GRU inference measured faster at batch >= 64, or >= 16 with "
                "hidden >= 256 (native 0.71-0.93x)"
            )
        return None

    def describe(self, call: RNNCall) -> str | None:
        """What explain() adds about this call: the precision the kernels run in, and for
        few-step inference whether the weights are packed once and kept."""
        if call.quantized is None:
            return self._weights_line(call)
        precision = "int8" if call.quantized[0].kind == 1 else "bfloat16"
        if _runs_quantized(call):
            slow = precision == "int8" and not native.load().lowp_int8_simd
            return (f"precision: W_ih and W_hh in {precision} (rnnkit.quantize), the rest in "
                    "float32" + ("; this processor has no AVX512_VNNI, so int8 runs a scalar "
                                 "loop (slow)" if slow else ""))
        return (
            f"precision: autograd records this call: float32 with the {precision}-rounded "
            "weights (the reduced-precision kernels run without a graph)"
        )

    @staticmethod
    def _weights_line(call: RNNCall) -> str | None:
        tensors = (call.x, call.h0, call.c0, *(t for w in call.weights for t in w))
        if call.cell is not None or call.x.shape[0] > KEEP_MAX_STEPS or records_graph(tensors):
            return None
        if _kept_for(call) is not None:
            return ("weights: packed once and kept in the module (few-step inference: "
                    "a decoder's step)")
        if _panel_kernel() and not panels_pay(call.x.shape[1], call.weights[0]):
            return (f"weights: not kept: at B = {call.x.shape[1]} with these weights MKL's "
                    "blocked GEMM measured faster than kept panels (backends.native.panels_pay)")
        return None

    def run(self, call: RNNCall):
        if call.cell is not None:
            return run_stacked(call, functools.partial(native_cell_layer, call.cell))
        if _runs_quantized(call):
            if call.x.dtype != torch.float32:
                raise ValueError(
                    f"a quantised layer takes float32 input, not {call.x.dtype} (quantize "
                    "rounds the weights of a float32 model)"
                )
            pairs = list(zip(call.weights, call.quantized, strict=True))
            return run_stacked(call, quantized_layer, pairs)
        kept = _kept_for(call)
        if kept is not None:
            return run_stacked(call, kept_layer, list(zip(call.weights, kept, strict=True)))
        return run_stacked(call, native_layer)
