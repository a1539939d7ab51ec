"""What the one training loop trains on: a ``Task`` supplies batches, the loss and the
evaluation; the loop (``loop.Trainer``) owns everything else (optimiser, clipping,
schedules, checkpoints, metrics, diagnostics, data parallelism, stopping).

    class MyTask(Task):
        unit = "seq"                          # what the throughput figure counts
        def bind(self, device, world): ...    # called once by the Trainer
        def train_loss(self, model): ...      # one batch -> scalar loss tensor (mean)
        def evaluate(self, model): ...        # {"loss": ..., other metrics}; lower loss = better
        def state_dict(self): ...             # data position etc.: part of every checkpoint
        def load_state_dict(self, d): ...

Three tasks cover the recipes: ``LMTask`` (stateful truncated BPTT over parallel text
streams), ``BatchTask`` (a finite labelled set, reshuffled every epoch) and
``GeneratedTask`` (fresh batches from a seeded generator, as the memory benchmarks use).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import RnnkitError
from rnnkit.train.distributed import World
from rnnkit.train.streams import StreamBatcher, detach_state, eval_windows

LN2 = math.log(2)


class Task:
    """Base class: batches, loss and evaluation for ``Trainer`` (see the module docstring)."""

    unit = "seq"          # throughput unit: "char", "word", "seq", ...
    items_per_step = 1    # units consumed by one update (global, across processes)
    epoch = 0
    # The validation metric (lower is better) that picks best.pt and stops early: the loss,
    # unless what users read differs from it (a recogniser's character error rate).
    select_by = "loss"

    def bind(self, device: torch.device, world: World) -> None:
        self.device, self.world = device, world

    def train_loss(self, model: nn.Module) -> Tensor:
        raise NotImplementedError

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {"epoch": self.epoch}

    def load_state_dict(self, d: dict) -> None:
        self.epoch = int(d["epoch"])

    def train_fields(self, loss: float) -> dict[str, float]:
        """Extra numbers for a training metrics line (e.g. bits per character)."""
        return {}

    def describe(self, loss: float, valid: dict[str, float] | None) -> str:
        """The progress bar's summary of the latest training loss and evaluation."""
        text = f"loss={loss:.4g}"
        for k, v in (valid or {}).items():
            text += f" valid_{k}={v:.4g}"
        return text


class LMTask(Task):
    """Next-token prediction on a token-id sequence with stateful truncated BPTT.

    The model maps ``(x (T, B), state, carry_at) -> (logits (T, B, V), state)``. One update
    reads a (k2, b) window from each of this process's b streams, scores the last k1
    positions, and carries the state after k1 steps (detached) to the next window.
    """

    def __init__(self, train_ids: Tensor, valid_ids: Tensor, batch_size: int, seq_len: int,
                 k1: int, *, eval_tokens: int | None = None, unit: str = "char"):
        self.train_ids, self.valid_ids = train_ids, valid_ids
        self.batch_size, self.seq_len, self.k1 = batch_size, seq_len, k1
        self.eval_tokens, self.unit = eval_tokens, unit
        self.items_per_step = batch_size * k1
        self.state = None

    def bind(self, device: torch.device, world: World) -> None:
        super().bind(device, world)
        self.rows = world.rows(self.batch_size)
        try:
            self.batcher = StreamBatcher(self.train_ids, self.batch_size, self.seq_len,
                                         self.k1, self.rows)
        except ValueError as e:
            raise RnnkitError(f"training text: {e}") from None

    @property
    def epoch(self) -> int:
        return self.batcher.epoch

    def train_loss(self, model: nn.Module) -> Tensor:
        w = self.batcher.next()
        if w.fresh:
            self.state = None  # new epoch: streams restart from the beginning of the text
        x, y = w.x.to(self.device), w.y.to(self.device)
        logits, carry = model(x, self.state, carry_at=self.k1)         # (k2, b, V)
        tail = logits[-self.k1:]                                        # (k1, b, V)
        self.state = detach_state(carry)
        return F.cross_entropy(tail.reshape(-1, tail.size(-1)), y[-self.k1:].reshape(-1))

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        nats = evaluate_lm(model, self.valid_ids, self.batch_size, self.seq_len, self.device,
                           self.eval_tokens)
        return {"loss": nats, "bpc": nats / LN2}

    def state_dict(self) -> dict:
        """Data position and the carried hidden state of every stream (collective: under
        data parallelism the rows of all processes are gathered, in global order)."""
        state = self.state
        if self.world.active and state is not None:
            state = (tuple(self.world.gather_rows(s, 1) for s in state)
                     if isinstance(state, tuple) else self.world.gather_rows(state, 1))
        return {"data": self.batcher.state_dict(),
                "state": list(state) if isinstance(state, tuple) else state,
                "state_is_tuple": isinstance(state, tuple)}

    def load_state_dict(self, d: dict) -> None:
        self.batcher.load_state_dict(d["data"])
        state = d["state"]
        if state is not None:
            state = tuple(state) if d["state_is_tuple"] else state
            state = (tuple(s[:, self.rows].to(self.device) for s in state)
                     if isinstance(state, tuple) else state[:, self.rows].to(self.device))
        self.state = state

    def train_fields(self, loss: float) -> dict[str, float]:
        return {"bpc": loss / LN2}

    def describe(self, loss: float, valid: dict[str, float] | None) -> str:
        if self.unit == "word":
            text = f"loss={loss:.3f} ppl={math.exp(min(loss, 50)):.1f}"
            return text + (f" valid_ppl={math.exp(min(valid['loss'], 50)):.1f}" if valid else "")
        text = f"loss={loss:.3f} bpc={loss / LN2:.3f}"
        return text + (f" valid={valid['loss'] / LN2:.3f}" if valid else "")


class BatchTask(Task):
    """A finite training set of examples, reshuffled every epoch with a seeded generator.

    ``collate(examples) -> batch`` builds a batch from a list of examples,
    ``loss(model, batch) -> scalar`` scores it, and ``metrics(model, batches) -> dict``
    evaluates the model on the validation batches (default: the mean loss, weighted by
    batch size). Under data parallelism each process takes its share of every global batch.

    ``lengths`` (one per training example) buckets the batches: each epoch's shuffled order
    is cut into spans of ``BUCKET_SPAN`` batches, sorted by length within a span, cut into
    batches and the batches shuffled, so a batch pads little (speech: clips of 1-10 s) and
    the order is still random. Validation batches are taken in order, unbucketed.
    """

    BUCKET_SPAN = 50  # batches per sorting span: wide enough to pad little, narrow enough to mix

    def __init__(self, train: Sequence, valid: Sequence, batch_size: int,
                 collate: Callable[[list], object], loss: Callable[[nn.Module, object], Tensor],
                 *, seed: int = 0, metrics: Callable[[nn.Module, list], dict] | None = None,
                 drop_last: bool = False, lengths: Sequence[int] | None = None):
        if len(train) == 0:
            raise RnnkitError("the training set is empty")
        if lengths is not None and len(lengths) != len(train):
            raise ValueError(f"lengths has {len(lengths)} entries for {len(train)} examples")
        self.lengths = None if lengths is None else [int(n) for n in lengths]
        self.train, self.valid = train, valid
        self.batch_size, self.collate, self.loss = batch_size, collate, loss
        self.metrics, self.drop_last = metrics, drop_last
        self.items_per_step = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch, self.pos, self.order = 0, 0, self._shuffle()

    def _shuffle(self) -> list[int]:
        order = torch.randperm(len(self.train), generator=self.generator).tolist()
        if self.lengths is None:
            return order
        bs, span = self.batch_size, self.batch_size * self.BUCKET_SPAN
        batches = []
        for i in range(0, len(order), span):
            chunk = sorted(order[i:i + span], key=lambda k: self.lengths[k])  # stable
            batches += [chunk[j:j + bs] for j in range(0, len(chunk), bs)]
        full = [b for b in batches if len(b) == bs]
        rest = [k for b in batches if len(b) < bs for k in b]  # short ends, last: batch
        perm = torch.randperm(len(full), generator=self.generator).tolist()  # boundaries stay
        return [k for j in perm for k in full[j]] + sorted(rest, key=lambda k: self.lengths[k])

    def _next_indices(self) -> list[int]:
        n = len(self.train)
        end = min(self.pos + self.batch_size, n)
        if self.drop_last and end - self.pos < self.batch_size and self.pos > 0:
            self.epoch, self.pos, self.order = self.epoch + 1, 0, self._shuffle()
            end = min(self.batch_size, n)
        idx = self.order[self.pos:end]
        self.pos = end
        if self.pos >= n:
            self.epoch, self.pos, self.order = self.epoch + 1, 0, self._shuffle()
        return idx

    def _my_share(self, idx: list[int]) -> list[int]:
        if not self.world.active:
            return idx
        return idx[self.world.rank::self.world.size]

    def train_loss(self, model: nn.Module) -> Tensor:
        batch = to_device(self.collate([self.train[i] for i in self._my_share(
            self._next_indices())]), self.device)
        return self.loss(model, batch)

    def valid_batches(self) -> list:
        """The validation set in order, as device batches of ``batch_size``."""
        return ordered_batches(self.valid, self.batch_size, self.collate, self.device)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        was_training = model.training
        model.eval()
        try:
            batches = self.valid_batches()
            if self.metrics is not None:
                return self.metrics(model, batches)
            total = sum(float(self.loss(model, b)) * batch_len(b) for b in batches)
            return {"loss": total / max(sum(batch_len(b) for b in batches), 1)}
        finally:
            model.train(was_training)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos, "order": list(self.order),
                "generator": self.generator.get_state()}

    def load_state_dict(self, d: dict) -> None:
        self.epoch, self.pos, self.order = int(d["epoch"]), int(d["pos"]), list(d["order"])
        self.generator.set_state(d["generator"])


class GeneratedTask(Task):
    """Fresh training batches from ``make_batch(n, generator)`` (seeded; its state is in
    every checkpoint), scored by ``loss(model, batch)``; evaluation on a fixed set drawn once
    from its own seed, by ``metrics(model, batch)`` (default: the loss)."""

    def __init__(self, make_batch: Callable[[int, torch.Generator], object],
                 loss: Callable[[nn.Module, object], Tensor], batch_size: int, *,
                 valid_size: int = 1000, seed: int = 0,
                 metrics: Callable[[nn.Module, object], dict] | None = None):
        self.make_batch, self.loss, self.metrics = make_batch, loss, metrics
        self.batch_size, self.items_per_step = batch_size, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.valid = make_batch(valid_size, torch.Generator().manual_seed(seed + 1_000_003))
        self.steps = 0

    def bind(self, device: torch.device, world: World) -> None:
        super().bind(device, world)
        self.valid_on_device = to_device(self.valid, device)

    def train_loss(self, model: nn.Module) -> Tensor:
        batch = self.make_batch(self.batch_size, self.generator)
        if self.world.active:  # every process draws the global batch and keeps its rows
            batch = take_rows(batch, self.world.rows(self.batch_size))
        self.steps += 1
        return self.loss(model, to_device(batch, self.device))

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        was_training = model.training
        model.eval()
        try:
            if self.metrics is not None:
                return self.metrics(model, self.valid_on_device)
            return {"loss": float(self.loss(model, self.valid_on_device))}
        finally:
            model.train(was_training)

    def state_dict(self) -> dict:
        return {"epoch": 0, "steps": self.steps, "generator": self.generator.get_state()}

    def load_state_dict(self, d: dict) -> None:
        self.steps = int(d["steps"])
        self.generator.set_state(d["generator"])


def ordered_batches(items: Sequence, batch_size: int, collate: Callable[[list], object],
                    device) -> list:
    """``items`` in order, ``collate``d into batches of ``batch_size`` on ``device``: how a
    set is scored (validation, test, a user's file)."""
    return [to_device(collate([items[j] for j in range(i, min(i + batch_size, len(items)))]),
                      device) for i in range(0, len(items), batch_size)]


def to_device(batch, device: torch.device):
    """Move a tensor, or a tuple/list/dict of them, to ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def batch_len(batch) -> int:
    """Number of examples in a batch: the first dimension of its first tensor (batch-first)."""
    first = batch
    while isinstance(first, (tuple, list)):
        first = first[0]
    if isinstance(first, dict):
        first = next(iter(first.values()))
    return int(first.shape[0])


def take_rows(batch, rows: slice):
    """Rows of a batch-first batch (tensor or tuple of tensors) for one process."""
    if isinstance(batch, Tensor):
        return batch[rows]
    return type(batch)(take_rows(b, rows) for b in batch)


@torch.no_grad()
def evaluate_lm(model: nn.Module, ids: Tensor, batch_size: int, seq_len: int,
                device: torch.device | str = "cpu", max_tokens: int | None = None) -> float:
    """Mean next-token cross-entropy (nats/token) of a TokenLM-style model over ``ids``,
    state carried throughout. Every process scores the whole text, so all agree."""
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
