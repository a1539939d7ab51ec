"""rnnkit's backpropagation-through-time engine: one autograd Function per layer and direction.

Forward:  one batched matmul projects the inputs of all time steps, then a loop runs the
          recurrent matmul and fused gate math of each step, saving what backward needs.
Backward: a sweep in reverse time order carries dL/dh (and dL/dc) back one step at a time;
          the weight gradients are accumulated after the sweep by batched matmuls over all
          steps at once, which is far cheaper than T small outer products.

Variable lengths come as a boolean mask (T, B, 1): at a padded step the state is carried
unchanged, the output is zero, and no gradient reaches that step's inputs or weights. The
reverse direction simply walks time backwards with the same mask: its padded steps come
first and leave the initial state untouched.

When a ``grad_norms`` buffer (T, B) is given, backward writes ||dL/dh_t|| into it: the total
gradient reaching the layer's output state at each step. That is the diagnostics hook; with
no buffer it costs one ``is None`` test.
"""

from __future__ import annotations

import torch

from rnnkit.core.engine_steps import STEPS


class BPTT(torch.autograd.Function):
    """Explicit BPTT over one layer in one direction. See the module docstring."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, mode, mask, reverse, grad_norms):
        # x (T, B, I), h0 (B, Hr), c0 (B, H) or None, mask (T, B, 1) bool or None
        step = STEPS[mode]
        T, B, _ = x.shape
        H = w_hh.shape[0] // step.gates
        Hr = w_hh.shape[1]

        # Input projection for all steps at once. RNN and LSTM fold b_hh in here too.
        bias = b_ih
        if b_ih is not None and not step.bias_hh_in_step:
            bias = b_ih + b_hh
        x2 = x.reshape(T * B, x.shape[2])
        pre_x = torch.addmm(bias, x2, w_ih.t()) if bias is not None else x2 @ w_ih.t()
        pre_x = pre_x.view(T, B, w_ih.shape[0])  # (T, B, G*H)

        y = x.new_empty(T, B, Hr)
        h_prev_all = x.new_empty(T, B, Hr)  # state entering each step, for dW_hh
        m_all = x.new_empty(T, B, H) if w_hr is not None else None  # pre-projection outputs
        c_prev_all = x.new_empty(T, B, H) if step.has_cell_state else None
        saved = [None] * T

        h, c = h0, c0
        for t in reversed(range(T)) if reverse else range(T):
            h_prev_all[t] = h
            if c_prev_all is not None:
                c_prev_all[t] = c
            m, c_new, saved[t] = step.forward(pre_x[t], h, c, w_hh, b_hh)
            if m_all is not None:
                m_all[t] = m
            h_new = m @ w_hr.t() if w_hr is not None else m  # (B, Hr)
            if mask is None:
                y[t] = h_new
                h, c = h_new, c_new
            else:
                mt = mask[t]  # (B, 1)
                y[t] = torch.where(mt, h_new, 0)
                h = torch.where(mt, h_new, h)
                if c is not None:
                    c = torch.where(mt, c_new, c)

        ctx.save_for_backward(x, w_ih, w_hh, w_hr, h_prev_all, c_prev_all, m_all, mask)
        ctx.step, ctx.saved_steps, ctx.reverse, ctx.grad_norms = step, saved, reverse, grad_norms
        ctx.has_bias = b_ih is not None
        if c0 is None:
            return y, h
        return y, h, c

    @staticmethod
    def backward(ctx, dy, dh_n, dc_n=None):
        if torch.is_grad_enabled():
            raise RuntimeError(
                "rnnkit's BPTT engine does not support double backward (create_graph=True); "
                "use backend='reference' for higher-order gradients"
            )
        x, w_ih, w_hh, w_hr, h_prev_all, c_prev_all, m_all, mask = ctx.saved_tensors
        step, saved = ctx.step, ctx.saved_steps
        T, B, _ = x.shape

        d_pre_x_all = x.new_empty(T, B, w_hh.shape[0])  # (T, B, G*H)
        d_pre_h_all = d_pre_x_all if not step.bias_hh_in_step else torch.empty_like(d_pre_x_all)
        dh_all = x.new_empty(T, B, w_hh.shape[1])  # dL/dh_t, total, (T, B, Hr)

        g = dh_n  # dL/d(state after the current step), carried backwards
        dc = dc_n
        for t in range(T) if ctx.reverse else reversed(range(T)):
            dh = g + dy[t]
            if mask is not None:
                mt = mask[t]
                g_skip = torch.where(mt, 0, g)  # padded step: the state passed straight through
                dh = torch.where(mt, dh, 0)
                if dc is not None:
                    dc_skip = torch.where(mt, 0, dc)
                    dc = torch.where(mt, dc, 0)
            dh_all[t] = dh
            dm = dh @ w_hr if w_hr is not None else dh  # (B, H)
            c_prev = c_prev_all[t] if c_prev_all is not None else None
            d_pre_x, d_pre_h, dh_direct, dc = step.backward(dm, dc, saved[t], h_prev_all[t], c_prev)
            d_pre_x_all[t] = d_pre_x
            if step.bias_hh_in_step:
                d_pre_h_all[t] = d_pre_h
            g = d_pre_h @ w_hh
            if dh_direct is not None:
                g = g + dh_direct
            if mask is not None:
                g = g + g_skip
                if dc is not None:
                    dc = dc + dc_skip

        if ctx.grad_norms is not None:
            ctx.grad_norms.copy_(torch.linalg.vector_norm(dh_all, dim=-1))

        # Weight gradients: one batched matmul each over all T*B rows.
        need = ctx.needs_input_grad
        rows = T * B
        dpx = d_pre_x_all.view(rows, w_hh.shape[0])
        dph = d_pre_h_all.view(rows, w_hh.shape[0])
        dx = (dpx @ w_ih).view_as(x) if need[0] else None
        dw_ih = dpx.t() @ x.reshape(rows, x.shape[2]) if need[3] else None
        dw_hh = dph.t() @ h_prev_all.view(rows, w_hh.shape[1]) if need[4] else None
        db_ih = db_hh = None
        if ctx.has_bias:
            db_ih = dpx.sum(0) if need[5] else None
            db_hh = dph.sum(0) if need[6] else None
        dw_hr = None
        if w_hr is not None and need[7]:
            dw_hr = dh_all.view(rows, w_hh.shape[1]).t() @ m_all.view(rows, m_all.shape[2])
        return dx, g, dc, dw_ih, dw_hh, db_ih, db_hh, dw_hr, None, None, None, None


def bptt_layer(mode, x, h0, c0, w, mask=None, reverse=False, grad_norms=None):
    """Run one layer in one direction through the engine. Returns (y, h_n, c_n or None)."""
    out = BPTT.apply(x, h0, c0, *w, mode, mask, reverse, grad_norms)
    return (out[0], out[1], out[2]) if c0 is not None else (out[0], out[1], None)
