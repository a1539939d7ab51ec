"""ONNX export of an RNN encoder-decoder (``models.seq2seq.Seq2Seq``, the translate recipe's
model) as two graphs in a folder, checked by greedy decoding in onnxruntime against PyTorch.

    encoder.onnx       src (B, S) int64, src_lengths (B,) int64 in [1, S]  ->  the state
    decoder_step.onnx  prev_tokens (B,) int64 (BOS first), the state  ->  log_probs (B, V),
                       next_<name> for each carried state tensor, attention (B, S) if any

    state tensor   shape           present                 carried (changes every step)
    memory         (B, S, H)       with attention          no
    mask           (B, S) bool     with attention          no
    keys           (B, S, K)       with attention          no
    state_h        (L, B, H)       always                  yes
    state_c, ...   (L, B, H)       LSTM (c), custom cells  yes
    feed           (B, H)          with input feeding      yes (h~ of the last step)

Batch and source length are dynamic. A greedy decoder runs the encoder once, then
decoder_step with the last output token and the state, each next_<name> replacing <name>,
until EOS (``OnnxSeq2Seq`` is that loop's state handling, run here through
``models.decoding.greedy_decode``). Beam search reorders the rows of every state tensor
(``Seq2SeqState.index_select``). Each file's metadata holds what ``export`` writes (kind,
recipe, checkpoint, the spec with both tokenizers) plus ``rnnkit.graph`` and
``rnnkit.state``, the state tensors' names in order.

The Transformer baseline (``--arch transformer``) is refused: its step carries a growing
target prefix and no attention weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from rnnkit.errors import ConfigError
from rnnkit.layers.quantize import float32_arithmetic
from rnnkit.layers.rnn import RNNBase
from rnnkit.models.decoding import greedy_decode, length_limits
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqState
from rnnkit.recipes.base import LoadedRun
from rnnkit.recipes.export import (
    TOLERANCE,
    Signature,
    export_onnx,
    require_packages,
    run_metadata,
    state_names,
)

FILES = ("encoder.onnx", "decoder_step.onnx")


@dataclass(frozen=True)
class Layout:
    """Which state tensors a model's decoder reads, in the graphs' order."""

    attention: bool
    states: tuple[str, ...]  # the decoder RNN's: ("h",), ("h", "c") or a cell's names
    feed: bool
    copy: bool = False       # the source ids travel with the state (pointer-generator)

    @classmethod
    def of(cls, model: Seq2Seq) -> Layout:
        return cls(model.attention is not None, state_names(model.decoder),
                   model.input_feeding, model.copy_gate is not None)

    @property
    def fixed(self) -> list[str]:
        """What the encoder makes once and every step reads unchanged."""
        return (["memory", "mask", "keys"] if self.attention else []) + \
            (["src_ids"] if self.copy else [])

    @property
    def carried(self) -> list[str]:
        return [f"state_{s}" for s in self.states] + (["feed"] if self.feed else [])

    @property
    def fields(self) -> list[str]:
        return self.fixed + self.carried

    def pack(self, state: Seq2SeqState) -> tuple[Tensor, ...]:
        """The state as the graphs' tensors, in ``fields`` order."""
        fixed = (state.memory, state.mask, state.keys) if self.attention else ()
        return (*fixed, *((state.src,) if self.copy else ()), *state.hidden,
                *((state.feed,) if self.feed else ()))

    def unpack(self, values) -> Seq2SeqState:
        values = list(values)
        memory, mask, keys = (values[:3] if self.attention else (None, None, None))
        src = values[len(self.fixed) - 1] if self.copy else None
        values = values[len(self.fixed):]
        n = len(self.states)
        return Seq2SeqState(memory, mask, keys, tuple(values[:n]),
                            values[n] if self.feed else None, src)

    def signatures(self) -> tuple[Signature, Signature]:
        """The encoder's and the decoder step's names and dynamic axes."""
        bs, b1 = {0: "batch", 1: "source"}, {1: "batch"}
        axes = {"src": bs, "src_lengths": {0: "batch"}, "prev_tokens": {0: "batch"},
                "memory": bs, "mask": bs, "keys": bs, "src_ids": bs, "feed": {0: "batch"},
                "log_probs": {0: "batch"}, "attention": bs, "next_feed": {0: "batch"}}
        axes |= {f"{p}state_{s}": b1 for s in self.states for p in ("", "next_")}
        names = ((["src", "src_lengths"], self.fields),
                 (["prev_tokens", *self.fields],
                  ["log_probs", *(f"next_{n}" for n in self.carried),
                   *(["attention"] if self.attention else [])]))
        enc, dec = (Signature(i, o, {n: axes[n] for n in i + o if n in axes}) for i, o in names)
        return enc, dec


class EncoderGraph(nn.Module):
    """(src (B, S), src_lengths (B,)) -> the state tensors (``Layout.fields``)."""

    def __init__(self, model: Seq2Seq):
        super().__init__()
        self.model, self.layout = model, Layout.of(model)

    def forward(self, src: Tensor, src_lengths: Tensor):
        return self.layout.pack(self.model.encode(src, src_lengths))


class DecoderStepGraph(nn.Module):
    """(prev_tokens (B,), *state) -> (log_probs (B, V), *next carried state[, attention])."""

    def __init__(self, model: Seq2Seq):
        super().__init__()
        self.model, self.layout = model, Layout.of(model)

    def forward(self, prev_tokens: Tensor, *state: Tensor):
        log_probs, new, a = self.model.decode_step(prev_tokens, self.layout.unpack(state))
        carried = self.layout.pack(new)[len(self.layout.fixed):]
        return (log_probs, *carried, *((a,) if a is not None else ()))


class OnnxSeq2Seq:
    """The two exported graphs in onnxruntime behind ``Seq2Seq``'s decoding interface
    (encode, decode_step, reorder_state and the ids), so ``models.decoding`` runs on them."""

    def __init__(self, folder: Path, layout: Layout, pad_id: int, bos_id: int, eos_id: int):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only: its notes on unused initialisers are noise
        self.encoder, self.decoder = (
            ort.InferenceSession(str(folder / f), opts, providers=["CPUExecutionProvider"])
            for f in FILES)
        self.layout, self.pad_id, self.bos_id, self.eos_id = layout, pad_id, bos_id, eos_id

    def encode(self, src: Tensor, src_lengths: Tensor) -> Seq2SeqState:
        out = self.encoder.run(self.layout.fields, {"src": src.numpy(),
                                                    "src_lengths": src_lengths.numpy()})
        return self.layout.unpack(torch.from_numpy(x) for x in out)

    def decode_step(self, prev_tokens: Tensor, state: Seq2SeqState):
        lay, values = self.layout, self.layout.pack(state)
        feed = {"prev_tokens": prev_tokens.numpy()} | {
            n: t.numpy() for n, t in zip(lay.fields, values, strict=True)}
        out = [torch.from_numpy(x) for x in self.decoder.run(None, feed)]
        k = len(lay.carried)  # out: log_probs, next carried state, attention if any
        fixed = values[:len(lay.fixed)]
        attn = out[1 + k] if lay.attention else None
        return out[0], lay.unpack((*fixed, *out[1:1 + k])), attn

    def reorder_state(self, state: Seq2SeqState, index: Tensor) -> Seq2SeqState:
        return state.index_select(index)


class Recorded:
    """A decoding model that keeps every step's log-probabilities (N, V)."""

    def __init__(self, model):
        self.model, self.log_probs = model, []
        self.pad_id, self.bos_id, self.eos_id = model.pad_id, model.bos_id, model.eos_id

    def encode(self, src, src_lengths):
        return self.model.encode(src, src_lengths)

    def decode_step(self, prev_tokens, state):
        log_probs, state, attn = self.model.decode_step(prev_tokens, state)
        self.log_probs.append(log_probs)
        return log_probs, state, attn

    def reorder_state(self, state, index):
        return self.model.reorder_state(state, index)


@dataclass
class DecodeCheck:
    batch: int
    steps: int          # source length (padded)
    decoded: int        # decoder steps run
    max_abs_diff: float  # max |log-prob| difference over every step's (N, V)


def example_sources(model: Seq2Seq, batch: int, steps: int, gen: torch.Generator
                    ) -> tuple[Tensor, Tensor]:
    """Random source ids (B, S), padded past random lengths in [1, S]; the first is full."""
    V = model.src_embed.num_embeddings
    lengths = torch.randint(1, steps + 1, (batch,), generator=gen)
    lengths[0] = steps
    src = torch.randint(_first_word(V), V, (batch, steps), generator=gen)
    src[torch.arange(steps)[None, :] >= lengths[:, None]] = model.pad_id
    return src, lengths


def _first_word(vocab_size: int) -> int:
    """The first id past pad, BOS, EOS and UNK (``models.translation``), if there is one."""
    return 4 if vocab_size > 4 else 0


def check_decoding(folder: Path, model: Seq2Seq, sources: list[tuple[Tensor, Tensor]],
                   tolerance: float = TOLERANCE) -> list[DecodeCheck]:
    """Greedy decoding of each source batch with the exported graphs in onnxruntime and
    with ``model``: ConfigError naming the case unless the tokens are identical and every
    step's log-probabilities within ``tolerance``."""
    require_packages()
    ids = {k: getattr(model, k) for k in ("pad_id", "bos_id", "eos_id")}
    onnx_model = OnnxSeq2Seq(folder, Layout.of(model), **ids)
    checks = []
    for src, lengths in sources:
        B, S = src.shape
        limits = length_limits(lengths)
        got, want = Recorded(onnx_model), Recorded(model)
        try:
            hyps = greedy_decode(got, src, lengths, limits)
        except Exception as e:  # onnxruntime's own error types: say which case failed
            raise ConfigError(f"{folder}: onnxruntime cannot decode batch {B}, {S} source "
                              f"tokens: {str(e).splitlines()[0]}") from None
        ref = greedy_decode(want, src, lengths, limits)
        for b, (h, r) in enumerate(zip(hyps, ref, strict=True)):
            if h.tokens != r.tokens:
                raise ConfigError(f"{folder}: greedy decoding differs in sentence {b} of batch "
                                  f"{B}, {S} source tokens: {h.tokens} in onnxruntime, "
                                  f"{r.tokens} in PyTorch")
        assert len(got.log_probs) == len(want.log_probs)  # same tokens: same steps and rows
        diff = max(float((g - w).abs().max())
                   for g, w in zip(got.log_probs, want.log_probs, strict=True))
        if not diff <= tolerance:
            raise ConfigError(f"{folder}: onnxruntime and PyTorch log-probabilities differ by "
                              f"{diff:.3g} > {tolerance:g} (batch {B}, {S} source tokens)")
        checks.append(DecodeCheck(B, S, len(want.log_probs), diff))
    return checks


def export_run(run: LoadedRun, folder: str | Path, exporter: str = "dynamo",
               tolerance: float = TOLERANCE, seed: int = 0) -> list[DecodeCheck]:
    """Write a translation run's encoder.onnx and decoder_step.onnx into ``folder`` and
    check greedy decoding with them on source batches of two other sizes than the export
    example's."""
    require_packages()
    folder = Path(folder)
    if run.kind != "translator":
        raise ConfigError(f"{run.file}: a {run.kind} run exports to one file "
                          "(recipes.export.export_run)")
    model = run.model
    if not isinstance(model, Seq2Seq):
        raise ConfigError(f"{run.file}: the Transformer baseline does not export yet (its "
                          "decoder step carries a growing target prefix); RNN "
                          "encoder-decoders do")
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file: a translation run exports {FILES[0]} and "
                          f"{FILES[1]} into a folder (-o DIR)")
    for m in model.modules():
        if isinstance(m, RNNBase):
            m.backend = "auto"  # a run trained on "native" exports through torch operators
    model.eval()
    layout = Layout.of(model)
    enc_sig, dec_sig = layout.signatures()
    gen = torch.Generator().manual_seed(seed)
    src, lengths = example_sources(model, 2, 7, gen)
    with torch.no_grad():  # a decoder example after one step: feed and states non-zero
        _, state, _ = model.decode_step(torch.full((2,), model.bos_id), model.encode(src,
                                                                                    lengths))
    V = model.generator.out_features
    prev = torch.randint(_first_word(V), V, (2,), generator=gen)
    meta = run_metadata(run) | {"rnnkit.state": json.dumps(layout.fields)}
    folder.mkdir(parents=True, exist_ok=True)
    for graph, sig, example, name in (
            (EncoderGraph(model), enc_sig, (src, lengths), FILES[0]),
            (DecoderStepGraph(model), dec_sig, (prev, *layout.pack(state)), FILES[1])):
        export_onnx(graph.eval(), sig, example, folder / name, exporter,
                    meta | {"rnnkit.graph": name.removesuffix(".onnx")})
    cases = [example_sources(model, b, s, gen) for b, s in ((3, 9), (5, 14))]
    with float32_arithmetic(model):  # as the graphs compute a quantised model
        return check_decoding(folder, model, cases, tolerance)
