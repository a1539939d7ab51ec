"""Forward and backward of one time step, side by side, for the BPTT engine.

Each class is the explicit derivative of the matching function in ``core/cells.py``. The
engine (``core/engine.py``) owns the time loop, masking, projection and weight gradients;
a step class only maps pre-activations to the new state and back.

Conventions per step (B = batch, H = hidden, G = number of gate blocks):
- ``forward(pre_x, h, c, w_hh, b_hh)``: pre_x (B, G*H) = W_ih x_t + biases, already computed
  for all steps in one matmul. Returns (m, c', saved) where m (B, H) is the cell output before
  any projection and ``saved`` is what ``backward`` needs.
- ``backward(dm, dc, saved, h, c)``: dm (B, H) = dL/dm_t, dc (B, H) = dL/dc_t from the future.
  Returns (d_pre_x, d_pre_h, dh_direct, dc_prev): the gradients w.r.t. the input and recurrent
  pre-activations (B, G*H), the part of dL/dh_{t-1} that does not flow through W_hh, and
  dL/dc_{t-1}. The engine adds d_pre_h @ W_hh to dh_direct.
"""

from __future__ import annotations

import torch


class TanhStep:
    """h' = tanh(a), a = pre_x + W_hh h; da = dh' * (1 - h'^2)."""

    gates = 1
    has_cell_state = False
    bias_hh_in_step = False  # b_hh is folded into pre_x

    @staticmethod
    def forward(pre_x, h, c, w_hh, b_hh):
        h_new = torch.addmm(pre_x, h, w_hh.t()).tanh_()  # (B, H)
        return h_new, None, (h_new,)

    @staticmethod
    def backward(dm, dc, saved, h, c):
        (h_new,) = saved
        da = dm * (1 - h_new * h_new)
        return da, da, None, None


class ReluStep:
    """h' = relu(a); da = dh' * [a > 0] (equal to [h' > 0])."""

    gates = 1
    has_cell_state = False
    bias_hh_in_step = False

    @staticmethod
    def forward(pre_x, h, c, w_hh, b_hh):
        h_new = torch.addmm(pre_x, h, w_hh.t()).relu_()
        return h_new, None, (h_new,)

    @staticmethod
    def backward(dm, dc, saved, h, c):
        (h_new,) = saved
        da = dm * (h_new > 0).to(dm.dtype)
        return da, da, None, None


class LSTMStep:
    """c' = f c + i g, m = o tanh(c'); gates in torch order (i, f, g, o)."""

    gates = 4
    has_cell_state = True
    bias_hh_in_step = False

    @staticmethod
    def forward(pre_x, h, c, w_hh, b_hh):
        a = torch.addmm(pre_x, h, w_hh.t())  # (B, 4H) pre-activations
        H = a.shape[1] // 4
        act = a.sigmoid()  # i, f, o use sigmoid; g overwritten with tanh below
        act[:, 2 * H : 3 * H] = a[:, 2 * H : 3 * H].tanh()
        i, f, g, o = act.chunk(4, dim=1)
        c_new = torch.addcmul(f * c, i, g)
        tc = c_new.tanh()
        return o * tc, c_new, (act, tc)

    @staticmethod
    def backward(dm, dc, saved, h, c):
        act, tc = saved
        i, f, g, o = act.chunk(4, dim=1)
        dc = dc + dm * o * (1 - tc * tc)  # (B, H) total dL/dc'
        d_pre = torch.cat(
            (
                dc * g * i * (1 - i),  # d a_i
                dc * c * f * (1 - f),  # d a_f
                dc * i * (1 - g * g),  # d a_g
                dm * tc * o * (1 - o),  # d a_o
            ),
            dim=1,
        )
        return d_pre, d_pre, None, dc * f


class GRUStep:
    """torch.nn's GRU: n = tanh(pre_x_n + r * (W_hn h + b_hn)), h' = n + z (h - n)."""

    gates = 3
    has_cell_state = False
    bias_hh_in_step = True  # the reset gate multiplies W_hn h + b_hn, so b_hh cannot be folded

    @staticmethod
    def forward(pre_x, h, c, w_hh, b_hh):
        pre_h = torch.addmm(b_hh, h, w_hh.t()) if b_hh is not None else h @ w_hh.t()
        H = pre_h.shape[1] // 3
        rz = torch.sigmoid(pre_x[:, : 2 * H] + pre_h[:, : 2 * H])  # (B, 2H)
        r, z = rz[:, :H], rz[:, H:]
        hn = pre_h[:, 2 * H :]
        n = torch.addcmul(pre_x[:, 2 * H :], r, hn).tanh_()
        h_new = torch.addcmul(n, z, h - n)
        return h_new, None, (rz, n, hn)

    @staticmethod
    def backward(dm, dc, saved, h, c):
        rz, n, hn = saved
        H = n.shape[1]
        r, z = rz[:, :H], rz[:, H:]
        da_n = dm * (1 - z) * (1 - n * n)  # (B, H)
        da_r = da_n * hn * r * (1 - r)
        da_z = dm * (h - n) * z * (1 - z)
        d_pre_x = torch.cat((da_r, da_z, da_n), dim=1)
        d_pre_h = torch.cat((da_r, da_z, da_n * r), dim=1)
        return d_pre_x, d_pre_h, dm * z, None


STEPS = {"RNN_TANH": TanhStep, "RNN_RELU": ReluStep, "LSTM": LSTMStep, "GRU": GRUStep}
