"""The one training loop: stateful truncated BPTT over B parallel streams.

One update (see ``streams.py`` for the data layout):

    window x, y  (k2, b)        b = B / processes streams of this process
    logits, carry = model(x, state, carry_at=k1)
    loss = mean CE over the last k1 positions           (nats per token)
    backward; clip (value, then norm); optimizer step; schedule step
    state = carry.detach()      gradients stop here: at most k2 steps back

Every ``eval_every`` updates the model is scored on the validation text; every
``ckpt_every`` updates (and on Ctrl-C, time-out and the end) a checkpoint is written.
A checkpoint holds everything that influences later updates (weights, optimiser and
schedule state, RNG states, data position, carried hidden state), so a resumed run
produces the same losses, bit for bit on CPU, as one that never stopped.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.train import checkpoint as ckpt_io
from rnnkit.train.config import RunConfig
from rnnkit.train.distributed import World
from rnnkit.train.errors import RnnkitError
from rnnkit.train.interrupt import StopRequest
from rnnkit.train.metrics import MetricsLog, plot_losses
from rnnkit.train.optim import build_optimizer, build_scheduler, clip_gradients
from rnnkit.train.streams import StreamBatcher, detach_state, eval_windows

LN2 = math.log(2)
# Why a run stopped early, least to most urgent (index = code shared between processes).
STOP_REASONS = (None, "max_seconds", "early_stop", "interrupted")


@dataclass
class FitResult:
    steps: int
    stopped: str                 # "max_steps", "max_seconds", "early_stop" or "interrupted"
    elapsed_s: float
    best_valid_loss: float       # nats per token (inf if never evaluated)
    last_valid_loss: float
    last_checkpoint: Path | None


def resolve_device(name: str, world: World | None = None) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RnnkitError("--device cuda: no CUDA device is available (try --device cpu)")
        return torch.device("cuda", world.rank % torch.cuda.device_count() if world else 0)
    return torch.device("cpu")


def _rows_of_state(state, dim_rows: slice):
    if isinstance(state, tuple):
        return tuple(s[:, dim_rows] for s in state)
    return state[:, dim_rows]


class Trainer:
    """Trains a model ``(x (T,B), state, carry_at) -> (logits (T,B,V), state)`` on token ids.

    ``run_dir`` receives checkpoints, metrics.jsonl and loss.png (rank 0 only);
    ``meta`` (plain dicts/lists) is stored in every checkpoint, e.g. the vocabulary.
    """

    def __init__(self, model: nn.Module, train_ids: torch.Tensor, valid_ids: torch.Tensor,
                 cfg: RunConfig, run_dir: Path | None, *, meta: dict | None = None,
                 world: World | None = None, progress: bool = True, unit: str = "char"):
        self.cfg, self.t = cfg, cfg.train
        self.world = world or World()
        self.device = resolve_device(self.t.device, self.world)
        self.model = model.to(self.device)
        self.ddp = self.model
        if self.world.active:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.ddp = DDP(self.model, device_ids=[self.device.index]
                           if self.device.type == "cuda" else None)
        self.valid_ids = valid_ids
        self.rows = self.world.rows(self.t.batch_size)
        try:
            self.batcher = StreamBatcher(train_ids, self.t.batch_size, self.t.seq_len,
                                         self.t.k1_steps, self.rows)
        except ValueError as e:
            raise RnnkitError(f"training text: {e}") from None
        self.opt = build_optimizer(self.model.parameters(), self.t)
        self.sched = build_scheduler(self.opt, self.t)
        self.run_dir, self.meta = run_dir, meta or {}
        self.progress, self.unit = progress, unit
        self.step, self.state = 0, None
        self.best, self.last_valid, self.bad_evals, self.elapsed_before = math.inf, math.inf, 0, 0.0

    # ---------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, ids: torch.Tensor | None = None, max_tokens: int | None = None) -> float:
        """Mean next-token cross-entropy (nats) over ``ids``, state carried throughout.
        Every process scores the whole text, so all agree without communication."""
        ids = self.valid_ids if ids is None else ids
        return evaluate_lm(self.model, ids, self.t.batch_size, self.t.seq_len, self.device,
                           max_tokens)

    # ---------------------------------------------------------------- checkpoints
    def _payload(self) -> dict:
        state = self.state
        if self.world.active and state is not None:  # every stream, in global row order
            state = (tuple(self.world.gather_rows(s, 1) for s in state)
                     if isinstance(state, tuple) else self.world.gather_rows(state, 1))
        return {
            "format": ckpt_io.FORMAT,
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict() if self.sched is not None else None,
            "rng": ckpt_io.capture_rng(),
            "step": self.step,
            "data": self.batcher.state_dict(),
            "state": list(state) if isinstance(state, tuple) else state,
            "state_is_tuple": isinstance(state, tuple),
            "loop": {"best": self.best, "last_valid": self.last_valid,
                     "bad_evals": self.bad_evals, "elapsed_s": self._elapsed()},
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
            raise ckpt_io.CheckpointError(f"{path}: does not match this model ({e})") from None
        self.step = int(ck["step"])
        self.batcher.load_state_dict(ck["data"])
        state = ck["state"]
        if state is not None:
            state = tuple(state) if ck["state_is_tuple"] else state
            state = _rows_of_state(state, self.rows)
            state = (tuple(s.to(self.device) for s in state) if isinstance(state, tuple)
                     else state.to(self.device))
        self.state = state
        loop = ck["loop"]
        self.best, self.last_valid = loop["best"], loop["last_valid"]
        self.bad_evals, self.elapsed_before = loop["bad_evals"], loop["elapsed_s"]
        ckpt_io.restore_rng(ck["rng"])

    # ---------------------------------------------------------------- training
    def _elapsed(self) -> float:
        return self.elapsed_before + (time.perf_counter() - self._t0)

    def train_step(self) -> tuple[float, float, bool]:
        """One TBPTT update. Returns (loss in nats/token, grad norm, clipped?)."""
        w = self.batcher.next()
        if w.fresh:
            self.state = None  # new epoch: streams restart from the beginning of the text
        x, y = w.x.to(self.device), w.y.to(self.device)
        k1 = self.t.k1_steps
        self.ddp.train()
        logits, carry = self.ddp(x, self.state, carry_at=k1)          # (k2, b, V)
        tail = logits[-k1:]                                            # (k1, b, V)
        loss = F.cross_entropy(tail.reshape(-1, tail.size(-1)), y[-k1:].reshape(-1))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        norm, clipped = clip_gradients(list(self.model.parameters()), self.t)
        self.opt.step()
        if self.sched is not None and self.t.schedule != "plateau":
            if self.t.schedule == "cosine" and self.t.schedule_clock == "time":
                self.sched.lr_lambdas[0].time_fraction = self.world.mean(
                    self._elapsed() / self.t.max_seconds)  # processes must agree on lr
            self.sched.step()
        self.state = detach_state(carry)
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
        self._t0 = time.perf_counter()
        by_time = t.schedule_clock == "time"  # time-bounded run: the bar counts seconds
        bar = _progress_bar(t.max_seconds if by_time else t.max_steps,
                            self.elapsed_before if by_time else self.step,
                            self.progress and self.world.is_main, "s" if by_time else "step")
        tokens_per_step = t.batch_size * t.k1_steps
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
                    rec = {"kind": "train", "step": self.step, "epoch": self.batcher.epoch,
                           "loss": window["loss"] / window["n"],
                           "bpc": window["loss"] / window["n"] / LN2,
                           "grad_norm": norm, "clipped": window["clipped"] / window["n"],
                           "lr": self.opt.param_groups[0]["lr"],
                           "tokens_per_s": tokens_per_step * window["n"] / (now - window["t"]),
                           "elapsed_s": self._elapsed()}
                    if log:
                        log.write(rec)
                    bar.set_postfix_str(self._postfix(rec), refresh=False)
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
        if self.run_dir is not None and self.world.is_main:
            plot_losses(self.run_dir / "metrics.jsonl", self.run_dir / "loss.png",
                        title=f"{self.cfg.recipe}: {self.cfg.model.cell}, "
                              f"{self.cfg.model.num_layers}x{self.cfg.model.hidden_size}")
        return FitResult(self.step, stopped, self._elapsed(), self.best, self.last_valid,
                         last_ckpt)

    def _stop_reason(self, interrupted: bool, should_stop) -> str | None:
        if interrupted or (should_stop is not None and should_stop(self.step)):
            return "interrupted"
        if self.t.max_seconds is not None and self._elapsed() >= self.t.max_seconds:
            return "max_seconds"
        return None

    def _validate(self, log: MetricsLog | None) -> bool:
        """Score the valid set, step plateau schedules, save best.pt; True = stop early."""
        v = self.evaluate(max_tokens=self.t.eval_tokens)
        self.last_valid = v
        improved = v < self.best
        if improved:
            self.best, self.bad_evals = v, 0
        else:
            self.bad_evals += 1
        if self.sched is not None and self.t.schedule == "plateau":
            self.sched.step(v)
        if log:
            log.write({"kind": "valid", "step": self.step, "valid_loss": v,
                       "valid_bpc": v / LN2, "best": improved})
        if improved:
            self.save("best.pt")
        return self.t.early_stop is not None and self.bad_evals >= self.t.early_stop

    def _postfix(self, rec: dict) -> str:
        metric = (f"ppl={math.exp(min(rec['loss'], 50)):.1f}" if self.unit == "word"
                  else f"bpc={rec['bpc']:.3f}")
        valid = "" if math.isinf(self.last_valid) else (
            f" valid={self.last_valid / LN2:.3f}" if self.unit == "char"
            else f" valid_ppl={math.exp(min(self.last_valid, 50)):.1f}")
        return (f"step {rec['step']} loss={rec['loss']:.3f} {metric}{valid} "
                f"{self.unit}s/s={rec['tokens_per_s']:,.0f}")


@torch.no_grad()
def evaluate_lm(model: nn.Module, ids: torch.Tensor, batch_size: int, seq_len: int,
                device: torch.device | str = "cpu", max_tokens: int | None = None) -> float:
    """Mean next-token cross-entropy (nats/token) of a TokenLM-style model over ``ids``."""
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    for x, y in eval_windows(ids, batch_size, seq_len, max_tokens):
        logits, state = model(x.to(device), state)                    # (t, b, V)
        total += float(F.cross_entropy(logits.reshape(-1, logits.size(-1)),
                                       y.to(device).reshape(-1), reduction="sum"))
        count += y.numel()
    model.train(was_training)
    return total / max(count, 1)


def _progress_bar(total: float, initial: float, enabled: bool, unit: str):
    from tqdm import tqdm

    fmt = "{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}{postfix}]"
    return tqdm(total=total, initial=initial, disable=not enabled, unit=unit,
                bar_format=fmt if unit == "s" else None,
                dynamic_ncols=True, file=sys.stderr, leave=True)
