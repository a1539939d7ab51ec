"""Checkpoint format: atomic writes, keep-last-K, safe loading, clear errors for damaged
files that leave earlier checkpoints usable."""

from __future__ import annotations

import pickle

import pytest
import torch
from tk_helpers import TINY, run_cli

from rnnkit.errors import CheckpointError
from rnnkit.train import checkpoint as ckpt_io


@pytest.fixture()
def run_dir(text_file, tmp_path, capsys):
    code, _, err = run_cli(["train", "charlm", "--data", text_file, "--runs-dir", tmp_path,
                            "--name", "c", "--max-steps", "30", "--keep-last", "2", *TINY],
                           capsys)
    assert code == 0, err
    return tmp_path / "c"


def test_keeps_last_k_and_no_temp_files(run_dir):
    assert [p.name for p in ckpt_io.list_checkpoints(run_dir)] == \
        ["ckpt-00000020.pt", "ckpt-00000030.pt"]
    assert not list(run_dir.glob(".*tmp"))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_is_named_and_earlier_ones_survive(run_dir, damage, capsys):
    latest, earlier = ckpt_io.list_checkpoints(run_dir)[::-1]
    before = earlier.read_bytes()
    data = latest.read_bytes()
    latest.write_bytes({"truncate": data[: len(data) // 2],
                        "garbage": b"\x00not a checkpoint" * 100, "empty": b""}[damage])
    with pytest.raises(CheckpointError, match=str(latest)):
        ckpt_io.load(latest)
    for cmd in (["info", latest], ["sample", latest, "--length", "5"],
                ["train", "--resume", latest]):  # a file named on purpose: no fallback
        code, _, err = run_cli(cmd, capsys)
        assert code == 1 and str(latest) in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    assert earlier.read_bytes() == before
    assert ckpt_io.load(earlier)["step"] == 20
    code, _, err = run_cli(["train", "--resume", earlier, "--max-steps", "31"], capsys)
    assert code == 0, err


def test_loading_never_unpickles_objects(tmp_path):
    """weights_only loading refuses arbitrary classes instead of executing them."""

    path = tmp_path / "evil.pt"
    torch.save({"format": ckpt_io.FORMAT, "model": {}, "step": 0, "config": {},
                "vocab": pickle.PickleError("not plain data")}, path)
    with pytest.raises(CheckpointError, match="evil.pt"):
        ckpt_io.load(path)


def test_not_a_checkpoint_and_missing(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not an rnnkit checkpoint"):
        ckpt_io.load(path)
    with pytest.raises(CheckpointError, match="no such"):
        ckpt_io.resolve(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="has no checkpoints"):
        ckpt_io.resolve(tmp_path)


def test_interrupted_write_leaves_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt-00000001.pt"
    ckpt_io.save_atomic({"format": ckpt_io.FORMAT, "x": torch.ones(3)}, path)
    good = path.read_bytes()

    def exploding_save(obj, fh):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", exploding_save)
    with pytest.raises(OSError, match="disk full"):
        ckpt_io.save_atomic({"format": ckpt_io.FORMAT, "x": torch.zeros(3)}, path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_state_dict_mismatch_is_one_line():
    from torch import nn

    from rnnkit.train.checkpoint import mismatch

    with pytest.raises(RuntimeError) as e:
        nn.Linear(3, 4).load_state_dict(nn.Linear(5, 4).state_dict())
    line = mismatch(e.value)
    assert "\n" not in line and "size mismatch for weight" in line
    with pytest.raises(RuntimeError) as e:
        nn.Sequential(nn.Linear(3, 4)).load_state_dict({})
    assert mismatch(e.value) == 'Missing key(s) in state_dict: "0.weight", "0.bias".'
    assert mismatch(RuntimeError("one\n  two\n  three")) == "two and 1 more"
