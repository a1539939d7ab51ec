"""ONNX export: rnnkit's layers under both of torch's exporters, checked in onnxruntime on
other batch sizes and lengths (padded batches with lengths); `rnnkit export` on smoke runs of
five recipes, a translation run's two graphs included; the one-line errors."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import pytest
import torch
from tk_helpers import TINY, run_cli
from torch import nn

import rnnkit
from rnnkit.backends.base import capture
from rnnkit.errors import ConfigError
from rnnkit.recipes.base import LoadedRun
from rnnkit.recipes.export import Signature, check_onnx, export_onnx, graph_of

MISSING = [n for n in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(n) is None]
if MISSING:
    pytest.skip(f"the export extra is not installed ({', '.join(MISSING)}): "
                "pip install 'rnnkit[export]'", allow_module_level=True)


class Layer(nn.Module):
    """A layer with a fixed signature: (x, lengths) -> (output, h_n[, c_n])."""

    def __init__(self, rnn: nn.Module):
        super().__init__()
        self.rnn = rnn

    def forward(self, x, lengths):
        y, state = self.rnn(x, lengths=lengths)
        return (y, *state) if isinstance(state, tuple) else (y, state)


def layer_signature(rnn) -> Signature:
    bt = {0: "batch", 1: "time"} if rnn.batch_first else {0: "time", 1: "batch"}
    states = ["h_n", "c_n"] if isinstance(rnn, rnnkit.LSTM) else ["h_n"]
    axes = {"x": bt, "lengths": {0: "batch"}, "y": bt} | {s: {1: "batch"} for s in states}
    return Signature(["x", "lengths"], ["y", *states], axes)


def padded(rnn, lengths: list[int], steps: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    B = len(lengths)
    shape = (B, steps, rnn.input_size) if rnn.batch_first else (steps, B, rnn.input_size)
    return torch.randn(*shape, generator=g), torch.tensor(lengths)


# Batch sizes and lengths other than the export example's (2 sequences, 6 steps): full,
# padded, all shorter than the padded length, batch 1.
CASES = [([9, 4, 1], 9), ([3, 5, 2, 4], 7), ([11], 11), ([2, 6], 6)]
LAYERS = [
    (rnnkit.LSTM, dict(num_layers=2, bidirectional=True)),
    (rnnkit.LSTM, dict(batch_first=True)),
    (rnnkit.GRU, dict(batch_first=True)),
    (rnnkit.GRU, dict(num_layers=2, bidirectional=True)),
    (rnnkit.RNN, dict()),
    (rnnkit.RNN, dict(num_layers=2, bidirectional=True, batch_first=True, nonlinearity="relu")),
]
# What runs the time loop while exporting: the reference backend as one scan op (dynamo:
# ONNX Scan), torch's fused kernels (TorchScript: ONNX LSTM/GRU/RNN nodes, padding included).
RUNS = {"dynamo": "Scan", "torchscript": None}


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
@pytest.mark.parametrize(("cls", "kw"), LAYERS,
                         ids=[f"{c.__name__}-{'-'.join(k) or 'plain'}" for c, k in LAYERS])
def test_layer_exports_with_dynamic_batch_time_and_lengths(cls, kw, exporter, tmp_path):
    import onnx
    import onnxruntime as ort

    torch.manual_seed(0)
    rnn = cls(3, 5, **kw)
    graph, sig = Layer(rnn).eval(), layer_signature(rnn)
    path = export_onnx(graph, sig, padded(rnn, [6, 4], 6, 0), tmp_path / "m.onnx", exporter)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert (RUNS[exporter] or cls.__name__) in ops
    cases = [padded(rnn, lengths, T, seed) for seed, (lengths, T) in enumerate(CASES, 1)]
    checks = check_onnx(path, graph, sig, cases, tolerance=1e-5)
    assert [(c.batch, c.steps) for c in checks] == [(len(lens), T) for lens, T in CASES]

    # Padded steps give zeros, in onnxruntime as in rnnkit (torch's pad_packed_sequence).
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x, lengths = cases[0]
    y = torch.from_numpy(session.run(["y"], {"x": x.numpy(), "lengths": lengths.numpy()})[0])
    y = y if rnn.batch_first else y.transpose(0, 1)                            # (B, T, D*H)
    pad = torch.arange(y.shape[1])[None, :] >= lengths[:, None]
    assert pad.any() and (y[pad] == 0).all()


def test_dynamo_export_runs_custom_cells_projections_and_empty_sequences(tmp_path):
    # Cells no fused kernel runs: the reference backend's scan takes them all.
    torch.manual_seed(0)
    for rnn in (rnnkit.CustomRNN(rnnkit.GatedCell("mgu", gates=("f", "n"), step=_mgu), 3, 5,
                                 num_layers=2, bidirectional=True),
                rnnkit.LSTM(3, 5, proj_size=2, bidirectional=True)):
        graph = Layer(rnn).eval()
        sig = Signature(["x", "lengths"], ["y", "h_n", "c_n"][:2 + (rnn.mode == "LSTM")],
                        {"x": {0: "time", 1: "batch"}, "lengths": {0: "batch"},
                         "y": {0: "time", 1: "batch"}, "h_n": {1: "batch"},
                         "c_n": {1: "batch"}})
        path = export_onnx(graph, sig, padded(rnn, [6, 4], 6, 0), tmp_path / "c.onnx")
        cases = [padded(rnn, [8, 0, 3], 8, 1), padded(rnn, [2], 5, 2)]  # a length of 0 too
        assert max(c.max_abs_diff for c in check_onnx(path, graph, sig, cases)) < 1e-5


def _mgu(x, h, state):
    f = (x.f + h.f).sigmoid()
    return {"h": (1 - f) * state.h + f * (x.n + f * h.n).tanh()}


def test_torchscript_exporter_says_when_it_unrolls_the_time_loop(tmp_path):
    # torch's fused kernels cannot export a projection; the reference loop is then unrolled.
    rnn = rnnkit.LSTM(3, 5, proj_size=2)
    sig = Signature(["x", "lengths"], ["y", "h_n", "c_n"], {})
    with pytest.warns(UserWarning, match="takes exactly 6 time steps. Export with dynamo=True"):
        export_onnx(Layer(rnn).eval(), sig, padded(rnn, [6, 4], 6, 0), tmp_path / "p.onnx",
                    "torchscript")


def test_explain_names_the_backends_an_export_cannot_record(monkeypatch):
    m = rnnkit.LSTM(3, 5, 2, bidirectional=True)
    x, lengths = torch.randn(6, 2, 3), torch.tensor([6, 3])
    monkeypatch.setattr(torch.compiler, "is_exporting", lambda: True)
    assert capture() == "torch.export"
    text = m.explain(x, lengths=lengths)
    assert "torch.export (also torch.onnx.export's default, dynamo=True) cannot record the " \
           "native kernels" in text
    assert "packing a padded batch reads the lengths' values" in text
    assert "torch.export would fix the time axis" in text
    assert "reference  RUNS" in text


# ---- `rnnkit export` on recipe runs -----------------------------------------------------------

def write_jsb(path: Path) -> Path:
    g = random.Random(0)
    chords = [[48, 60, 64, 67], [43, 59, 62, 67], [45, 57, 60, 64], [41, 57, 60, 65]]
    data = {split: [[g.choice(chords) for _ in range(g.randint(6, 14))] for _ in range(n)]
            for split, n in (("train", 8), ("valid", 3), ("test", 3))}
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory, text_file):
    """Smoke runs of a language model, a classifier and a music model."""
    from rnnkit.cli import main

    root = tmp_path_factory.mktemp("export")
    out = root / "runs"
    for args in (["charlm", "--data", text_file, *TINY],
                 ["splice", "--smoke", "--no-progress"],
                 ["music", "--smoke", "--no-progress", "--data", write_jsb(root / "jsb.json")]):
        assert main(["train", *map(str, args), "--runs-dir", str(out), "--name", args[0]]) == 0
    return out


@pytest.mark.parametrize(("recipe", "kind", "exporter"),
                         [("charlm", "vocab", "dynamo"), ("splice", "classifier", "dynamo"),
                          ("music", "music", "dynamo"), ("charlm", "vocab", "torchscript")])
def test_rnnkit_export_writes_and_checks_a_run(runs, recipe, kind, exporter, tmp_path, capsys):
    import onnx

    out = tmp_path / "model.onnx"
    code, stdout, err = run_cli(["export", runs / recipe, "-o", out, "--exporter", exporter],
                                capsys)
    assert code == 0, err
    checks = [line for line in stdout.splitlines() if line.startswith("check:")]
    assert len(checks) == 2 and all("max |diff|" in line for line in checks)
    assert float(checks[0].rsplit(" ", 1)[1]) < 1e-4
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props["rnnkit.kind"] == kind and props["rnnkit.recipe"] == recipe
    if kind == "vocab":
        assert json.loads(props["rnnkit.spec"])["tokens"]  # what the token ids mean


def test_export_check_fails_clearly_above_the_tolerance(runs, tmp_path, capsys):
    code, _, err = run_cli(["export", runs / "music", "-o", tmp_path / "m.onnx",
                            "--tolerance", "0"], capsys)
    assert code == 1 and "differ by" in err and "> 0" in err and len(err.splitlines()) == 1


def test_export_errors_are_one_line(runs, tmp_path, capsys, monkeypatch):
    code, _, err = run_cli(["export", tmp_path / "nowhere", "-o", tmp_path / "m.onnx"], capsys)
    assert code == 1 and "no such run folder" in err and len(err.splitlines()) == 1

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    code, _, err = run_cli(["export", runs / "charlm", "-o", tmp_path / "m.onnx"], capsys)
    assert code == 1 and len(err.splitlines()) == 1
    assert "onnxruntime is missing" in err and "pip install 'rnnkit[export]'" in err


def test_speech_recogniser_exports_with_the_torchscript_exporter(tmp_path, capsys):
    """A CTC recogniser (3 frames per step) exports through the TorchScript exporter and
    is checked in onnxruntime; the dynamo exporter says why it cannot."""
    from test_asr_recipe import write_corpus

    from rnnkit.cli import main

    data = write_corpus(tmp_path / "c")
    assert main(["train", "asr", "--smoke", "--no-progress", "--data", str(data),
                 "--runs-dir", str(tmp_path / "runs"), "--name", "asr"]) == 0
    capsys.readouterr()
    run = tmp_path / "runs" / "asr"
    code, stdout, err = run_cli(["export", run, "-o", tmp_path / "asr.onnx", "--exporter",
                                 "torchscript"], capsys)
    assert code == 0, err
    assert len([ln for ln in stdout.splitlines() if ln.startswith("check:")]) == 2
    code, _, err = run_cli(["export", run, "-o", tmp_path / "asr2.onnx"], capsys)
    assert code == 1 and "--exporter torchscript" in err and len(err.splitlines()) == 1


# ---- translation runs: two graphs in a folder ----------------------------------------------

@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    """A smoke translate run (character vocabularies), trained in seconds."""
    from test_translate_recipe import write_pairs

    from rnnkit.cli import main

    root = tmp_path_factory.mktemp("tr")
    assert main(["train", "translate", "--smoke", "--no-progress", "--level", "char",
                 "--data", str(write_pairs(root / "pairs.tsv")), "--runs-dir",
                 str(root / "runs"), "--name", "t"]) == 0
    return root / "runs" / "t"


def test_translation_run_exports_encoder_and_decoder_step(translator, tmp_path, capsys):
    """The default exporter writes both graphs with the spec in their metadata; greedy
    decoding in onnxruntime gives PyTorch's tokens on source batches of two sizes."""
    import onnx

    out = tmp_path / "tr_onnx"
    code, stdout, err = run_cli(["export", translator, "-o", out], capsys)
    assert code == 0, err
    checks = [line for line in stdout.splitlines() if line.startswith("check:")]
    assert len(checks) == 2 and all("identical tokens" in line for line in checks)
    assert max(float(line.rsplit(" ", 1)[1]) for line in checks) < 1e-4
    graphs = {}
    for name in ("encoder", "decoder_step"):
        model = onnx.load(str(out / f"{name}.onnx"))
        props = {p.key: p.value for p in model.metadata_props}
        assert props["rnnkit.kind"] == "translator" and props["rnnkit.graph"] == name
        spec = json.loads(props["rnnkit.spec"])
        assert spec["src_tokenizer"] and spec["tgt_tokenizer"] and spec["eos_id"] == 2
        graphs[name] = model.graph
    # The smoke model: LSTM, attention, input feeding; the state flows encoder -> decoder.
    state = ["memory", "mask", "keys", "state_h", "state_c", "feed"]
    assert [o.name for o in graphs["encoder"].output] == state
    assert [i.name for i in graphs["decoder_step"].input] == ["prev_tokens", *state]
    assert [o.name for o in graphs["decoder_step"].output] == [
        "log_probs", "next_state_h", "next_state_c", "next_feed", "attention"]
    src = graphs["encoder"].input[0].type.tensor_type.shape.dim
    assert all(d.dim_param for d in src)  # batch and source length are dynamic


def test_copy_translation_exports_with_the_source_ids_in_the_state(tmp_path, capsys):
    """A pointer-generator's decoder step reads the source ids (``src_ids``) beside the
    memory; onnxruntime decodes the same tokens as PyTorch."""
    import onnx
    from test_translate_recipe import write_pairs

    from rnnkit.cli import main

    assert main(["train", "translate", "--smoke", "--no-progress", "--level", "char", "--copy",
                 "true", "--data", str(write_pairs(tmp_path / "pairs.tsv")), "--runs-dir",
                 str(tmp_path / "runs"), "--name", "c"]) == 0
    code, stdout, err = run_cli(["export", tmp_path / "runs" / "c", "-o", tmp_path / "c"],
                                capsys)
    assert code == 0, err
    checks = [line for line in stdout.splitlines() if line.startswith("check:")]
    assert len(checks) == 2 and all("identical tokens" in line for line in checks)
    step = onnx.load(str(tmp_path / "c" / "decoder_step.onnx")).graph
    assert [i.name for i in step.input][:5] == ["prev_tokens", "memory", "mask", "keys",
                                                "src_ids"]


def test_translation_export_check_fails_clearly(translator, tmp_path):
    from rnnkit.recipes.base import load_run
    from rnnkit.recipes.export_seq2seq import check_decoding, example_sources, export_run

    run = load_run(translator)
    export_run(run, tmp_path / "tr", "torchscript")  # the other exporter writes them too
    sources = [example_sources(run.model, 2, 5, torch.Generator().manual_seed(1))]
    with pytest.raises(ConfigError, match="differ by .* > 0 "):
        check_decoding(tmp_path / "tr", run.model, sources, tolerance=0)


def test_translation_export_errors_are_one_line(translator, tmp_path, capsys):
    from rnnkit.models.transformer import TransformerSeq2Seq
    from rnnkit.recipes.export_seq2seq import export_run

    file = tmp_path / "model.onnx"
    file.write_text("")
    code, _, err = run_cli(["export", translator, "-o", file], capsys)
    assert code == 1 and len(err.splitlines()) == 1
    assert "is a file" in err and "into a folder (-o DIR)" in err

    model = TransformerSeq2Seq(9, 9, d_model=8, num_layers=1, nhead=2, dim_feedforward=8)
    run = LoadedRun(model, "translator", {}, None, {}, Path("runs/tr/best.pt"))
    with pytest.raises(ConfigError, match="the Transformer baseline does not export yet"):
        export_run(run, tmp_path / "t")
    run = LoadedRun(nn.Linear(1, 1), "translator", {}, None, {}, Path("runs/tr/best.pt"))
    with pytest.raises(ConfigError, match="exports as two graphs into a folder"):
        graph_of(run)  # the one-file export points to the folder export


@pytest.mark.parametrize("precision", ["int8", "bfloat16"])
def test_quantised_layer_exports_its_weights_in_int8_or_bfloat16(precision, tmp_path):
    """The file keeps W_ih and W_hh as int8 (+ scales) or bf16 initialisers (a quarter or
    half of their float32 bytes), and computes what PyTorch computes in float32 with the
    same rounded weights."""
    import onnx

    from rnnkit.layers.quantize import float32_arithmetic

    torch.manual_seed(0)
    rnn = rnnkit.GRU(48, 96, num_layers=2, bidirectional=True)  # weights too big to fold
    graph, sig = Layer(rnn).eval(), layer_signature(rnn)
    plain = export_onnx(graph, sig, padded(rnn, [6, 4], 6, 0), tmp_path / "f.onnx")
    rnnkit.quantize(rnn, precision)
    path = export_onnx(graph, sig, padded(rnn, [6, 4], 6, 0), tmp_path / "q.onnx")
    want = onnx.TensorProto.INT8 if precision == "int8" else onnx.TensorProto.BFLOAT16
    kinds = [t.data_type for t in onnx.load(str(path)).graph.initializer]
    assert kinds.count(want) == 2 * 4  # W_ih and W_hh of 2 layers x 2 directions
    ratio = path.stat().st_size / plain.stat().st_size
    assert ratio < (0.35 if precision == "int8" else 0.6)
    cases = [padded(rnn, lengths, T, seed) for seed, (lengths, T) in enumerate(CASES, 1)]
    with float32_arithmetic(graph):
        check_onnx(path, graph, sig, cases, tolerance=1e-5)


def test_rnnkit_export_quantize_reports_and_checks(runs, tmp_path, capsys):
    out = tmp_path / "q.onnx"
    code, stdout, err = run_cli(["export", runs / "charlm", "-o", out, "--quantize", "int8"],
                                capsys)
    assert code == 0, err
    assert "recurrent weights stored in int8" in stdout
    checks = [line for line in stdout.splitlines() if line.startswith("check:")]
    assert len(checks) == 2 and max(float(c.rsplit(" ", 1)[1]) for c in checks) < 1e-4

    code, _, err = run_cli(["export", runs / "charlm", "-o", out, "--quantize", "int8",
                            "--exporter", "torchscript"], capsys)
    assert code == 1 and "--quantize needs --exporter dynamo" in err
