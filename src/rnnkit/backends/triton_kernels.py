"""Triton kernels for the GPU backend: the whole forward or backward time loop in one launch.

One program owns a block of batch rows for the whole sequence (rows are independent through
time), so a layer costs one kernel launch per direction instead of one or more per step, the
launch-bound regime where cuDNN loses at small batch. Per step a program loops over chunks of
hidden units: it multiplies h_{t-1} (kept in a global double buffer, read in K chunks) by
W_hh^T with ``tl.dot``, adds the step's input projection (one cuBLAS GEMM for all steps,
done by the caller), applies the gate math and writes h_t; ``tl.debug_barrier`` (a CTA-wide
barrier) separates the steps. Backward mirrors it: phase 1 of a step turns dL/dh_t into the
pre-activation gradients, phase 2 multiplies them by W_hh for dL/dh_{t-1}.

Modes follow ``rnnkit.native``: 0 RNN_TANH, 1 RNN_RELU, 2 LSTM, 3 GRU (torch.nn's gate order:
LSTM i, f, g, o; GRU r, z, n). Layouts (contiguous float32): pre (T, B, G*H); W_hh (G*H, H);
mask (T, B) int8. What forward saves for backward (``SAVE``):
  LSTM  act (T, B, 4H) activated gates, aux (T, B, H) c_t,  cprev (T, B, H), hprev (T, B, H)
  GRU   act (T, B, 3H) r, z, n,         aux (T, B, H) W_hn h_{t-1} + b_hn,  hprev
  RNN   act (T, B, H)  h_t,                                                  hprev
Buffers that a step writes and the next phase reads back (h, dL/dh, the pre-activation
gradients, c) are loaded with ``.cg`` (from L2, not the SM's L1): other threads of the
program wrote them; the barrier orders the accesses, L2 keeps them coherent.

Without a GPU the kernels run under Triton's interpreter (TRITON_INTERPRET=1): that is how
the tests check them on the CPU; tests/triton_aot.py compiles them for sm_90.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def _tanh(x):
    return 2.0 * _sigmoid(2.0 * x) - 1.0


@triton.jit
def _preact(init, g, h_ptr, w_ptr, rb, rn, B, H, BLOCK_K: tl.constexpr, PRECISION: tl.constexpr):
    """Gate g's pre-activation for rows rb and units rn: the block at the pointers ``init``
    (the step's input projection, or a broadcast bias) plus h @ W[g * H + rn, :]^T, h (B, H)
    and W (G * H, H) row-major."""
    bmask, nmask = rb < B, rn < H
    acc = tl.load(init, mask=bmask[:, None] & nmask[None, :], other=0.0)
    for k0 in range(0, H, BLOCK_K):
        rk = k0 + tl.arange(0, BLOCK_K)
        kmask = rk < H
        h = tl.load(h_ptr + rb[:, None] * H + rk[None, :], mask=bmask[:, None] & kmask[None, :],
                    other=0.0, cache_modifier=".cg")  # fmt: skip
        w = tl.load(w_ptr + (g * H + rn)[None, :] * H + rk[:, None],
                    mask=nmask[None, :] & kmask[:, None], other=0.0)  # fmt: skip
        acc += tl.dot(h, w, input_precision=PRECISION)
    return acc


@triton.jit
def forward_kernel(
    pre_ptr, whh_ptr, bhn_ptr, hbuf_ptr, c_ptr, y_ptr, act_ptr, aux_ptr, cprev_ptr, hprev_ptr,
    mask_ptr,
    T, B, H,
    MODE: tl.constexpr, G: tl.constexpr, REVERSE: tl.constexpr, SAVE: tl.constexpr,
    HAS_MASK: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """The forward time loop. hbuf (2, B, H) holds h_0 in slot 0 on entry and h_T in slot T % 2
    on exit; c (B, H) holds c_0 and then c_T (LSTM)."""
    rb = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    bmask = rb < B
    w = whh_ptr
    for s in range(T):
        t = s
        if REVERSE:
            t = T - 1 - s
        h_in = hbuf_ptr + (s % 2) * B * H
        h_out = hbuf_ptr + ((s + 1) % 2) * B * H
        if HAS_MASK:
            keep = tl.load(mask_ptr + t * B + rb, mask=bmask, other=0) != 0
        else:
            keep = bmask
        for n0 in range(0, H, BLOCK_H):
            rn = n0 + tl.arange(0, BLOCK_H)
            m2 = bmask[:, None] & (rn < H)[None, :]
            k2 = keep[:, None] & (rn < H)[None, :]
            bh = rb[:, None] * H + rn[None, :]  # (b, n) in a (B, H) array
            tbh = t * B * H + bh  # (t, b, n) in a (T, B, H) array
            gh = t * B * G * H + rb[:, None] * G * H + rn[None, :]  # gate 0 of (t, b, n)
            pre = pre_ptr + gh
            h_prev = tl.load(h_in + bh, mask=m2, other=0.0, cache_modifier=".cg")
            if MODE == 2:
                gi = _sigmoid(_preact(pre, 0, h_in, w, rb, rn, B, H, BLOCK_K, PRECISION))
                gf = _sigmoid(_preact(pre + H, 1, h_in, w, rb, rn, B, H, BLOCK_K, PRECISION))
                gg = _tanh(_preact(pre + 2 * H, 2, h_in, w, rb, rn, B, H, BLOCK_K, PRECISION))
                go = _sigmoid(_preact(pre + 3 * H, 3, h_in, w, rb, rn, B, H, BLOCK_K, PRECISION))
                c_prev = tl.load(c_ptr + bh, mask=m2, other=0.0, cache_modifier=".cg")
                c_new = gf * c_prev + gi * gg
                h_new = go * _tanh(c_new)
                tl.store(c_ptr + bh, tl.where(k2, c_new, c_prev), mask=m2)
                if SAVE:
                    tl.store(act_ptr + gh, gi, mask=m2)
                    tl.store(act_ptr + gh + H, gf, mask=m2)
                    tl.store(act_ptr + gh + 2 * H, gg, mask=m2)
                    tl.store(act_ptr + gh + 3 * H, go, mask=m2)
                    tl.store(aux_ptr + tbh, c_new, mask=m2)
                    tl.store(cprev_ptr + tbh, c_prev, mask=m2)
            elif MODE == 3:
                bias = bhn_ptr + rn[None, :] + 0 * rb[:, None]  # b_hn on every row
                hn = _preact(bias, 2, h_in, w, rb, rn, B, H, BLOCK_K, PRECISION)
                r = _sigmoid(_preact(pre, 0, h_in, w, rb, rn, B, H, BLOCK_K, PRECISION))
                z = _sigmoid(_preact(pre + H, 1, h_in, w, rb, rn, B, H, BLOCK_K, PRECISION))
                n = _tanh(tl.load(pre + 2 * H, mask=m2, other=0.0) + r * hn)
                h_new = (1.0 - z) * n + z * h_prev
                if SAVE:
                    tl.store(act_ptr + gh, r, mask=m2)
                    tl.store(act_ptr + gh + H, z, mask=m2)
                    tl.store(act_ptr + gh + 2 * H, n, mask=m2)
                    tl.store(aux_ptr + tbh, hn, mask=m2)
            else:
                v = _preact(pre, 0, h_in, w, rb, rn, B, H, BLOCK_K, PRECISION)
                if MODE == 0:
                    h_new = _tanh(v)
                else:
                    h_new = tl.maximum(v, 0.0)
                if SAVE:
                    tl.store(act_ptr + tbh, h_new, mask=m2)
            if SAVE:
                tl.store(hprev_ptr + tbh, h_prev, mask=m2)
            tl.store(y_ptr + tbh, tl.where(k2, h_new, 0.0), mask=m2)
            tl.store(h_out + bh, tl.where(k2, h_new, h_prev), mask=m2)
        tl.debug_barrier()  # h_t complete before any chunk of step t + 1 reads it


@triton.jit
def backward_kernel(
    dy_ptr, act_ptr, aux_ptr, cprev_ptr, hprev_ptr, whh_ptr, mask_ptr, dh_ptr, dc_ptr,
    dpx_ptr, dph_ptr, norms_ptr,
    T, B, H,
    MODE: tl.constexpr, G: tl.constexpr, REVERSE: tl.constexpr, HAS_MASK: tl.constexpr,
    NORMS: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """The backward time loop. dh (B, H) and dc (B, H, LSTM) hold dL/dh_T and dL/dc_T on entry,
    dL/dh_0 and dL/dc_0 on exit. Writes the pre-activation gradients dpx (T, B, G*H), the
    input side, and for the GRU dph (T, B, 3H), the recurrent side (the same buffer as dpx
    for the other cells); norms (T, B) gets ||dL/dh_t|| when NORMS (0 at padded
    steps, as the engine records them)."""
    rb = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    bmask = rb < B
    for s in range(T):
        t = T - 1 - s
        if REVERSE:
            t = s
        if HAS_MASK:
            keep = tl.load(mask_ptr + t * B + rb, mask=bmask, other=0) != 0
        else:
            keep = bmask
        sq = tl.zeros((BLOCK_B,), dtype=tl.float32)
        # Phase 1: dL/dh_t -> pre-activation gradients; dh keeps the part of dL/dh_{t-1}
        # that does not go through W_hh (GRU: z * dh; a padded step: all of it).
        for n0 in range(0, H, BLOCK_H):
            rn = n0 + tl.arange(0, BLOCK_H)
            nmask = rn < H
            m2 = bmask[:, None] & nmask[None, :]
            k2 = keep[:, None] & nmask[None, :]
            bh = rb[:, None] * H + rn[None, :]  # (b, n) in a (B, H) array
            tbh = t * B * H + bh  # (t, b, n) in a (T, B, H) array
            dh = tl.load(dh_ptr + bh, mask=m2, other=0.0, cache_modifier=".cg")
            dh += tl.where(k2, tl.load(dy_ptr + tbh, mask=m2, other=0.0), 0.0)
            if NORMS:
                sq += tl.sum(dh * dh, axis=1)
            a = act_ptr + t * B * G * H + rb[:, None] * G * H + rn[None, :]
            dx = dpx_ptr + t * B * G * H + rb[:, None] * G * H + rn[None, :]
            if MODE == 2:
                gi = tl.load(a, mask=m2, other=0.0)
                gf = tl.load(a + H, mask=m2, other=0.0)
                gg = tl.load(a + 2 * H, mask=m2, other=0.0)
                go = tl.load(a + 3 * H, mask=m2, other=0.0)
                tc = _tanh(tl.load(aux_ptr + tbh, mask=m2, other=0.0))
                c_prev = tl.load(cprev_ptr + tbh, mask=m2, other=0.0)
                dc_in = tl.load(dc_ptr + bh, mask=m2, other=0.0, cache_modifier=".cg")
                dc = dc_in + dh * go * (1.0 - tc * tc)
                tl.store(dx, tl.where(k2, dc * gg * gi * (1.0 - gi), 0.0), mask=m2)
                tl.store(dx + H, tl.where(k2, dc * c_prev * gf * (1.0 - gf), 0.0), mask=m2)
                tl.store(dx + 2 * H, tl.where(k2, dc * gi * (1.0 - gg * gg), 0.0), mask=m2)
                tl.store(dx + 3 * H, tl.where(k2, dh * tc * go * (1.0 - go), 0.0), mask=m2)
                tl.store(dc_ptr + bh, tl.where(k2, dc * gf, dc_in), mask=m2)
                tl.store(dh_ptr + bh, tl.where(k2, 0.0, dh), mask=m2)
            elif MODE == 3:
                r = tl.load(a, mask=m2, other=0.0)
                z = tl.load(a + H, mask=m2, other=0.0)
                n = tl.load(a + 2 * H, mask=m2, other=0.0)
                hn = tl.load(aux_ptr + tbh, mask=m2, other=0.0)
                h_prev = tl.load(hprev_ptr + tbh, mask=m2, other=0.0)
                dn = dh * (1.0 - z) * (1.0 - n * n)  # through n's pre-activation
                dr = dn * hn * r * (1.0 - r)
                dz = dh * (h_prev - n) * z * (1.0 - z)
                dp = dph_ptr + t * B * G * H + rb[:, None] * G * H + rn[None, :]
                tl.store(dx, tl.where(k2, dr, 0.0), mask=m2)
                tl.store(dx + H, tl.where(k2, dz, 0.0), mask=m2)
                tl.store(dx + 2 * H, tl.where(k2, dn, 0.0), mask=m2)
                tl.store(dp, tl.where(k2, dr, 0.0), mask=m2)
                tl.store(dp + H, tl.where(k2, dz, 0.0), mask=m2)
                tl.store(dp + 2 * H, tl.where(k2, dn * r, 0.0), mask=m2)
                tl.store(dh_ptr + bh, tl.where(k2, dh * z, dh), mask=m2)
            else:
                hv = tl.load(a, mask=m2, other=0.0)
                if MODE == 0:
                    d = dh * (1.0 - hv * hv)
                else:
                    d = tl.where(hv > 0.0, dh, 0.0)
                tl.store(dx, tl.where(k2, d, 0.0), mask=m2)
                tl.store(dh_ptr + bh, tl.where(k2, 0.0, dh), mask=m2)
        if NORMS:
            tl.store(norms_ptr + t * B + rb, tl.where(keep, tl.sqrt(sq), 0.0), mask=bmask)
        tl.debug_barrier()  # the step's pre-activation gradients complete
        # Phase 2: dL/dh_{t-1} = dh + dph_t @ W_hh, W_hh (G*H, H).
        for n0 in range(0, H, BLOCK_H):
            rn = n0 + tl.arange(0, BLOCK_H)
            nmask = rn < H
            m2 = bmask[:, None] & nmask[None, :]
            bh = rb[:, None] * H + rn[None, :]
            acc = tl.load(dh_ptr + bh, mask=m2, other=0.0, cache_modifier=".cg")
            for k0 in range(0, G * H, BLOCK_K):
                rk = k0 + tl.arange(0, BLOCK_K)
                kmask = rk < G * H
                d = tl.load(
                    dph_ptr + t * B * G * H + rb[:, None] * G * H + rk[None, :],
                    mask=bmask[:, None] & kmask[None, :],
                    other=0.0,
                    cache_modifier=".cg",
                )
                w = tl.load(
                    whh_ptr + rk[:, None] * H + rn[None, :],
                    mask=kmask[:, None] & nmask[None, :],
                    other=0.0,
                )
                acc += tl.dot(d, w, input_precision=PRECISION)
            tl.store(dh_ptr + bh, acc, mask=m2)
        tl.debug_barrier()  # dL/dh_{t-1} complete before step t - 1 reads it


def block_sizes(B: int, H: int) -> tuple[int, int, int]:
    """(BLOCK_B, BLOCK_H, BLOCK_K). tl.dot wants every side >= 16. Compiled for sm_90 without
    a GPU (tests/triton_aot.py; cuobjdump), the LSTM kernels use 255 registers and spill
    (224-392 bytes of stack) at 32-row blocks, hardly at 16; 16 rows also give a large batch
    more programs, i.e. more SMs. Otherwise untuned: no GPU yet."""
    block_h = max(16, min(32, triton.next_power_of_2(H)))
    block_k = max(16, min(64, triton.next_power_of_2(H)))
    return 16, block_h, block_k
