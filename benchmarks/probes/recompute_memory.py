"""Peak memory and time of one training step: torch.nn vs native vs native with recompute.

Run: .venv/bin/python benchmarks/probes/recompute_memory.py   (one thread; a 3-layer
stack, where saved activations of all layers are alive at once unless recomputed)
"""

import torch

import rnnkit
from rnnkit.backends.native import recompute_activations
from rnnkit.bench.timing import interleaved, peak_memory_mib

T, B, H, L = 200, 64, 256, 3


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    for cell in ("LSTM", "GRU"):
        _cell(cell)


def _cell(cell):
    ref = getattr(torch.nn, cell)(H, H, L)
    nat = getattr(rnnkit, cell)(H, H, L, backend="native")
    nat.load_state_dict(ref.state_dict())
    x = torch.randn(T, B, H)

    def step(m, rec=False):
        def f():
            ps = list(m.parameters())
            with recompute_activations(rec):
                out = m(x)[0]
            torch.autograd.grad(out.sum(), ps)

        return f

    steps = {"torch.nn": step(ref), "native": step(nat), "native+recompute": step(nat, True)}
    mem = {k: peak_memory_mib(f) for k, f in steps.items()}
    times = interleaved(steps, rounds=5, min_sample_s=0.2)  # medians of interleaved rounds
    print(
        cell,
        f"T={T} B={B} H={H} layers={L}:",
        ", ".join(
            f"{k} {mem[k]:.1f} MiB {times[k]['median_s'] * 1e3:.0f} ms" for k in steps
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
