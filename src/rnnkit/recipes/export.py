"""ONNX export of a run's model, checked in onnxruntime against PyTorch.

Each kind of model gets a module with a fixed signature; the batch and time axes are dynamic
and variable lengths come as a padded batch plus ``lengths`` (rnnkit's masking, no packing):

    kind         inputs                                          outputs
    vocab        tokens (T, B) int64, state_h (L*D, B, H)        logits (T, B, V), h_n[, c_n]
                 [, state_c]: zeros at the start of a text        (the state to carry on)
    classifier   inputs (B, T) int64 or (B, T, F) float,          logits (B, C)
                 lengths (B,) int64
    tagger       as classifier                                    logits (B, T, K)
    music        rolls (T, B, K) float in {0, 1}, lengths (B,)   log_prob (T, B): log p(v_t |
                                                                  v_<t), 0 past each length
    recogniser   features (B, T, F) float (normalised log-mel,    log_probs (B, T', V+1) over
                 the spec's ``features``), lengths (B,)           blank + alphabet, out_lengths
                                                                  (B,) (T' = ceil(T / stack))
    translator   two graphs in a folder, encoder.onnx and decoder_step.onnx: the RNN
                 encoder-decoder's encode and decode_step (``export_seq2seq``)

While exporting, rnnkit's layers run a backend made of torch operators (``backends``): the
dynamo-based exporter gets the reference backend's time loop as one scan op (an ONNX Scan),
the TorchScript-based one torch's fused kernels (ONNX LSTM/GRU/RNN nodes). The ONNX file's
metadata holds the kind, the recipe and the checkpoint's spec (vocabulary, classes).
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from rnnkit.errors import ConfigError, unknown_name
from rnnkit.layers.custom import CustomRNN
from rnnkit.layers.quantize import float32_arithmetic
from rnnkit.layers.rnn import RNNBase
from rnnkit.models.sequence import length_mask
from rnnkit.recipes.base import KIND_NAMES, LoadedRun

EXTRA = "pip install 'rnnkit[export]'"
PACKAGES = ("onnx", "onnxscript", "onnxruntime")
EXPORTERS = ("dynamo", "torchscript")  # torch.onnx.export(dynamo=True | False)
OPSET = 18  # onnxruntime 1.31 runs it; both exporters write it (dynamo's own default)
TOLERANCE = 1e-4  # max |onnxruntime - PyTorch| on float32 outputs (measured: ~1e-6)


def require_packages() -> None:
    """Import the export extra's packages, or say in one line how to install them."""
    for name in PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            raise ConfigError(f"ONNX export needs {', '.join(PACKAGES)} ({name} is missing): "
                              f"{EXTRA}") from None


# ---- modules with fixed signatures, one per kind --------------------------------------------

def state_names(rnn: nn.Module) -> tuple[str, ...]:
    """The states a recurrent layer carries: ("h",), ("h", "c") or a GatedCell's names."""
    if isinstance(rnn, CustomRNN):
        return tuple(rnn.cell.states)
    return ("h", "c") if rnn.mode == "LSTM" else ("h",)


class LanguageModelGraph(nn.Module):
    """TokenLM: (tokens (T, B), *state) -> (logits (T, B, V), *final state)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor, *state: Tensor):
        logits, final = self.model(tokens, state[0] if len(state) == 1 else state)
        return (logits, *final) if isinstance(final, tuple) else (logits, final)


class SequenceGraph(nn.Module):
    """SequenceClassifier or SequenceTagger: (inputs, lengths) -> logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        m = self.model
        if getattr(m, "pooling", None) != "steps":
            return m(inputs, lengths)
        # pool() first checks that every sequence reaches the pooled steps, a test of the
        # lengths' values that torch.export cannot record; the graph pools without it.
        out, _, _ = m.encoder(inputs, lengths)                 # (B, T, D*H)
        return m.head(m.drop(out[:, list(m.pool_steps)].flatten(1)))


class MusicGraph(nn.Module):
    """PianoRollModel's frame RNN: (rolls (T, B, K), lengths (B,)) -> log_prob (T, B).

    The model's forward scores only the valid frames (``out[mask] = ...``), a count that
    depends on the lengths' values; the graph scores every frame and zeroes the padded ones.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, rolls: Tensor, lengths: Tensor) -> Tensor:
        T, B, K = rolls.shape
        ctx = self.model.contexts(rolls[:-1])[0]                               # (T, B, H)
        ctx, frames = ctx.reshape(T * B, -1), rolls.reshape(T * B, K)
        lp = self.model.head.log_prob(ctx, frames)                             # (T*B,)
        mask = length_mask(lengths, T).T                                       # (T, B)
        return torch.where(mask, lp.reshape(T, B), 0)


class RecogniserGraph(nn.Module):
    """CTCModel: (features (B, T, F), lengths (B,)) -> (log_probs (B, T', V+1), out_lengths
    (B,)); audio to features stays outside the graph (the metadata's spec says how)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, features: Tensor, lengths: Tensor):
        return self.model(features, lengths)


GRAPHS = {"vocab": LanguageModelGraph, "classifier": SequenceGraph, "tagger": SequenceGraph,
          "music": MusicGraph, "recogniser": RecogniserGraph}


# ---- example inputs and axes per kind --------------------------------------------------------

@dataclass
class Signature:
    """Input and output names of a graph, and which of their axes are batch and time."""

    inputs: list[str]
    outputs: list[str]
    axes: dict[str, dict[int, str]]  # name -> {axis: "batch" | "time"}
    shortest: int = 1  # the fewest steps a sequence may have (pooled steps must exist)


def signature(kind: str, model: nn.Module) -> Signature:
    if kind == "vocab":
        names = state_names(model.rnn)
        bt = {0: "time", 1: "batch"}
        axes = {"tokens": bt, "logits": bt}
        axes |= {f"state_{s}": {1: "batch"} for s in names}
        axes |= {f"{s}_n": {1: "batch"} for s in names}
        return Signature(["tokens", *(f"state_{s}" for s in names)],
                         ["logits", *(f"{s}_n" for s in names)], axes)
    if kind == "recogniser":
        return Signature(["features", "lengths"], ["log_probs", "out_lengths"],
                         {"features": {0: "batch", 1: "time"}, "lengths": {0: "batch"},
                          "log_probs": {0: "batch", 1: "steps"},
                          "out_lengths": {0: "batch"}})
    if kind == "music":
        return Signature(["rolls", "lengths"], ["log_prob"],
                         {"rolls": {0: "time", 1: "batch"}, "lengths": {0: "batch"},
                          "log_prob": {0: "time", 1: "batch"}})
    shortest = max(model.pool_steps) + 1 if getattr(model, "pooling", None) == "steps" else 1
    out = {0: "batch"} if kind == "classifier" else {0: "batch", 1: "time"}
    return Signature(["inputs", "lengths"], ["logits"],
                     {"inputs": {0: "batch", 1: "time"}, "lengths": {0: "batch"},
                      "logits": out}, shortest)


def example_inputs(kind: str, model: nn.Module, batch: int, steps: int,
                   gen: torch.Generator) -> tuple[Tensor, ...]:
    """Random inputs of ``batch`` sequences padded to ``steps``; the first is full length."""
    shortest = signature(kind, model).shortest
    lengths = torch.randint(shortest, steps + 1, (batch,), generator=gen)
    lengths[0] = steps
    if kind == "vocab":
        rnn = model.rnn
        layers = rnn.num_layers * rnn.num_directions
        sizes = [getattr(rnn, "proj_size", 0) or rnn.hidden_size] + \
            [rnn.hidden_size] * (len(state_names(rnn)) - 1)
        tokens = torch.randint(model.embed.num_embeddings, (steps, batch), generator=gen)
        # Non-zero states: the graph must read them, not assume a fresh start.
        return tokens, *(0.1 * torch.randn(layers, batch, n, generator=gen) for n in sizes)
    if kind == "music":
        rolls = (torch.rand(steps, batch, model.keys, generator=gen) < 0.1).float()
        return rolls, lengths
    if kind == "recogniser":
        return torch.randn(batch, steps, model.num_features, generator=gen), lengths
    enc = model.encoder
    if enc.vocab_size is not None:
        inputs = torch.randint(enc.vocab_size, (batch, steps), generator=gen)
    else:
        inputs = torch.randn(batch, steps, enc.num_features, generator=gen)
    return inputs, lengths


# ---- export and check ------------------------------------------------------------------------

def graph_of(run: LoadedRun) -> tuple[nn.Module, Signature]:
    """The run's model wrapped for export, every rnnkit layer on backend "auto"."""
    if run.kind not in GRAPHS:
        what = ("an encoder-decoder exports as two graphs into a folder "
                "(recipes.export_seq2seq)" if run.kind == "translator"
                else f"exporting {KIND_NAMES.get(run.kind, run.kind)} models is not "
                     "supported yet")
        raise ConfigError(f"{run.file}: {what} (exportable: language-model, classifier, "
                          "tagger, music, speech-recognition and translation runs)")
    for m in run.model.modules():
        if isinstance(m, RNNBase):
            m.backend = "auto"  # a run trained on "native" exports through torch operators
    return GRAPHS[run.kind](run.model).eval(), signature(run.kind, run.model)


def export_onnx(graph: nn.Module, sig: Signature, example: tuple[Tensor, ...], path: Path,
                exporter: str = "dynamo", metadata: dict[str, str] | None = None) -> Path:
    """Write ``graph`` to ``path`` as ONNX with dynamic batch and time axes."""
    require_packages()
    if exporter not in EXPORTERS:
        raise ConfigError(unknown_name("exporter", exporter, EXPORTERS))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kw = dict(input_names=sig.inputs, output_names=sig.outputs, opset_version=OPSET)
    # The dynamo exporter logs that torchvision's ops are skipped when it is not installed.
    quiet = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        _export(graph, sig, example, path, exporter, kw)
    finally:
        quiet.setLevel(level)
    if metadata:
        import onnx

        model = onnx.load(str(path))
        onnx.helper.set_model_props(model, metadata)
        onnx.save(model, str(path))
    return path


def run_metadata(run: LoadedRun) -> dict[str, str]:
    """What an exported file says about its run: kind, recipe, checkpoint and spec."""
    return {"rnnkit.kind": run.kind, "rnnkit.recipe": str(run.config.recipe),
            "rnnkit.checkpoint": run.file.name,
            "rnnkit.spec": json.dumps(run.spec, default=str)}


def dynamo_shapes(graph: nn.Module, sig: Signature) -> list:
    """torch.export's dynamic_shapes for ``graph``'s inputs: one Dim per axis name of
    ``sig.axes``, the inputs a ``*state`` parameter collects grouped as one tuple."""
    names = {n for name in sig.inputs for n in sig.axes.get(name, {}).values()}
    dims = {n: torch.export.Dim(n) for n in sorted(names)}
    shapes = [{a: dims[n] for a, n in sig.axes.get(name, {}).items()} or None
              for name in sig.inputs]
    params = list(inspect.signature(graph.forward).parameters.values())
    if params and params[-1].kind is inspect.Parameter.VAR_POSITIONAL:
        fixed = len(params) - 1
        shapes = [*shapes[:fixed], tuple(shapes[fixed:])]
    return shapes


def _export(graph, sig: Signature, example, path: Path, exporter: str, kw: dict) -> None:
    with warnings.catch_warnings():
        # torch's notices about its own exporters, not about this model: the legacy
        # exporter's deprecation, its tracer's Python-value notes (the check below runs the
        # graph on other shapes) and its batch-size caution for RNN states (ours are inputs
        # or zeros of the input's batch).
        warnings.filterwarnings("ignore", "You are using the legacy TorchScript",
                                DeprecationWarning)
        warnings.filterwarnings("ignore", "The feature will be removed", DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", "Exporting a model to ONNX with a batch_size",
                                UserWarning)
        warnings.filterwarnings("ignore", "# The axis name", UserWarning)  # named once: fine
        # torch.export deep-copies its own pytree specs and warns about their old class.
        warnings.filterwarnings("ignore", r"`isinstance\(treespec, LeafSpec\)`", FutureWarning)
        with torch.no_grad():
            if exporter == "dynamo":
                torch.onnx.export(graph, example, str(path), dynamo=True, verbose=False,
                                  dynamic_shapes=dynamo_shapes(graph, sig),
                                  external_data=False, **kw)
            else:
                axes = {name: dict(a) for name, a in sig.axes.items()}
                torch.onnx.export(graph, example, str(path), dynamo=False,
                                  dynamic_axes=axes, **kw)


@dataclass
class Check:
    batch: int
    steps: int
    max_abs_diff: float


def check_onnx(path: Path, graph: nn.Module, sig: Signature, inputs: list[tuple[Tensor, ...]],
               tolerance: float = TOLERANCE) -> list[Check]:
    """Run the ONNX file in onnxruntime on each input tuple and compare with ``graph``.

    Raises ConfigError naming the case when outputs differ by more than ``tolerance`` (or
    onnxruntime cannot run it); returns the largest difference of each case.
    """
    require_packages()
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only: its notes on unused initialisers are noise
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    fed = [i.name for i in session.get_inputs()]
    checks = []
    for args in inputs:
        first = args[0]
        batch_axis = next(a for a, n in sig.axes[sig.inputs[0]].items() if n == "batch")
        batch, steps = first.shape[batch_axis], first.shape[1 - batch_axis]
        feed = {n: t.numpy() for n, t in zip(sig.inputs, args, strict=True) if n in fed}
        try:
            got = session.run(sig.outputs, feed)
        except Exception as e:  # onnxruntime's own error types: say which case failed
            raise ConfigError(f"{path}: onnxruntime cannot run batch {batch}, {steps} steps: "
                              f"{str(e).splitlines()[0]}") from None
        with torch.no_grad():
            want = graph(*args)
        want = want if isinstance(want, tuple) else (want,)
        diff = 0.0
        for name, g, w in zip(sig.outputs, got, want, strict=True):
            if tuple(g.shape) != tuple(w.shape):
                raise ConfigError(f"{path}: output {name} has shape {tuple(g.shape)} in "
                                  f"onnxruntime, {tuple(w.shape)} in PyTorch (batch {batch}, "
                                  f"{steps} steps)")
            diff = max(diff, float((torch.from_numpy(g) - w).abs().max()))
        if not diff <= tolerance:
            raise ConfigError(f"{path}: onnxruntime and PyTorch differ by {diff:.3g} > "
                              f"{tolerance:g} (batch {batch}, {steps} steps)")
        checks.append(Check(batch, steps, diff))
    return checks


def export_run(run: LoadedRun, path: str | Path, exporter: str = "dynamo",
               tolerance: float = TOLERANCE, seed: int = 0) -> list[Check]:
    """Export a loaded run's model to ``path`` and check it on two other batch sizes and
    lengths than the export example's (padded batches with varied lengths)."""
    require_packages()
    graph, sig = graph_of(run)
    stack = getattr(run.model, "subsample", 1)
    if run.kind == "recogniser" and exporter == "dynamo" and stack > 1:
        # torch.export cannot state ceil(T / k) for a dynamic T (it asks for T = k*t - c).
        raise ConfigError(f"{run.file}: frame stacking (--subsample {stack}) does not pass "
                          "torch.export's dynamic time axis; use --exporter torchscript")
    gen = torch.Generator().manual_seed(seed)
    T = sig.shortest + 6
    example = example_inputs(run.kind, run.model, 2, T, gen)
    export_onnx(graph, sig, example, path, exporter, run_metadata(run))
    cases = [example_inputs(run.kind, run.model, b, t, gen)
             for b, t in ((1, T + 5), (3, T + 11))]
    with float32_arithmetic(run.model):  # as the graph computes a quantised model
        return check_onnx(Path(path), graph, sig, cases, tolerance)
