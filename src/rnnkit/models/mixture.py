"""Mixture-density output for pen offsets (Graves 2013, "Generating sequences with recurrent
neural networks", sec. 4.1, eqs. 15-26).

One point is ``(dx, dy, pen)``: a 2-D offset from the previous point and ``pen = 1`` when
the pen lifts after this point (the stroke-3 convention of ``rnnkit.data.strokes``). Given
the network's output ``y`` its distribution is a mixture of M correlated bivariate normals
over the offset times a Bernoulli over the pen:

    p(dx, dy, pen | y) = sum_m pi_m N2(dx, dy | mu_m, sigma_m, rho_m) * e^pen (1 - e)^(1 - pen)

    pi = softmax(logit_pi)          (eq. 19)     sigma = exp(log_sigma)   (eq. 21)
    rho = tanh(rho_hat)             (eq. 22)     e = sigmoid(end_logit)    (eq. 18; Graves
                                                 writes 1 / (1 + exp(e_hat)), a sign flip)

    N2(x | mu, sigma, rho) = exp(-Z / (2 (1 - rho^2))) / (2 pi sigma_1 sigma_2 sqrt(1 - rho^2))
    Z = ((x_1 - mu_1) / sigma_1)^2 + ((x_2 - mu_2) / sigma_2)^2
        - 2 rho (x_1 - mu_1)(x_2 - mu_2) / (sigma_1 sigma_2)                   (eqs. 24-25)

Optionally a second Bernoulli, ``stop_logit``, says "this is the drawing's last point"
(a 4th channel of the target): a drawing model then learns where to end (used by
``rnnkit.models.handwriting.StrokeWriter``).

Everything is computed in log space (log-softmax over the components, the normal's
log-density in closed form, logsumexp over components), so a point far out in a tail gives
a large but finite loss instead of log(0).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# log(sigma) is clamped to [-7, 5] (sigma in [9e-4, 148]) for stability: without a floor
# the likelihood of a repeated point (a pen at rest, dx = dy = 0) grows without bound as a
# component's sigma -> 0, and the 1/sigma^2 gradients explode; the ceiling keeps exp() and
# the log-density's scale finite in low precision. Offsets of normalised drawings ([-1, 1]
# boxes) are 1e-3..1, well inside the range.
LOG_SIGMA_MIN, LOG_SIGMA_MAX = -7.0, 5.0
# 1 - rho^2 is floored at 1e-6: tanh saturates to |rho| = 1 in float32 for |rho_hat| > 9,
# where the density would be degenerate (a line) and 1/(1 - rho^2) infinite.
ONE_MINUS_RHO2_MIN = 1e-6
_LOG_2PI = math.log(2 * math.pi)


class MixtureParams(NamedTuple):
    """The distribution of one point per leading index (``...`` = e.g. (T, B) or (B,))."""

    logit_pi: Tensor   # (..., M) unnormalised component log-weights
    mu: Tensor         # (..., M, 2) component means of (dx, dy)
    log_sigma: Tensor  # (..., M, 2) component log standard deviations
    rho: Tensor        # (..., M) correlations in (-1, 1)
    end_logit: Tensor  # (...) logit of pen = 1 (the pen lifts after this point)
    stop_logit: Tensor | None = None  # (...) logit of "the drawing's last point", if modelled

    @property
    def components(self) -> int:
        return self.logit_pi.shape[-1]

    def channels(self) -> int:
        """Width of a target or sample: 3 (dx, dy, pen), 4 with the stop channel."""
        return 3 if self.stop_logit is None else 4

    def index(self, key) -> MixtureParams:
        """The same distribution at ``key`` of the leading dims (e.g. ``params.index(t)``
        for step t of a (T, B) sequence, or a boolean mask)."""
        return MixtureParams(*(None if p is None else p[key] for p in self))


def mixture_size(components: int, stop: bool = False) -> int:
    """Number of raw outputs for M components: 6M + 1 (+ 1 for the stop logit)."""
    return 6 * components + 1 + int(stop)


def mixture_params(raw: Tensor, components: int, stop: bool = False,
                   bias: float = 0.0) -> MixtureParams:
    """Raw network outputs (..., 6M + 1 [+ 1]) -> MixtureParams.

    Layout of the last dim: [logit_pi (M) | mu (M, 2) | log_sigma (M, 2) | rho_hat (M) |
    end_logit (1) | stop_logit (1, with ``stop``)]; mu and log_sigma interleave (dx, dy) per
    component. ``bias`` b >= 0 (Graves eqs. 61-62) sharpens sampling: logit_pi * (1 + b)
    and sigma = exp(log_sigma - b) (applied after the clamp, so a biased sigma may go below
    the floor); b = 0 is the trained distribution.
    """
    M = components
    if raw.shape[-1] != mixture_size(M, stop):
        raise ValueError(f"expected {mixture_size(M, stop)} raw outputs for {M} components"
                         f"{' with a stop logit' if stop else ''}, got {raw.shape[-1]}")
    lead = raw.shape[:-1]
    logit_pi, mu, log_sigma, rho_hat, rest = raw.split([M, 2 * M, 2 * M, M, 1 + int(stop)], -1)
    log_sigma = log_sigma.clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX).reshape(*lead, M, 2)
    if bias:
        logit_pi = logit_pi * (1.0 + bias)
        log_sigma = log_sigma - bias
    return MixtureParams(logit_pi, mu.reshape(*lead, M, 2), log_sigma, torch.tanh(rho_hat),
                         rest[..., 0], rest[..., 1] if stop else None)


class MixtureHead(nn.Module):
    """One Linear from the network's features to a point's mixture distribution.

    Args:
        in_features: H, the width of the features read.
        components: M, the number of bivariate normals (Graves uses 20).
        stop: also output a "last point of the drawing" logit (``stop_logit``).
    Inputs: h (..., H), bias (float, default 0: see ``mixture_params``).
    Outputs: MixtureParams over the leading dims ``...``.
    """

    def __init__(self, in_features: int, components: int = 20, stop: bool = False):
        super().__init__()
        if components < 1:
            raise ValueError(f"components must be >= 1, got {components}")
        self.components, self.stop = components, stop
        self.proj = nn.Linear(in_features, mixture_size(components, stop))

    def forward(self, h: Tensor, bias: float = 0.0) -> MixtureParams:
        if bias < 0:
            raise ValueError(f"bias must be >= 0 (0 = the trained distribution), got {bias}")
        return mixture_params(self.proj(h), self.components, self.stop, bias)  # (..., 6M+1)


def bivariate_normal_log_density(x: Tensor, mu: Tensor, log_sigma: Tensor, rho: Tensor
                                 ) -> Tensor:
    """log N2(x | mu, sigma, rho): x (..., 2) against components mu, log_sigma (..., M, 2),
    rho (..., M) -> (..., M). Closed form (module docstring), with 1 - rho^2 floored."""
    n = (x.unsqueeze(-2) - mu) * torch.exp(-log_sigma)                 # (..., M, 2) z-scores
    n1, n2 = n.unbind(-1)                                                # (..., M)
    one_minus = ((1 - rho) * (1 + rho)).clamp_min(ONE_MINUS_RHO2_MIN)    # exact near |rho| = 1
    z = n1 * n1 + n2 * n2 - 2 * rho * n1 * n2
    return (-_LOG_2PI - log_sigma.sum(-1) - 0.5 * torch.log(one_minus)
            - z / (2 * one_minus))


def mixture_nll(params: MixtureParams, target: Tensor) -> Tensor:
    """-log p(point) per point: target (..., 3) = (dx, dy, pen), or (..., 4) with the stop
    channel when ``params.stop_logit`` is set -> (...) in nats.

        nll = -logsumexp_m(log pi_m + log N2(dx, dy | mu_m, sigma_m, rho_m))
              + BCE(end_logit, pen) [+ BCE(stop_logit, stop)]
    """
    if target.shape[-1] != params.channels():
        what = "(dx, dy, pen, stop)" if params.stop_logit is not None else "(dx, dy, pen)"
        raise ValueError(f"target must be (..., {params.channels()}) {what}, "
                         f"got {tuple(target.shape)}")
    log_pi = F.log_softmax(params.logit_pi, -1)                                  # (..., M)
    log_n = bivariate_normal_log_density(target[..., :2], params.mu, params.log_sigma,
                                         params.rho)                            # (..., M)
    nll = -torch.logsumexp(log_pi + log_n, -1)                                   # (...)
    nll = nll + F.binary_cross_entropy_with_logits(params.end_logit, target[..., 2],
                                                   reduction="none")
    if params.stop_logit is not None:
        nll = nll + F.binary_cross_entropy_with_logits(params.stop_logit, target[..., 3],
                                                       reduction="none")
    return nll


@torch.no_grad()
def sample_point(params: MixtureParams, generator: torch.Generator,
                 temperature: float = 1.0) -> Tensor:
    """One point per leading index: params over (B,) (or any leading dims) -> (B, 3)
    (dx, dy, pen), or (B, 4) with the stop channel (the layout ``mixture_nll`` reads).

    A component m ~ Categorical(softmax(logit_pi / temperature)); then
    (dx, dy) = mu_m + L_m eps with eps ~ N(0, I) and L_m the Cholesky factor of the
    component's covariance, sigma scaled by sqrt(temperature):
        dx = mu_1 + s_1 eps_1,   dy = mu_2 + s_2 (rho eps_1 + sqrt(1 - rho^2) eps_2);
    pen ~ Bernoulli(sigmoid(end_logit)), stop ~ Bernoulli(sigmoid(stop_logit)).
    Every draw comes from ``generator``, so a seeded generator repeats the sample.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    lead = params.logit_pi.shape[:-1]
    flat = MixtureParams(*(None if p is None else p.reshape(-1, *p.shape[len(lead):])
                           for p in params))                                 # (N, ...)
    probs = torch.softmax(flat.logit_pi / temperature, -1)                  # (N, M)
    m = torch.multinomial(probs, 1, generator=generator)                     # (N, 1)
    mu = flat.mu.gather(1, m[..., None].expand(-1, 1, 2))[:, 0]              # (N, 2)
    log_sigma = flat.log_sigma.gather(1, m[..., None].expand(-1, 1, 2))[:, 0]
    sigma = torch.exp(log_sigma) * math.sqrt(temperature)                    # (N, 2)
    rho = flat.rho.gather(1, m)[:, 0]                                        # (N,)
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    dx = mu[:, 0] + sigma[:, 0] * eps[:, 0]
    cos = torch.sqrt(((1 - rho) * (1 + rho)).clamp_min(0))                  # sqrt(1 - rho^2)
    dy = mu[:, 1] + sigma[:, 1] * (rho * eps[:, 0] + cos * eps[:, 1])
    cols = [dx, dy, torch.bernoulli(torch.sigmoid(flat.end_logit), generator=generator)]
    if flat.stop_logit is not None:
        cols.append(torch.bernoulli(torch.sigmoid(flat.stop_logit), generator=generator))
    return torch.stack(cols, -1).reshape(*lead, len(cols))                  # (..., 3 or 4)
