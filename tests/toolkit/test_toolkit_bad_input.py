"""Bad input to every option that takes a path or a number: a one-line error that names
the problem, a non-zero exit status, and never a traceback."""

from __future__ import annotations

import dataclasses

import pytest
from tk_helpers import TINY, run_cli

from rnnkit.train.config import SECTIONS, field_types, flag_name


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "error" in lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


NUMERIC_FLAGS = [
    (flag_name(f), base)
    for cls in SECTIONS.values()
    for f in dataclasses.fields(cls)
    for base, _ in [field_types(cls)[f.name]]
    if base in (int, float)
]
CHOICE_FLAGS = [flag_name(f) for cls in SECTIONS.values() for f in dataclasses.fields(cls)
                if f.metadata.get("choices")]


@pytest.mark.parametrize("flag", [f for f, _ in NUMERIC_FLAGS])
@pytest.mark.parametrize("value", ["abc", "-1", "nan"])
def test_every_numeric_train_flag_rejects_bad_values(flag, value, text_file, tmp_path, capsys):
    code, _, err = run_cli(["train", "charlm", "--data", text_file, "--runs-dir", tmp_path,
                            "--name", "x", *TINY, f"--{flag}", value], capsys)
    assert_one_line_error(code, err, f"--{flag}")


@pytest.mark.parametrize("flag", CHOICE_FLAGS)
def test_every_choice_flag_rejects_unknown_values(flag, tmp_path, capsys):
    code, _, err = run_cli(["train", "charlm", "--runs-dir", tmp_path, f"--{flag}", "bogus"],
                           capsys)
    assert_one_line_error(code, err, f"--{flag}", "bogus")


def _registry(name: str) -> tuple[str, ...]:
    """The names a registry offers, from the registry itself."""
    from rnnkit.backends import BACKEND_CHOICES
    from rnnkit.models.language import CELLS
    from rnnkit.models.sequence import POOLINGS
    from rnnkit.recipes.registry import all_recipes
    from rnnkit.train.config import TrainConfig, field_choices

    return {"backend": BACKEND_CHOICES, "cell": CELLS, "recipe": tuple(all_recipes()),
            "pooling": POOLINGS, "optimizer": field_choices(TrainConfig, "optimizer"),
            "schedule": field_choices(TrainConfig, "schedule")}[name]


@pytest.mark.parametrize("what", ["backend", "cell", "recipe", "pooling", "optimizer",
                                  "schedule"])
def test_unknown_registry_names_list_the_choices(what, tmp_path, capsys):
    """`--backend nope` once ended in a traceback from inside the model; every unknown name
    now fails in the config check, before any training, with one line listing the choices."""
    argv = ["train", "nope"] if what == "recipe" else ["train", "charlm", f"--{what}", "nope"]
    code, _, err = run_cli([*argv, "--runs-dir", tmp_path, "--name", "x", *TINY], capsys)
    choices = ", ".join(_registry(what))
    assert_one_line_error(code, err, f"unknown {what} 'nope' (choose from: {choices})")
    assert code == 1 and not (tmp_path / "x").exists()  # nothing was built or trained


def test_unknown_backend_in_a_config_file(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text('recipe = "charlm"\n[model]\nbackend = "cudnn"\n')
    code, _, err = run_cli(["train", "--config", path, "--runs-dir", tmp_path], capsys)
    assert_one_line_error(code, err, "--backend", "unknown backend 'cudnn' (choose from: auto")


@pytest.mark.parametrize("args, needle", [
    (["--hidden-size", "0"], "--hidden-size"),
    (["--hidden-size", "1.5"], "--hidden-size"),
    (["--dropout", "1.0"], "--dropout"),
    (["--valid-fraction", "0"], "--valid-fraction"),
    (["--lr", "inf"], "--lr"),
    (["--lr", "0"], "--lr"),
    (["--seq-len", "8", "--k1", "9"], "--k1"),
    (["--batch-size", "100000"], "too few"),
    (["--gamma", "1"], "--gamma"),
])
def test_specific_bad_numbers(args, needle, text_file, tmp_path, capsys):
    code, _, err = run_cli(["train", "charlm", "--data", text_file, "--runs-dir", tmp_path,
                            "--name", "x", *TINY, *args], capsys)
    assert_one_line_error(code, err, needle)


@pytest.fixture()
def bad_files(tmp_path):
    files = {
        "missing": tmp_path / "nope.txt",
        "empty": tmp_path / "empty.txt",
        "blank": tmp_path / "blank.txt",
        "binary": tmp_path / "binary.bin",
        "latin1": tmp_path / "latin1.txt",
        "emptydir": tmp_path / "emptydir",
    }
    files["empty"].write_bytes(b"")
    files["blank"].write_bytes(b"  \n\n")
    files["binary"].write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10)
    files["latin1"].write_bytes("caf\u00e9 cr\u00e8me".encode("latin-1"))
    files["emptydir"].mkdir()
    return files


EXPECTED = {"missing": "no such file", "empty": "empty", "blank": "empty",
            "binary": "binary", "latin1": "not valid UTF-8", "emptydir": "no files"}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_bad_data_files_are_named(kind, bad_files, tmp_path, capsys):
    path = bad_files[kind]
    code, _, err = run_cli(["train", "charlm", "--data", path, "--runs-dir", tmp_path,
                            "--name", "x", *TINY], capsys)
    assert_one_line_error(code, err, str(path), EXPECTED[kind])


@pytest.mark.parametrize("kind", ["missing", "binary", "latin1"])
def test_bad_valid_data_and_eval_data(kind, bad_files, text_file, tmp_path, capsys):
    path = bad_files[kind]
    code, _, err = run_cli(["train", "charlm", "--data", text_file, "--valid-data", path,
                            "--runs-dir", tmp_path, "--name", "x", *TINY], capsys)
    assert_one_line_error(code, err, str(path), EXPECTED[kind])


def test_data_folder_with_one_bad_file_names_that_file(text_file, tmp_path, capsys):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text(text_file.read_text())
    (folder / "b.txt").write_bytes(b"\xff\xfe\xfa broken")
    code, _, err = run_cli(["train", "charlm", "--data", folder, "--runs-dir", tmp_path,
                            "--name", "x", *TINY], capsys)
    assert_one_line_error(code, err, str(folder / "b.txt"), "UTF-8")


@pytest.mark.parametrize("content, needle", [
    (None, "not found"),
    ("[model\nhidden_size = ", "not valid TOML"),
    ("[model]\nhiden_size = 3\n", "model.hiden_size"),
    ("[model]\nhidden_size = \"big\"\n", "expected int"),
    ("[training]\nlr = 1.0\n", "unknown key 'training'"),
    ("recipe = \"nope\"\n", "unknown recipe"),
])
def test_bad_config_files(content, needle, tmp_path, capsys):
    path = tmp_path / "run.toml"
    if content is not None:
        path.write_text(content)
    code, _, err = run_cli(["train", "--config", path, "--runs-dir", tmp_path], capsys)
    assert_one_line_error(code, err, needle)


def test_config_path_is_a_folder(tmp_path, capsys):
    code, _, err = run_cli(["train", "--config", tmp_path], capsys)
    assert_one_line_error(code, err, str(tmp_path))


def test_runs_dir_and_name_must_be_folders(text_file, tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, _, err = run_cli(["train", "charlm", "--data", text_file, "--runs-dir", a_file,
                            *TINY], capsys)
    assert_one_line_error(code, err, "--runs-dir")
    code, _, err = run_cli(["train", "charlm", "--data", text_file, "--runs-dir", tmp_path,
                            "--name", "a/b", *TINY], capsys)
    assert_one_line_error(code, err, "--name")


@pytest.mark.parametrize("cmd", [["sample"], ["info"], ["eval", "--data", "x.txt"],
                                 ["train", "--resume"]])
def test_missing_checkpoint_paths(cmd, tmp_path, capsys):
    missing = tmp_path / "no-such-run"
    argv = [*cmd, missing] if cmd[0] != "eval" else ["eval", missing, *cmd[1:]]
    code, _, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, str(missing))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, text_file):
    from rnnkit.cli import main

    runs = tmp_path_factory.mktemp("badruns")
    assert main(["train", "charlm", "--data", str(text_file), "--runs-dir", str(runs),
                 "--name", "r", "--max-steps", "2", *TINY]) == 0
    return runs / "r"


@pytest.mark.parametrize("args, needle", [
    (["--length", "-1"], "--length"),
    (["--length", "abc"], "--length"),
    (["--temperature", "-0.5"], "--temperature"),
    (["--temperature", "nan"], "--temperature"),
    (["--temperature", "x"], "--temperature"),
    (["--top-k", "0"], "--top-k"),
    (["--top-p", "0"], "--top-p"),
    (["--top-p", "1.5"], "--top-p"),
    (["--seed", "-3"], "--seed"),
    (["--seed", "1.5"], "--seed"),
    (["--device", "tpu"], "--device"),
    (["--bogus"], "--bogus"),
])
def test_bad_sample_options(args, needle, tiny_run, capsys):
    code, _, err = run_cli(["sample", tiny_run, *args], capsys)
    assert_one_line_error(code, err, needle)


@pytest.mark.parametrize("args, needle", [
    (["--batch-size", "0"], "--batch-size"),
    (["--seq-len", "-2"], "--seq-len"),
    (["--seq-len", "ten"], "--seq-len"),
    ([], "--data"),
])
def test_bad_eval_options(args, needle, tiny_run, text_file, capsys):
    data = ["--data", text_file] if needle != "--data" else []
    code, _, err = run_cli(["eval", tiny_run, *data, *args], capsys)
    assert_one_line_error(code, err, needle)


@pytest.mark.parametrize("kind", ["missing", "empty", "binary", "latin1"])
def test_bad_eval_data(kind, bad_files, tiny_run, capsys):
    code, _, err = run_cli(["eval", tiny_run, "--data", bad_files[kind]], capsys)
    assert_one_line_error(code, err, str(bad_files[kind]), EXPECTED[kind])


@pytest.mark.parametrize("args, needle", [
    (["--max-seconds", "0"], "--max-seconds"),
    (["--max-seconds", "soon"], "--max-seconds"),
    (["--max-steps", "-5"], "--max-steps"),
    (["--threads", "0"], "--threads"),
])
def test_bad_demo_options(args, needle, tmp_path, capsys):
    code, _, err = run_cli(["demo", "--runs-dir", tmp_path, *args], capsys)
    assert_one_line_error(code, err, needle)


def test_unknown_option_and_command(capsys):
    code, _, err = run_cli(["train", "--hidden-sise", "3"], capsys)
    assert_one_line_error(code, err, "--hidden-sise")
    code, _, err = run_cli(["fly"], capsys)
    assert_one_line_error(code, err, "fly")


def test_backend_that_cannot_run_the_recipe_is_one_line(tmp_path, capsys):
    # The generated-kernel cell has no torch.nn fused kernel: refused at the first forward.
    code, _, err = run_cli(["train", "charlm", "--smoke", "--cell", "mgu", "--backend",
                            "torch", "--runs-dir", tmp_path, "--no-progress"], capsys)
    assert_one_line_error(code, err, "backend 'torch' cannot run this call")
