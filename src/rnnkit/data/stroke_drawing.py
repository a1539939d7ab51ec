"""Pictures of offset drawings: a row of characters as SVG (optionally animated, the pen
moving stroke by stroke) or PNG.

Each drawing is (T, 3) ``(dx, dy, pen)`` as ``rnnkit.data.strokes.to_offsets`` makes it
(and ``rnnkit.models.handwriting.StrokeWriter.generate`` samples it): offsets are summed
back to positions (the inverse of ``to_offsets``), and ``points_to_strokes`` splits them
into polylines after each pen = 1 point, so the pen-up jump to the next stroke is not
drawn. Each drawing is scaled (aspect kept) and centred in its own ``size`` x ``size`` cell;
cells are laid out left to right with ``gap`` between them, in the order given.

y convention: y grows downwards, as in SVG and on screen, which is how the project's
normalised drawings are stored (KanjiVG is read as is, hanzi-writer-data with
``flip_y=True``), so those come out upright. Pass ``flip_y=True`` for data whose y axis
points up (LASA's millimetres, a plotter's coordinates).
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.data.files import write_atomically
from rnnkit.data.strokes import points_to_strokes

MARGIN = 0.1              # of a cell, on each side: round line caps stay inside
SECONDS_PER_POINT = 0.02  # animation: one sampled point per 20 ms, about a writer's tablet rate


def offsets_to_points(offsets: Tensor) -> Tensor:
    """(T, 3) (dx, dy, pen) -> (T, 3) (x, y, pen): the inverse of ``strokes.to_offsets``
    (the first offset is from the origin)."""
    pts = offsets.detach().to("cpu", torch.float64).clone()
    pts[:, :2] = pts[:, :2].cumsum(0)
    return pts


def _layout(drawings: list[Tensor], size: int, gap: int, flip_y: bool
            ) -> list[list[list[tuple[float, float]]]]:
    """Per drawing, its strokes as lists of (x, y) picture coordinates in its cell."""
    out = []
    for k, d in enumerate(drawings):
        if d.dim() != 2 or d.size(-1) != 3:
            raise ValueError(f"drawing {k}: expected (T, 3) (dx, dy, pen), got {tuple(d.shape)}")
        if len(d) == 0:
            out.append([])
            continue
        pts = offsets_to_points(d)                                   # (T, 3)
        if not torch.isfinite(pts).all():
            raise ValueError(f"drawing {k}: offsets contain NaN or infinity")
        if flip_y:
            pts[:, 1] = -pts[:, 1]
        lo, hi = pts[:, :2].min(0).values, pts[:, :2].max(0).values  # (2,)
        span = float((hi - lo).max())
        scale = size * (1 - 2 * MARGIN) / span if span > 0 else 1.0
        centre = (lo + hi) / 2
        origin = torch.tensor([k * (size + gap) + size / 2, size / 2], dtype=torch.float64)
        strokes = []
        for s in points_to_strokes(pts):                              # (n_i, 2) each
            xy = (s - centre) * scale + origin
            strokes.append([(float(x), float(y)) for x, y in xy.tolist()])
        out.append(strokes)
    return out


def _canvas(n: int, size: int, gap: int) -> tuple[int, int]:
    return max(1, n * size + max(0, n - 1) * gap), size


def _length(line: list[tuple[float, float]]) -> float:
    return sum(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
               for (x0, y0), (x1, y1) in zip(line, line[1:], strict=False))


def strokes_svg(drawings: list[Tensor], path: str | Path, *, size: int = 96, gap: int = 16,
                animate: bool = False, flip_y: bool = False) -> Path:
    """Write the drawings as one SVG row, one ``<polyline>`` per stroke; return the path.

    With ``animate`` the strokes appear in writing order, each drawn from its start to its
    end (an ``<animate>`` of ``stroke-dashoffset`` over a dash as long as the stroke), for
    ``SECONDS_PER_POINT`` per point, drawing after drawing.
    """
    if size < 1 or gap < 0:
        raise ValueError(f"size must be >= 1 and gap >= 0, got size={size}, gap={gap}")
    width, height = _canvas(len(drawings), size, gap)
    lw = max(1.0, size / 48)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">',
             f'<rect width="{width}" height="{height}" fill="white"/>']
    t = 0.0
    for k, strokes in enumerate(_layout(drawings, size, gap, flip_y)):
        parts.append(f'<g id="drawing{k}" fill="none" stroke="black" stroke-width="{lw:g}" '
                     'stroke-linecap="round" stroke-linejoin="round">')
        for line in strokes:
            if len(line) == 1:  # a dot: a zero-length segment shows as a round cap
                line = line * 2
            pts = " ".join(f"{x:.2f},{y:.2f}" for x, y in line)
            if not animate:
                parts.append(f'<polyline points="{pts}"/>')
                continue
            dash = _length(line) + 2 * lw  # longer than the stroke and its caps
            dur = SECONDS_PER_POINT * len(line)
            parts.append(
                f'<polyline points="{pts}" stroke-dasharray="{dash:.2f}" '
                f'stroke-dashoffset="{dash:.2f}" visibility="hidden">'
                f'<set attributeName="visibility" to="visible" begin="{t:.2f}s"/>'
                f'<animate attributeName="stroke-dashoffset" from="{dash:.2f}" to="0" '
                f'begin="{t:.2f}s" dur="{dur:.2f}s" fill="freeze"/></polyline>')
            t += dur
        parts.append("</g>")
    parts.append("</svg>\n")
    text = "\n".join(parts)
    return write_atomically(path, lambda fh: fh.write(text.encode()))


def strokes_png(drawings: list[Tensor], path: str | Path, size: int = 96, *, gap: int = 16,
                flip_y: bool = False) -> Path:
    """The same row as ``strokes_svg`` as a PNG (matplotlib's Agg renderer, 1 px per unit);
    return the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if size < 1 or gap < 0:
        raise ValueError(f"size must be >= 1 and gap >= 0, got size={size}, gap={gap}")
    width, height = _canvas(len(drawings), size, gap)
    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)  # no pyplot: no global state
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)  # y grows downwards, as in the SVG
    ax.axis("off")
    lw_points = max(1.0, size / 48) * 72 / dpi
    for strokes in _layout(drawings, size, gap, flip_y):
        for line in strokes:
            xs, ys = zip(*line, strict=True)
            ax.plot(xs, ys, "-", color="black", lw=lw_points, solid_capstyle="round",
                    solid_joinstyle="round", marker="o" if len(line) == 1 else None,
                    ms=lw_points)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    data = buf.getvalue()
    return write_atomically(path, lambda fh: fh.write(data))
