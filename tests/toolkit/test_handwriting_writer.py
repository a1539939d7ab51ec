"""The handwriting recipe end to end in seconds, on small generated stroke folders (no
KanjiVG or npm needed): smoke training with a smoke `strokes` recogniser reading the
samples, both hold-outs, the KanjiVG + hanzi-writer layout; `rnnkit sample handwriting`
(SVG, PNG, animation, seeds); the measures; one-line errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tk_helpers import run_cli

pytestmark = pytest.mark.usefixtures("torch_globals")

SMOKE = ["--smoke", "--no-progress", "--threads", "1"]
# Three characters as straight strokes in a [-1, 1] box, written in stroke order.
CHARS = {"一": [[(-1, 0), (1, 0)]],
         "十": [[(-1, 0), (1, 0)], [(0, -1), (0, 1)]],
         "口": [[(-1, -1), (-1, 1)], [(-1, -1), (1, -1), (1, 1)], [(-1, 1), (1, 1)]]}


def write_folder(root, per_char: int = 6, seed: int = 0):
    """root/<character>/<i>.json: ``per_char`` wobbly drawings of each of CHARS."""
    rng = np.random.default_rng(seed)
    for c, strokes in CHARS.items():
        (root / c).mkdir(parents=True)
        for i in range(per_char):
            lines = [[[x + rng.normal(0, 0.05), y + rng.normal(0, 0.05)] for x, y in s]
                     for s in strokes]
            (root / c / f"{i}.json").write_text(json.dumps(lines))
    return root


def train(capsys, runs, name, *args):
    code, out, err = run_cli(["train", *args, *SMOKE, "--runs-dir", runs, "--name", name],
                             capsys)
    assert code == 0, err
    return runs / name, out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A smoke `strokes` recogniser and a smoke conditional writer on the same folder."""
    from rnnkit.cli import main  # capsys is function-scoped: run the CLI directly

    root = tmp_path_factory.mktemp("hw")
    folder = write_folder(root / "chars")
    runs = root / "runs"
    for args in (["strokes", "--name", "rec"],
                 ["handwriting", "--name", "w", "--recogniser", str(runs / "rec")]):
        code = main(["train", args[0], *SMOKE, "--data", str(folder), "--runs-dir", str(runs),
                     *args[1:]])
        assert code == 0
    return runs / "w", root


def test_smoke_run_measures_nll_recognition_and_diversity(trained):
    run, root = trained
    result = json.loads((run / "result.json").read_text())
    metrics = result["metrics"]
    assert {"test_nll", "valid_nll", "recognised", "recognised_real", "diversity_real",
            "diversity_bias_0", "diversity_bias_2", "recognised_bias_0.5"} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())
    assert 0 <= metrics["recognised"] <= 1 and metrics["recognised"] == \
        metrics["recognised_bias_1"]
    assert result["target"]["metric"] == "recognised" and result["target"]["met"] in (True,
                                                                                     False)
    report = (run / "report.md").read_text()
    assert "conditioned on the character" in report and "3 characters from" in report
    assert "| real held-out drawings |" in report and "| generated, bias 1 (the target's) |" \
        in report
    assert (run / "samples.png").stat().st_size > 1000
    assert (run / "written.svg").read_text().count("<g id=") == 3
    config = (run / "config.toml").read_text()  # the recogniser's path is saved absolute
    assert f'recogniser = "{root / "runs" / "rec"}"' in config


def test_sample_writes_svg_and_png_and_is_seeded(trained, capsys):
    run, root = trained
    for suffix in ("svg", "png"):
        files = [root / f"{k}.{suffix}" for k in ("a", "b", "c")]
        for path, seed in zip(files, (3, 3, 4), strict=True):
            code, out, err = run_cli(["sample", "handwriting", run, "--text", "口 一十", "-o",
                                      path, "--seed", seed, "--bias", "0.5"], capsys)
            assert code == 0, err
            assert "3 characters (口 一十), bias 0.5" in out
        a, b, c = (p.read_bytes() for p in files)
        assert a == b and a != c
    svg = (root / "a.svg").read_text()
    assert svg.count("<g id=") == 4  # the space is an empty cell
    code, _, err = run_cli(["sample", run, "--animate", "-o", root / "anim.svg", "--seed", 1],
                           capsys)  # no field, no --text: the first characters it knows
    assert code == 0, err
    assert "<animate" in (root / "anim.svg").read_text()


@pytest.mark.parametrize("args, says", [
    (["--text", "一龍二鳳"], "--text: not trained on 龍, 二, 鳳; the model knows 3 characters, "
                         "e.g. 一十口"),
    (["-o", "x.gif"], "expected an .svg or .png file name"),
    (["--animate", "-o", "x.png"], "--animate writes an SVG animation"),
    (["--bias", "-1"], "--bias must be >= 0"),
    (["--text", "  "], "--text has no characters to write"),
    (["--top-k", "3"], "handwriting takes --text"),
])
def test_sample_bad_options_are_one_line_errors(trained, capsys, tmp_path, monkeypatch, args,
                                                says):
    run, _ = trained
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["sample", "handwriting", run, *args], capsys)
    assert code == 1 and says in err and len(err.strip().splitlines()) == 1


def test_other_fields_refuse_a_writer_and_handwriting_options(trained, capsys):
    run, _ = trained
    code, _, err = run_cli(["sample", "text", run], capsys)
    assert code == 1 and "not a language-model checkpoint" in err
    code, _, err = run_cli(["sample", "handwriting", run.parent / "rec"], capsys)
    assert code == 1 and "not a handwriting checkpoint" in err


def test_whole_characters_held_out_give_an_unconditional_model(tmp_path, capsys):
    folder = write_folder(tmp_path / "chars")
    run, _ = train(capsys, tmp_path / "runs", "u", "handwriting", "--data", folder,
                   "--holdout", "characters")
    report = (run / "report.md").read_text()
    assert "held out: whole characters" in report and "unconditional" in report
    assert "test_nll" in json.loads((run / "result.json").read_text())["metrics"]
    code, _, err = run_cli(["sample", "handwriting", run, "--text", "一"], capsys)
    assert code == 1 and "unconditional" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli(["sample", "handwriting", run, "-o", tmp_path / "u.png"], capsys)
    assert code == 0 and "5 unconditional drawings" in out, err


def char_sources(root):
    """KanjiVG-like kanji/*.svg (y down) and hanzi-writer-like package/<char>.json (y up)."""
    kanji, pkg = root / "kanji", root / "package"
    kanji.mkdir(parents=True)
    pkg.mkdir()
    (pkg / "package.json").write_text("{}")
    for c, strokes in CHARS.items():
        paths = "".join("<path d=\"M" + " L".join(f"{50 + 40 * x},{50 + 40 * y}"
                                                   for x, y in s) + '"/>' for s in strokes)
        (kanji / f"{ord(c):05x}.svg").write_text(
            f'<svg xmlns="http://www.w3.org/2000/svg">{paths}</svg>')
        medians = [[[500 + 380 * x, 500 - 420 * y] for x, y in s] for s in strokes]
        (pkg / f"{c}.json").write_text(json.dumps({"strokes": [], "medians": medians}))
    return root


@pytest.mark.parametrize("holdout, says", [
    ("drawings", "held out: hanzi-writer's drawings of the same characters (1 validation / "
                 "2 test"),
    ("characters", "held out: whole characters (1 validation, 1 test"),
], ids=["drawings", "characters"])
def test_kanjivg_and_hanzi_writer_layout(tmp_path, capsys, holdout, says):
    data = char_sources(tmp_path / "sources")
    run, _ = train(capsys, tmp_path / "runs", "k", "handwriting", "--data", data,
                   "--holdout", holdout)
    assert says in (run / "report.md").read_text()


def test_bad_data_and_settings_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    few = tmp_path / "few"
    write_folder(few, per_char=2)
    folder = write_folder(tmp_path / "chars")
    for args, says in [
        (["--data", tmp_path / "missing"], "no such folder"),
        (["--data", tmp_path / "empty"], "no class folders"),
        (["--data", few], "give at least 3 per class"),
        ([], "npm pack hanzi-writer-data"),
        (["--data", folder, "--holdout", "nope"], "unknown holdout 'nope'"),
        (["--data", folder, "--recogniser", tmp_path / "nothing"], "nothing"),
    ]:
        code, _, err = run_cli(["train", "handwriting", *SMOKE, "--runs-dir", tmp_path / "r",
                                *args], capsys)
        assert code == 1 and says in err and len(err.strip().splitlines()) == 1, (args, err)


def test_diversity_and_character_ids():
    from rnnkit.errors import ConfigError
    from rnnkit.recipes.handwriting.samples import character_ids, diversity, shape_vector

    line = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 1.0]])
    moved = line + torch.tensor([5.0, 3.0, 0.0])  # position and size are normalised away
    other = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    assert shape_vector(line, 8).shape == (8, 2)
    assert diversity([[line, moved]]) == pytest.approx(0.0, abs=1e-6)
    # (a, 0) against (0, a) at 64 positions a = i / 31.5 - 1: sqrt(2) mean |a| = sqrt(2) 32/63
    assert diversity([[line, other]]) == pytest.approx(2 ** 0.5 * 32 / 63, rel=1e-5)
    assert np.isnan(diversity([[line]]))
    spec = {"characters": ["一", "十", "口"]}
    assert character_ids(spec, ["口", "一"]).tolist() == [2, 0]
    with pytest.raises(ConfigError, match="not trained on 龍; the model knows 3"):
        character_ids(spec, ["龍"])


def test_study_trains_the_writer_and_its_ablations(trained, tmp_path, capsys):
    from rnnkit.experiments import handwriting as hx

    _, root = trained
    code, out, err = run_cli(["experiment", "handwriting", "--smoke", "--data",
                              str(root / "chars"), "--recogniser", str(root / "runs" / "rec"),
                              "--seeds", "1", "--runs-dir", str(tmp_path), "--name", "hw"],
                             capsys)
    assert code == 0, err
    results = json.loads((tmp_path / "hw" / "results.json").read_text())
    assert [r["variant"] for r in results["rows"]] == list(hx.VARIANTS)
    assert all(r[hx.RECOGNISED] is not None for r in results["rows"])
    assert set(results["summary"]) == set(hx.VARIANTS)
    sizes = {r["variant"]: r["parameters"] for r in results["rows"]}
    assert sizes["lstm-1"] < sizes["lstm"]  # the same network, a smaller output
    cfg = (tmp_path / "hw" / "window-seed1" / "config.toml").read_text()
    assert f"window = {hx.WINDOW}" in cfg
    assert "| window | 1 |" in (tmp_path / "hw" / "results.md").read_text()


@pytest.mark.parametrize("variant", ["gru", "rnn_tanh", "window"])
def test_study_variants_match_the_lstm_writers_size(variant):
    from rnnkit.experiments import handwriting as hx

    target = hx.writer_size("lstm", 256, 3, 64)
    mine = hx.writer_size(variant, hx.matching_hidden(variant, 256, 3, 64), 3, 64)
    assert abs(mine - target) / target < 0.01


def test_study_errors_name_the_flag(tmp_path, capsys):
    code, _, err = run_cli(["experiment", "handwriting", "--runs-dir", str(tmp_path)], capsys)
    assert code != 0 and "--data" in err
    code, _, err = run_cli(["experiment", "handwriting", "--data", str(tmp_path), "--variants",
                            "lstm,cnn", "--runs-dir", str(tmp_path)], capsys)
    assert code != 0 and "--variants: unknown cnn" in err


def test_the_run_knows_each_characters_stroke_count(trained):
    from rnnkit.train.checkpoint import load

    run, _ = trained
    spec = load(run / "best.pt")["writer"]
    counts = dict(zip(spec["characters"], spec["stroke_counts"], strict=True))
    assert counts == {c: len(s) for c, s in CHARS.items()}
    assert spec["max_strokes"] == 1 + max(counts.values())


def test_copies_and_stroke_shift_shape_the_training_drawings(tmp_path, capsys):
    """--copies sets the distorted copies per KanjiVG drawing (the report counts them);
    --stroke-shift is said in the report, and a negative one is a one-line error."""
    data = char_sources(tmp_path / "sources")
    run, _ = train(capsys, tmp_path / "runs", "c", "handwriting", "--data", data,
                   "--copies", "3", "--stroke-shift", "0.1")
    report = (run / "report.md").read_text()
    assert "KanjiVG (x4 with distortions)" in report
    assert "each stroke of a training copy moved by up to 0.1" in report
    # one KanjiVG drawing per character: the model is chosen on 2 fresh distortions of each
    assert "the model is chosen on 6 other distortions of the training drawings" in report
    assert "not used to choose the model" in report
    code, _, err = run_cli(["train", "handwriting", "--smoke", "--data", data, "--runs-dir",
                            tmp_path / "runs", "--no-progress", "--stroke-shift", "-1"], capsys)
    assert code != 0 and "stroke" in err and len(err.strip().splitlines()) == 1
