"""docs/RESULTS.md and docs/MEMORY.md tables agree with docs/results/** (issue 14)."""

import json
import shutil

import pytest

from rnnkit.experiments import docs_tables as dt


def test_docs_tables_match_result_files():
    problems = dt.check(dt.ROOT)
    assert not problems, "run `make docs-tables`:\n" + "\n".join(problems)


def test_every_table_marker_has_a_renderer_and_vice_versa():
    for doc, tables in dt.TABLES.items():
        text = (dt.ROOT / doc).read_text()
        names = [m.group(2) for m in dt.MARKER.finditer(text)]
        assert sorted(names) == sorted(tables), doc
        assert len(names) == len(set(names)), f"{doc}: a table marker appears twice"


def test_result_files_have_the_required_fields():
    results = dt.load_results(dt.ROOT)
    assert results
    for name, rec in results.items():
        assert rec["threads"] is None or rec["threads"] >= 1, name
        # A file is written by a run (commit) or transcribed (provenance), never neither.
        assert rec.get("commit") or rec.get("provenance"), name


@pytest.fixture
def checkout(tmp_path):
    """A copy of the docs and their result files."""
    (tmp_path / "docs").mkdir()
    for doc in dt.DOCS:
        shutil.copy(dt.ROOT / doc, tmp_path / doc)
    shutil.copytree(dt.ROOT / dt.RESULTS, tmp_path / dt.RESULTS)
    return tmp_path


def edit(path, change):
    rec = json.loads(path.read_text())
    change(rec)
    path.write_text(json.dumps(rec))


def test_a_changed_number_fails_the_check(checkout):
    assert dt.check(checkout) == []
    edit(checkout / dt.RESULTS / "splice/splice-seed1.json",
         lambda r: r["metrics"].update(test_accuracy=0.5))
    problems = dt.check(checkout)
    assert problems and all("docs/RESULTS.md" in p for p in problems)
    assert any("'genome'" in p for p in problems)
    assert dt.main(["--check", "--root", str(checkout)]) == 1
    dt.check(checkout, write=True)  # regenerating makes the docs agree again
    assert dt.check(checkout) == []
    assert "50.00%" in (checkout / "docs/RESULTS.md").read_text()


def test_a_hand_edit_inside_a_table_fails_the_check(checkout):
    doc = checkout / "docs/MEMORY.md"
    text = doc.read_text()
    row = next(ln for ln in text.splitlines() if ln.startswith("| adding | 50 | lstm"))
    doc.write_text(text.replace(row, row.replace("| 64 |", "| 65 |"), 1))
    assert [p for p in dt.check(checkout) if "'adding'" in p]


def test_bad_result_files_are_named(checkout):
    path = checkout / dt.RESULTS / "lasa/lasa-seed1.json"
    edit(path, lambda r: r.pop("cpu_s"))
    with pytest.raises(dt.ResultFileError, match="lasa/lasa-seed1: missing field.*cpu_s"):
        dt.load_results(checkout)
    path.write_text("{not json")
    with pytest.raises(dt.ResultFileError, match="lasa/lasa-seed1: unreadable"):
        dt.load_results(checkout)
    assert dt.main(["--check", "--root", str(checkout)]) == 1
    path.unlink()  # a lost file: its rows disappear, so the docs no longer match
    assert any("'classify-runs'" in p for p in dt.check(checkout))
    for p in (checkout / dt.RESULTS / "lasa").glob("lasa-seed*.json"):
        p.unlink()  # no run of a recipe a table needs at all
    with pytest.raises(dt.ResultFileError, match="needs result file"):
        dt.check(checkout)


def test_transcribed_files_say_since_when(checkout):
    path = checkout / dt.RESULTS / "charlm/full-lstm.json"
    edit(path, lambda r: r.update(provenance="copied from somewhere"))
    with pytest.raises(dt.ResultFileError, match="not re-measured since"):
        dt.load_results(checkout)
    edit(path, lambda r: r.update(provenance=None, commit=None))
    with pytest.raises(dt.ResultFileError, match="neither a commit"):
        dt.load_results(checkout)


def test_transcribed_rows_carry_a_dagger_and_footnote():
    lines = dt.TABLES["docs/RESULTS.md"]["charlm-full"](dt.load_results(dt.ROOT))
    assert all("†" in ln or "‡" in ln or "§" in ln for ln in lines if ln.startswith("| ") and
               "LSTM" in ln or "GRU" in ln)
    assert any(ln.startswith("† ") and "not re-measured since" in ln for ln in lines)


def test_docs_tables_is_a_leaf():
    """Nothing in the package outside the docs_* modules imports them (they read docs; the
    package must not)."""
    import ast

    def imports(path):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                yield node.module
                yield from (f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                yield from (a.name for a in node.names)

    src = dt.ROOT / "src/rnnkit"
    users = [p for p in src.rglob("*.py") if not p.name.startswith("docs_")
             and any(m.startswith("rnnkit.experiments.docs_") for m in imports(p))]
    assert not users, users


# A run's environment as result.json records it.
ENV = {"seed": 1, "processor": "cpu", "threads": 1, "wall_s": 2.0, "cpu_s": 1.5,
       "date": "2026-12-06", "commit": "abc", "rnnkit": "0", "config_hash": "h"}


def write_run(folder, recipe: str, metrics: dict):
    """A recipe run folder ``folder`` (its name is the run's) holding only result.json."""
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps({
        "recipe": recipe, "run": folder.name, "metrics": metrics, "baseline": None,
        "target": None, "steps": 10, "parameters": 5, **ENV}))
    return folder


def test_add_copies_a_run_and_a_memory_row(tmp_path):
    """--add: a recipe run's result.json (+ run_files) and a memory experiment's row.json
    (+ the run's environment and the experiment's gradient flow) become result files."""
    run = write_run(tmp_path / "runs/splice-seed1", "splice", {"test_accuracy": 0.9})
    (run / "report.md").write_text("- recipe `splice`; 3 train / 1 test\n"
                                   "- majority-class baseline: 50.84%\n")
    rec = json.loads(dt.add_run(run, tmp_path, "rnnkit train splice").read_text())
    assert rec["command"] == "rnnkit train splice" and rec["metrics"]["test_accuracy"] == 0.9
    assert rec["run_files"] == {"data": "3 train / 1 test", "majority_baseline": 0.5084}

    exp = tmp_path / "runs/temporal"
    row_dir = exp / "temporal-T5-gru"
    row_dir.mkdir(parents=True)
    row = {"name": "temporal-T5-gru", "task": "temporal", "lag": 5, "cell": "gru",
           "hidden_size": 8, "params": 99, "seed": 1, "metric": "accuracy", "value": 0.5,
           "loss": 1.0, "baseline": 1.386, "ratio": 0.72, "solved": False, "steps": 12,
           "wall_s": 0.5, "run_dir": str(row_dir)}
    (row_dir / "row.json").write_text(json.dumps(row))
    (row_dir / "result.json").write_text(json.dumps(ENV))
    (exp / "results.json").write_text(json.dumps({
        "rows": [{**row, "best_ratio": 0.7}],
        "gradient_flow": {"temporal-T5-gru": {"fresh": [1.0, 0.5, 0.25],
                                              "trained": [1.0, 0.9, 0.8]}}}))
    rec = json.loads(dt.add_run(row_dir, tmp_path).read_text())
    assert rec["experiment"] == "temporal" and rec["best_ratio"] == 0.7
    assert rec["gradient_flow"]["trained"] == {"r10": None, "r50": None, "r_end": 0.8}
    assert rec["processor"] == "cpu" and "run_dir" not in rec
    assert set(dt.load_results(tmp_path)) == {"splice/splice-seed1",
                                              "memory/temporal/temporal-T5-gru"}


def test_a_group_keeps_a_second_study_apart(tmp_path):
    """--add --group: a run lands in docs/results/<recipe>/<group>/, and the translation
    tables of the plain study and of the group each read their own runs."""
    from rnnkit.experiments.docs_results_tables import translate_runs

    run = write_run(tmp_path / "runs/attention-seed1", "translate", {"test_bleu": 5.0})
    plain = dt.add_run(run, tmp_path, "x")
    grouped = dt.add_run(run, tmp_path, "x", group="wesnoth")
    assert grouped == tmp_path / dt.RESULTS / "translate" / "wesnoth" / "attention-seed1.json"
    R = dt.load_results(tmp_path)
    assert set(R) == {"translate/attention-seed1", "translate/wesnoth/attention-seed1"}
    assert plain.is_file()
    (mine,), (theirs,) = translate_runs(R), translate_runs(R, "wesnoth")
    assert mine is R["translate/attention-seed1"]
    assert theirs is R["translate/wesnoth/attention-seed1"]


def test_bootstrap_record_names_each_comparison(tmp_path):
    def test(seed, system, base, p):
        return {"seed": seed, "system_bleu": system, "baseline_bleu": base, "p_value": p,
                "system_ci": 0.5, "signature": "nrefs:1|bs:1000"}

    exp = tmp_path / "study"
    exp.mkdir()
    (exp / "results.json").write_text(json.dumps({
        "paired_bootstrap": [test(1, 10.95, 2.12, 0.001)],
        "paired_bootstrap_copy": [test(1, 10.95, 6.27, 0.002)]}))
    path = dt.add_bootstrap(exp, tmp_path, group="g")
    assert path == tmp_path / "docs" / "results" / "translate" / "g" / "paired-bootstrap.json"
    rec = json.loads(path.read_text())
    text = rec["text"].format(**rec["values"])
    assert "seed 1: 10.95 vs 2.12, p = 0.0010 (`nrefs:1|bs:1000`)" in text
    assert "Attention against copying the source: seed 1: 10.95 vs 6.27, p = 0.0020." in text


def test_recipe_groups_stay_apart_and_asr_keeps_its_learning_curve(tmp_path):
    from rnnkit.experiments.docs_results_tables import runs_of, t_asr_best

    words = write_run(tmp_path / "runs/words-seed1", "words", {"test_accuracy": 0.5})
    dt.add_run(words, tmp_path, "x")
    dt.add_run(words, tmp_path, "x", group="synthetic-voices")
    R = dt.load_results(tmp_path)
    assert [r is R["words/words-seed1"] for r in runs_of(R, "words")] == [True]
    (grouped,) = runs_of(R, "words", "synthetic-voices")
    assert grouped is R["words/synthetic-voices/words-seed1"]

    run = write_run(tmp_path / "runs/asr-s1", "asr", {
        "test_cer": 0.6, "test_wer": 1.05, "test_n": 195, "test_cer_greedy": 0.61,
        "test_wer_greedy": 1.1, "test_cer_beam": 0.605, "test_wer_beam": 1.15})
    (run / "config.toml").write_text('recipe = "asr"\n[data]\nlang = "nl+cs"\n')
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (
        {"kind": "valid", "step": 500, "valid_cer": 0.9, "best": True},
        {"kind": "train", "step": 600, "loss": 1.0},
        {"kind": "valid", "step": 1000, "valid_cer": 0.7, "best": True})))
    rec = json.loads(dt.add_run(run, tmp_path, "x", group="best").read_text())
    assert rec["run_files"]["valid_cer_at"] == {"500": 0.9, "1000": 0.7}
    lines = t_asr_best(dt.load_results(tmp_path))
    assert "test CER **60.0%**" in lines[0] and "beam 60.5% / 115.0%" in lines[0]
    assert lines[1] == "  validation CER by update: 500: 90.0%, 1,000: 70.0%"


def test_handwriting_ablations_are_averaged_over_seeds_and_kept_out_of_the_single_runs(tmp_path):
    from rnnkit.experiments.docs_results_tables import t_handwriting, t_handwriting_ablation

    def writer(name, nll, read=None):
        run = write_run(tmp_path / "runs" / name, "handwriting", {
            "test_nll": nll, "valid_nll": nll + 0.5,
            **({"recognised_bias_1": read, "diversity_bias_1": 0.25} if read else {})})
        (run / "config.toml").write_text('recipe = "handwriting"\n')
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (
            {"kind": "valid", "step": 5, "valid_nll": nll - 1, "best": True},
            {"kind": "valid", "step": 10, "valid_nll": nll - 2, "best": False})))
        return run

    dt.add_run(writer("handwriting-v", -3.0, 0.9), tmp_path, "x")
    for name, nll, read in (("lstm-seed1", -4.0, 0.5), ("lstm-seed2", -3.0, 0.7),
                            ("window-seed1", -2.0, None)):
        dt.add_run(writer(name, nll, read), tmp_path, "x", group="study")
    R = dt.load_results(tmp_path)
    rows = [line for line in t_handwriting_ablation(R) if line.startswith("| ")][1:]
    # the NLL on the set that chose the model: at the best step (5), not the last
    assert rows[0].startswith("| LSTM, 20 normals (the recipe) | 5 | **-3.500 ± 0.707** | "
                              "-4.500 | 2 | 60.0% | 0.250 | 10 |")
    assert rows[1].startswith("| no recurrence (16-point window), 20 normals | 5 | "
                              "**-2.000** | -3.000 | 1 | - | - |")
    singles = "\n".join(t_handwriting(R))
    assert "`handwriting-v`" in singles and "seed" not in singles
