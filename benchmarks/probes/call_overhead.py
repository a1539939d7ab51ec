"""Where a small native call's time goes: module call vs its stages vs the bare kernel.

LSTM, T = 50, B = 1, H = 64 inference, one thread; medians of interleaved rounds (us/call).
Run: .venv/bin/python benchmarks/probes/call_overhead.py
"""

from __future__ import annotations

import statistics
import time

import torch

import rnnkit
from rnnkit import backends, native
from rnnkit.backends.native import native_layer


def main() -> None:
    torch.set_num_threads(1)
    m = rnnkit.LSTM(64, 64, backend="native").eval()
    x = torch.randn(50, 1, 64)
    ext = native.load()
    w = m._layer_weights()[0]
    h0, c0 = torch.zeros(1, 64), torch.zeros(1, 64)
    call, _ = m._make_call(x, None, None)
    backend = backends.select("native", call)
    stages = {
        "module m(x)": lambda: m(x),
        "build RNNCall": lambda: m._make_call(x, None, None),
        "select (auto)": lambda: backends.select("auto", call),
        "backend.run": lambda: backend.run(call),
        "native_layer": lambda: native_layer("LSTM", x, h0, c0, w),
        "bare kernel": lambda: ext.forward(2, x, h0, c0, *w, None, False, False),
    }
    times = {k: [] for k in stages}
    with torch.no_grad():
        for f in stages.values():
            for _ in range(50):
                f()
        for _ in range(11):
            for k, f in stages.items():
                t = time.perf_counter()
                for _ in range(200):
                    f()
                times[k].append((time.perf_counter() - t) / 200 * 1e6)
    for k, v in times.items():
        print(f"{k:<15} {statistics.median(v):8.1f} us")


if __name__ == "__main__":
    main()
