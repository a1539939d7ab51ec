"""Optimisers, learning-rate schedules and gradient clipping for the training loop."""

from __future__ import annotations

import math

import torch

from rnnkit.errors import ConfigError, unknown_name
from rnnkit.train.config import TrainConfig, field_choices


def build_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer != "adamw":
        choices = field_choices(TrainConfig, "optimizer")
        raise ConfigError(unknown_name("optimizer", cfg.optimizer, choices))
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


class WarmupCosine:
    """lr factor: linear 0 -> 1 over ``warmup`` steps, then cosine 1 -> ``floor`` at
    ``total`` steps (Loshchilov & Hutter 2017, without restarts). A picklable callable
    with plain attributes, so LambdaLR's state_dict stays weights_only-safe."""

    def __init__(self, warmup: int, total: int, floor: float):
        self.warmup, self.total, self.floor = warmup, total, floor
        self.time_fraction = 0.0  # elapsed / max_seconds, set by the loop for clock="time"

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = min(1.0, max((step - self.warmup) / max(1, self.total - self.warmup),
                                self.time_fraction))
        return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig):
    """Scheduler stepped once per update, or, for ``plateau``, once per evaluation."""
    if cfg.schedule == "constant":
        return None
    if cfg.schedule == "cosine":
        fn = WarmupCosine(cfg.warmup_steps, cfg.max_steps, cfg.min_lr_ratio)
        return torch.optim.lr_scheduler.LambdaLR(opt, fn)
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size, gamma=cfg.gamma)
    if cfg.schedule != "plateau":
        choices = field_choices(TrainConfig, "schedule")
        raise ConfigError(unknown_name("schedule", cfg.schedule, choices))
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=cfg.gamma, patience=cfg.plateau_patience)


def clip_gradients(params: list[torch.Tensor], cfg: TrainConfig) -> tuple[float, bool]:
    """Clip by value, then by global norm. Returns (norm before clipping, clipped?).

    Clipping by norm (Pascanu et al. 2013, sec. 3.2) rescales the whole gradient so its
    direction is kept; by value is cruder but bounds each element. "Clipped" means
    either one changed the gradient, so the logged clip rate shows how often it bites.
    """
    clipped = False
    if cfg.clip_value is not None:
        biggest = max(float(p.grad.abs().max()) for p in params if p.grad is not None)
        clipped = biggest > cfg.clip_value
        torch.nn.utils.clip_grad_value_(params, cfg.clip_value)
    max_norm = cfg.clip_norm if cfg.clip_norm is not None else math.inf
    norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    return norm, clipped or norm > max_norm
