"""Diagnostics during training (``--diagnose every=N``): one JSON line per diagnosed update
in ``diagnostics.jsonl``, and the report's figures and warning lines made from them.

Each line holds, for the update's own batch (no extra forward pass):
- ``grad_through_time``: per (module, layer, direction), ||dL/dh_t|| at every time step t,
  the norm over the batch (``HiddenGradRecord.time_profile``), with the per-step decay rate
  ``rho`` and the effective memory span (``rnnkit.diagnostics.flow``);
- ``saturation``: per gate, the fractions of activations near either limit;
- ``spectral_radius`` of every recurrent weight block; the total and per-parameter
  gradient norms (before clipping); the first explosion / NaN seen (``GradientWatch``).

Diagnosed updates run on a backend that can record (native or engine), so they may differ
from the others in the last bits when ``auto`` would pick torch's fused kernels.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import torch
from torch import nn

from rnnkit.diagnostics import (
    GradientWatch,
    advise,
    decay_per_step,
    decay_ratios,
    memory_span,
    parameter_grad_norms,
    record_hidden_grads,
    recurrent_spectra,
)
from rnnkit.diagnostics.saturation import capture_layer_calls, saturation_of

SPAN_THRESHOLD = 0.01  # memory span: first distance where the gradient is below 1% of its start


def layer_label(module: str, layer: int, direction: int) -> str:
    return f"{module or 'model'}.{layer}{'r' if direction else ''}"


class Diagnoser:
    """Records the diagnostics of chosen updates of ``model`` into a JSON-lines file."""

    def __init__(self, model: nn.Module, path: Path):
        self.model, self.path = model, path
        self.watch = GradientWatch()
        self._rec = self._calls = None

    @contextlib.contextmanager
    def recording(self):
        """Wrap the update's forward and backward: per-step gradients and layer inputs."""
        with record_hidden_grads(self.model) as rec, capture_layer_calls(self.model) as calls:
            yield
        self._rec, self._calls = rec, calls

    def write(self, step: int) -> dict:
        """Summarise the recorded update (call after backward, before clipping)."""
        rec, calls = self._rec, self._calls
        self._rec = self._calls = None
        flow = {}
        for (name, layer, direction), norms in rec.norms.items():
            profile = torch.linalg.vector_norm(norms.double(), dim=1)           # (T,)
            ratios = decay_ratios(norms, rec.lengths[(name, layer, direction)],
                                  reverse=direction == 1)
            flow[layer_label(name, layer, direction)] = {
                "norms": [float(x) for x in profile],
                "rho": decay_per_step(ratios),
                "span": memory_span(ratios, SPAN_THRESHOLD),
                "mode": rec.modes[(name, layer, direction)],
            }
        saturation = {
            f"{layer_label(s.module, s.layer, s.direction)}.{s.gate}": [s.low, s.high]
            for s in saturation_of(calls)
        }
        spectra = {f"{layer_label(s.module, s.layer, s.direction)}.{s.gate}": s.spectral_radius
                   for s in recurrent_spectra(self.model) if s.spectral_radius is not None}
        total = self.watch.update(step, self.model)
        line = {"step": step, "grad_through_time": flow, "saturation": saturation,
                "spectral_radius": spectra, "grad_norm": total,
                "param_grad_norms": parameter_grad_norms(self.model),
                "first_explosion": self.watch.first_explosion,
                "first_nonfinite": self.watch.first_nonfinite}
        with open(self.path, "a") as f:
            f.write(json.dumps(line, allow_nan=True) + "\n")
        return line

    def close(self) -> None:
        self._rec = self._calls = None


def read_diagnostics(path: Path) -> list[dict]:
    """The diagnosed updates of a run, in step order (a resumed run's repeats: last wins)."""
    if not path.is_file():
        return []
    by_step = {}
    for line in path.read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            by_step[d["step"]] = d
    return [by_step[k] for k in sorted(by_step)]


def plot_gradient_heatmap(lines: list[dict], out_png: Path) -> Path | None:
    """Heat-map per recorded layer: time step (x) x training step (y), log10 ||dL/dh_t||."""
    if not lines:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(lines[-1]["grad_through_time"])
    fig, axes = plt.subplots(1, len(labels), figsize=(5 * len(labels), 3.6), squeeze=False)
    steps = [d["step"] for d in lines]
    for ax, label in zip(axes[0], labels, strict=True):
        rows = [d["grad_through_time"].get(label, {}).get("norms", []) for d in lines]
        T = max(len(r) for r in rows)
        grid = torch.full((len(rows), T), float("nan"), dtype=torch.float64)
        for i, r in enumerate(rows):
            grid[i, :len(r)] = torch.tensor(r, dtype=torch.float64)
        image = torch.log10(grid.clamp_min(1e-30))
        im = ax.imshow(image.numpy(), aspect="auto", origin="lower", cmap="viridis",
                       extent=(-0.5, T - 0.5, 0, len(rows)), interpolation="nearest")
        ax.set_yticks([i + 0.5 for i in range(len(rows))][:: max(1, len(rows) // 8)])
        ax.set_yticklabels([str(s) for s in steps][:: max(1, len(rows) // 8)])
        ax.set_xlabel("time step t (the loss sits at the right for a last-step loss)")
        ax.set_ylabel("training update")
        ax.set_title(f"log10 ||dL/dh_t||, {label}")
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png


def plot_saturation(lines: list[dict], out_png: Path) -> Path | None:
    """Fraction of each gate's activations near a limit (low + high) over training."""
    if not lines or not lines[-1]["saturation"]:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    steps = [d["step"] for d in lines]
    for key in lines[-1]["saturation"]:
        ys = [sum(d["saturation"].get(key, [math.nan, 0.0])) for d in lines]
        ax.plot(steps, ys, marker=".", label=key)
    ax.set_xlabel("training update")
    ax.set_ylabel("fraction saturated (near 0/1 or -1/1)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("gate saturation")
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png


def warnings_from(lines: list[dict], high_fraction: float = 0.5) -> list[str]:
    """Warning lines with remedies from the latest diagnosed update (and the whole watch)."""
    if not lines:
        return []
    from rnnkit.diagnostics import BlockSpectrum, GateSaturation, GradientFlow, LayerFlow

    last = lines[-1]
    layers = {}
    for label, f in last["grad_through_time"].items():
        module, _, rest = label.rpartition(".")
        layer, direction = int(rest.rstrip("r")), int(rest.endswith("r"))
        ratios = torch.ones(len(f["norms"]))  # only its length is used by advise
        layers[(module, layer, direction)] = LayerFlow(
            (module, layer, direction), None, ratios, f["rho"], f["span"], None, f["mode"])
    flow = GradientFlow(layers, {}, math.nan, SPAN_THRESHOLD)
    saturation = []
    for key, (low, high) in last["saturation"].items():
        module_layer, gate = key.rsplit(".", 1)
        module, _, rest = module_layer.rpartition(".")
        saturation.append(GateSaturation(module, int(rest.rstrip("r")), int(rest.endswith("r")),
                                         gate, low, high, math.nan))
    spectra = []
    for key, radius in last["spectral_radius"].items():
        module_layer, gate = key.rsplit(".", 1)
        module, _, rest = module_layer.rpartition(".")
        spectra.append(BlockSpectrum(module, int(rest.rstrip("r")), int(rest.endswith("r")),
                                     gate, math.nan, math.nan, radius))
    watch = GradientWatch()
    for d in lines:
        if watch.first_explosion is None and d.get("first_explosion"):
            watch.first_explosion = tuple(d["first_explosion"])
        if watch.first_nonfinite is None and d.get("first_nonfinite"):
            watch.first_nonfinite = tuple(d["first_nonfinite"])
    return advise(flow, spectra, saturation, watch, high_fraction)


def report_section(run_dir: Path) -> list[str]:
    """Markdown lines for a run report: figures and warnings, or nothing if not diagnosed."""
    lines = read_diagnostics(run_dir / "diagnostics.jsonl")
    if not lines:
        return []
    out = ["", f"## Gradient diagnostics ({len(lines)} diagnosed updates)", ""]
    if plot_gradient_heatmap(lines, run_dir / "grad_heatmap.png"):
        out += ["![gradient norm through time](grad_heatmap.png)", ""]
    if plot_saturation(lines, run_dir / "saturation.png"):
        out += ["![gate saturation](saturation.png)", ""]
    last = lines[-1]
    for label, f in last["grad_through_time"].items():
        out.append(f"- {label}: gradient x{f['rho']:.3f} per step back in time, memory span "
                   f"{f['span']} of {len(f['norms'])} steps (update {last['step']})")
    warnings = warnings_from(lines)
    out += [f"- **warning:** {w}" for w in warnings] or ["- no vanishing or exploding "
                                                        "gradients detected"]
    return out
