"""Shared fixtures: every test starts from a fixed seed; a fake flite."""

import os
import stat
import sys

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def torch_globals():
    """One thread: tiny models gain nothing from more, and on a busy 2-core machine extra
    OpenMP threads slow training tenfold. Training also turns on flush-to-zero. Both are
    restored so other tests see torch's defaults. Test modules that train opt in with
    ``pytestmark = pytest.mark.usefixtures("torch_globals")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_flush_denormal(False)
    torch.set_num_threads(threads)


# flite's command line as teacher_voice uses it: "-lv", or "-voice V -o OUT -t TEXT".
# Writes 0.05 s of sine per character (kal at 8 kHz, as the real kal), fails on "FAIL".
FAKE_FLITE = '''#!{python}
import math, os, struct, sys, wave
args = sys.argv[1:]
if args == ["-lv"]:
    print("Voices available: kal awb slt")
    sys.exit(0)
opts = dict(zip(args[::2], args[1::2]))
with open(os.environ["FAKE_FLITE_LOG"], "a") as log:
    log.write(opts["-t"] + "\\n")
if "FAIL" in opts["-t"]:
    sys.stderr.write("flite: something broke\\n")
    sys.exit(3)
rate = 8000 if opts["-voice"] == "kal" else 16000
n = len(opts["-t"]) * rate // 20
with wave.open(opts["-o"], "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(rate)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(0.3 * i)))
                           for i in range(n)))
'''


@pytest.fixture
def fake_flite(tmp_path, monkeypatch):
    """A fake ``flite`` first on PATH; returns the file its calls are logged to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "flite"
    exe.write_text(FAKE_FLITE.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "flite.log"
    log.write_text("")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_FLITE_LOG", str(log))
    return log
