"""``rnnkit sample handwriting RUN --text "水火山" -o out.svg``: characters written by a
trained handwriting model, left to right in a row, as SVG (``--animate``: the pen moving)
or PNG, chosen by the file name."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_COUNT = 5  # without --text: the first 5 characters the model knows (or 5 drawings)


def sample_handwriting(run, args: argparse.Namespace) -> int:
    """Write ``--text`` (a space leaves a gap) and save the row."""
    import torch

    from rnnkit.data.stroke_drawing import strokes_png, strokes_svg
    from rnnkit.errors import ConfigError
    from rnnkit.recipes.handwriting.samples import character_ids, write

    if any(v is not None for v in (args.prime, args.top_k, args.top_p, args.wav)):
        raise ConfigError("--prime, --top-k, --top-p and --wav are for text and music; "
                          "handwriting takes --text, --bias, --temperature and --length")
    bias = 0.0 if args.bias is None else args.bias
    temperature = 1.0 if args.temperature is None else args.temperature
    if bias < 0:
        raise ConfigError(f"--bias must be >= 0 (got {bias}; 0 = the trained distribution)")
    if temperature <= 0:
        raise ConfigError(f"--temperature must be > 0 for handwriting (got {temperature})")
    if args.length is not None and args.length < 1:
        raise ConfigError(f"--length must be >= 1 (got {args.length})")
    out = Path(args.output or "handwriting.svg")
    if out.suffix.lower() not in (".svg", ".png"):
        raise ConfigError(f"-o {out}: expected an .svg or .png file name")
    if args.animate and out.suffix.lower() != ".svg":
        raise ConfigError("--animate writes an SVG animation: use -o NAME.svg")
    model, spec = run.model, run.spec
    settings = dict(bias=bias, temperature=temperature, seed=args.seed, max_points=args.length)
    if model.num_chars is None:
        if args.text is not None:
            raise ConfigError("this model is unconditional (trained with whole characters "
                              "held out): it cannot write requested characters; leave out "
                              "--text")
        row = write(model, spec, count=DEFAULT_COUNT, **settings)
        what = f"{len(row)} unconditional drawings"
    else:
        asked = list(args.text) if args.text is not None else \
            list(spec["characters"][:DEFAULT_COUNT])
        chars = [c for c in asked if not c.isspace()]
        if not chars:
            raise ConfigError("--text has no characters to write")
        try:
            character_ids(spec, chars)
        except ConfigError as e:
            raise ConfigError(f"--text: {e}") from None
        drawn = iter(write(model, spec, chars, **settings))
        row = [torch.zeros(0, 3) if c.isspace() else next(drawn) for c in asked]
        what = f"{len(chars)} characters ({''.join(asked)})"
    if out.suffix.lower() == ".svg":
        strokes_svg(row, out, animate=args.animate)
    else:
        strokes_png(row, out)
    seed = "random" if args.seed is None else args.seed
    print(f"{what}, bias {bias:g}, seed {seed}: {out}")
    return 0
