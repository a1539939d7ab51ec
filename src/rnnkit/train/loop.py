"""The one training loop, shared by every recipe.

The loop owns optimisation and bookkeeping; a ``Task`` (``task.py``) owns the data, the
loss and the evaluation. One update:

    loss = task.train_loss(model)        e.g. LMTask: a TBPTT window, state carried
    backward; clip (value, then norm); optimizer step; schedule step

Every ``eval_every`` updates ``task.evaluate`` scores the model (its "loss" decides the
best checkpoint, plateau schedules and early stopping); every ``ckpt_every`` updates (and
on Ctrl-C, time-out and the end) a checkpoint is written. A checkpoint holds everything
that influences later updates (weights, optimiser and schedule state, RNG states, the
task's data position and carried state), so a resumed run produces the same losses, bit
for bit on CPU, as one that never stopped. With ``--diagnose every=N`` every N-th update
also records gradient flow through time, gate saturation and recurrent spectra
(``diagnose.py``).
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from rnnkit.errors import RnnkitError
from rnnkit.train import checkpoint as ckpt_io
from rnnkit.train.config import RunConfig
from rnnkit.train.distributed import World
from rnnkit.train.interrupt import StopRequest
from rnnkit.train.metrics import MetricsLog, plot_losses
from rnnkit.train.optim import build_optimizer, build_scheduler, clip_gradients
from rnnkit.train.task import LMTask, Task

# Why a run stopped early, least to most urgent (index = code shared between processes).
STOP_REASONS = (None, "max_seconds", "early_stop", "interrupted")


@dataclass
class FitResult:
    steps: int
    stopped: str                 # "max_steps", "max_seconds", "early_stop" or "interrupted"
    elapsed_s: float
    best_valid_loss: float       # best of the task's select_by metric, the validation loss
                                 # unless the task says otherwise (inf if never evaluated)
    last_valid_loss: float
    last_checkpoint: Path | None
    last_valid: dict[str, float] | None = None  # every metric of the last evaluation
    cpu_s: float = 0.0           # CPU seconds of training, summed over resumed sessions


def resolve_device(name: str, world: World | None = None) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RnnkitError("--device cuda: no CUDA device is available (try --device cpu)")
        return torch.device("cuda", world.rank % torch.cuda.device_count() if world else 0)
    return torch.device("cpu")


class Trainer:
    """Trains ``model`` on ``task`` as ``cfg.train`` says.

    ``task`` may also be a tensor of token ids: with ``valid_ids`` it becomes an ``LMTask``
    (the language-model shortcut). ``run_dir`` receives checkpoints, metrics.jsonl
    and loss.png (rank 0 only); ``meta`` (plain dicts/lists) is stored in every checkpoint,
    e.g. the vocabulary.
    """

    def __init__(self, model: nn.Module, task: Task | torch.Tensor, cfg: RunConfig,
                 run_dir: Path | None = None, *, valid_ids: torch.Tensor | None = None,
                 meta: dict | None = None, world: World | None = None, progress: bool = True,
                 unit: str = "char"):
        self.cfg, self.t = cfg, cfg.train
        if isinstance(task, torch.Tensor):
            task = LMTask(task, valid_ids, self.t.batch_size, self.t.seq_len, self.t.k1_steps,
                          eval_tokens=self.t.eval_tokens, unit=unit)
        self.task = task
        self.world = world or World()
        self.device = resolve_device(self.t.device, self.world)
        self.model = model.to(self.device)
        self.ddp = self.model
        if self.world.active:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.ddp = DDP(self.model, device_ids=[self.device.index]
                           if self.device.type == "cuda" else None)
        task.bind(self.device, self.world)
        self.opt = build_optimizer(self.model.parameters(), self.t)
        self.sched = build_scheduler(self.opt, self.t)
        self.run_dir, self.meta = run_dir, meta or {}
        self.progress = progress
        self.step = 0
        self.best, self.bad_evals, self.elapsed_before = math.inf, 0, 0.0
        self.cpu_before = 0.0
        self._t0, self._cpu0 = time.perf_counter(), time.process_time()
        self.last_valid: dict[str, float] | None = None
        self.diagnoser = None
        if self.t.diagnose is not None and self.world.is_main and run_dir is not None:
            from rnnkit.train.diagnose import Diagnoser

            self.diagnoser = Diagnoser(self.model, run_dir / "diagnostics.jsonl")

    @property
    def last_valid_loss(self) -> float:
        return math.inf if self.last_valid is None else self.last_valid["loss"]

    # ---------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """The task's validation metrics; "loss" and the task's ``select_by`` (lower is
        better) are always present."""
        metrics = self.task.evaluate(self.model)
        for key in {"loss", self.task.select_by}:
            if key not in metrics:
                raise RnnkitError(f"{type(self.task).__name__}.evaluate must return a "
                                  f"{key!r}")
        return metrics

    # ---------------------------------------------------------------- checkpoints
    def _payload(self) -> dict:
        return {
            "format": ckpt_io.FORMAT,
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict() if self.sched is not None else None,
            "rng": ckpt_io.capture_rng(),
            "step": self.step,
            "task": self.task.state_dict(),
            "loop": {"best": self.best, "last_valid": self.last_valid,
                     "bad_evals": self.bad_evals, "elapsed_s": self._elapsed(),
                     "cpu_s": self._cpu()},
            "config": self.cfg.to_dict(),
            **self.meta,
        }

    def save(self, name: str | None = None) -> Path | None:
        """Checkpoint now (collective under DDP: every process must call it)."""
        payload = self._payload()
        if self.run_dir is None or not self.world.is_main:
            return None
        path = self.run_dir / name if name else ckpt_io.ckpt_path(self.run_dir, self.step)
        ckpt_io.save_atomic(payload, path)
        if name is None:
            ckpt_io.prune(self.run_dir, self.t.keep_last)
        return path

    def load(self, path: Path) -> None:
        """Restore everything a checkpoint holds; the next update continues exactly."""
        ck = ckpt_io.load(path)
        try:
            self.model.load_state_dict(ck["model"])
            self.opt.load_state_dict(ck["optimizer"])
            if self.sched is not None and ck.get("scheduler") is not None:
                self.sched.load_state_dict(ck["scheduler"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise ckpt_io.CheckpointError(f"{path}: does not match this model "
                                          f"({ckpt_io.mismatch(e)})") from None
        self.step = int(ck["step"])
        # Checkpoints from before tasks existed kept the LM's fields at the top level.
        self.task.load_state_dict(ck["task"] if "task" in ck else ck)
        loop = ck["loop"]
        last = loop["last_valid"]
        self.best = loop["best"]
        self.last_valid = ({"loss": last} if isinstance(last, float) and math.isfinite(last)
                           else last if isinstance(last, dict) else None)
        self.bad_evals, self.elapsed_before = loop["bad_evals"], loop["elapsed_s"]
        self.cpu_before = loop.get("cpu_s", 0.0)  # not kept by checkpoints before 2026-12-06
        ckpt_io.restore_rng(ck["rng"])

    # ---------------------------------------------------------------- training
    def _elapsed(self) -> float:
        return self.elapsed_before + (time.perf_counter() - self._t0)

    def _cpu(self) -> float:
        """CPU seconds of this process's training (all its threads) plus earlier sessions'."""
        return self.cpu_before + (time.process_time() - self._cpu0)

    def train_step(self) -> tuple[float, float, bool]:
        """One update. Returns (loss, grad norm, clipped?)."""
        self.ddp.train()
        diagnose = self.diagnoser is not None and (self.step + 1) % self.t.diagnose == 0
        with (self.diagnoser.recording() if diagnose else contextlib.nullcontext()):
            loss = self.task.train_loss(self.ddp)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
        if diagnose:
            self.diagnoser.write(self.step + 1)
        norm, clipped = clip_gradients(list(self.model.parameters()), self.t)
        self.opt.step()
        if self.sched is not None and self.t.schedule != "plateau":
            if self.t.schedule == "cosine" and self.t.schedule_clock == "time":
                self.sched.lr_lambdas[0].time_fraction = self.world.mean(
                    self._elapsed() / self.t.max_seconds)  # processes must agree on lr
            self.sched.step()
        return float(loss.detach()), norm, clipped

    def fit(self, resume_from: Path | None = None,
            should_stop: Callable[[int], bool] | None = None) -> FitResult:
        """Train until max_steps, max_seconds, early stopping, Ctrl-C or ``should_stop``.

        ``should_stop(step)`` is polled after every update (tests use it to simulate an
        interruption at a known step).
        """
        t = self.t
        if resume_from is not None:
            self.load(resume_from)
        if self.run_dir is not None and self.world.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            ckpt_io.remove_stale_temps(self.run_dir)
        log = (MetricsLog(self.run_dir / "metrics.jsonl",
                          resume_step=self.step if resume_from is not None else None)
               if self.run_dir is not None and self.world.is_main else None)
        self._t0, self._cpu0 = time.perf_counter(), time.process_time()
        by_time = t.schedule_clock == "time"  # time-bounded run: the bar counts seconds
        bar = _progress_bar(t.max_seconds if by_time else t.max_steps,
                            self.elapsed_before if by_time else self.step,
                            self.progress and self.world.is_main, "s" if by_time else "step")
        items_per_step = self.task.items_per_step
        window = {"loss": 0.0, "clipped": 0, "n": 0, "t": time.perf_counter()}
        stopped, last_ckpt, saved_step = "max_steps", None, None
        with StopRequest() as stop:
            while self.step < t.max_steps:
                loss, norm, clipped = self.train_step()
                loss = self.world.mean(loss)
                if not math.isfinite(loss):
                    raise RnnkitError(f"loss became {loss} at step {self.step + 1}; "
                                      "lower --lr or set --clip-norm")
                self.step += 1
                window["loss"] += loss
                window["clipped"] += int(clipped)
                window["n"] += 1
                if self.step % t.log_every == 0 or self.step == t.max_steps:
                    now = time.perf_counter()
                    mean_loss = window["loss"] / window["n"]
                    rec = {"kind": "train", "step": self.step, "epoch": self.task.epoch,
                           "loss": mean_loss, **self.task.train_fields(mean_loss),
                           "grad_norm": norm, "clipped": window["clipped"] / window["n"],
                           "lr": self.opt.param_groups[0]["lr"],
                           "tokens_per_s": items_per_step * window["n"] / (now - window["t"]),
                           "elapsed_s": self._elapsed()}
                    if log:
                        log.write(rec)
                    bar.set_postfix_str(f"step {self.step} "
                                        f"{self.task.describe(mean_loss, self.last_valid)} "
                                        f"{self.task.unit}s/s={rec['tokens_per_s']:,.0f}",
                                        refresh=False)
                    window = {"loss": 0.0, "clipped": 0, "n": 0, "t": now}
                bar.update(min(round(self._elapsed(), 1), bar.total) - bar.n if by_time else 1)
                if self.step % t.eval_every == 0:
                    if self._validate(log):
                        stopped = "early_stop"
                reason = self._stop_reason(stop.requested, should_stop)
                if reason is None and stopped == "early_stop":
                    reason = "early_stop"
                # Every process must take the same exit (the final save is collective):
                # agree on the most urgent reason any process has.
                reason = STOP_REASONS[self.world.max_int(STOP_REASONS.index(reason))]
                if reason is not None:
                    stopped = reason
                    break
                if self.step % t.ckpt_every == 0:
                    last_ckpt, saved_step = self.save() or last_ckpt, self.step
        bar.close()
        if self.step % t.eval_every != 0 and stopped != "interrupted":
            self._validate(log)
        if saved_step != self.step:  # same decision on every process: save is collective
            last_ckpt = self.save() or last_ckpt
        if self.diagnoser is not None:
            self.diagnoser.close()
        if self.run_dir is not None and self.world.is_main:
            plot_losses(self.run_dir / "metrics.jsonl", self.run_dir / "loss.png",
                        title=f"{self.cfg.recipe}: {self.cfg.model.cell}, "
                              f"{self.cfg.model.num_layers}x{self.cfg.model.hidden_size}")
        return FitResult(self.step, stopped, self._elapsed(), self.best, self.last_valid_loss,
                         last_ckpt, self.last_valid, self._cpu())

    def _stop_reason(self, interrupted: bool, should_stop) -> str | None:
        if interrupted or (should_stop is not None and should_stop(self.step)):
            return "interrupted"
        if self.t.max_seconds is not None and self._elapsed() >= self.t.max_seconds:
            return "max_seconds"
        return None

    def _validate(self, log: MetricsLog | None) -> bool:
        """Evaluate, step plateau schedules, save best.pt; True = stop early."""
        metrics = self.evaluate()
        v = metrics[self.task.select_by]
        self.last_valid = metrics
        improved = v < self.best
        if improved:
            self.best, self.bad_evals = v, 0
        else:
            self.bad_evals += 1
        if self.sched is not None and self.t.schedule == "plateau":
            self.sched.step(v)
        if log:
            log.write({"kind": "valid", "step": self.step,
                       **{f"valid_{k}": x for k, x in metrics.items()}, "best": improved})
        if improved:
            self.save("best.pt")
        return self.t.early_stop is not None and self.bad_evals >= self.t.early_stop


def _progress_bar(total: float, initial: float, enabled: bool, unit: str):
    from tqdm import tqdm

    fmt = "{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}{postfix}]"
    return tqdm(total=total, initial=initial, disable=not enabled, unit=unit,
                bar_format=fmt if unit == "s" else None,
                dynamic_ncols=True, file=sys.stderr, leave=True)
