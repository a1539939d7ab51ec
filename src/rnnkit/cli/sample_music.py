"""``rnnkit sample music RUN -o out.mid``: a piece from a trained music model, as MIDI,
a piano-roll PNG beside it, and optionally a WAV to listen to."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_FRAMES = 64


def sample_music(run, args: argparse.Namespace) -> int:
    """Generate ``--length`` frames (after ``--prime tune.mid`` when given) and write them."""
    import torch

    from rnnkit.data.midi import read_midi, write_midi
    from rnnkit.data.music import render_wav, transpose_roll
    from rnnkit.errors import ConfigError
    from rnnkit.recipes.music.plots import plot_rolls

    if args.top_k is not None or args.top_p is not None:
        raise ConfigError("--top-k/--top-p are for text; music samples every key")
    length = DEFAULT_FRAMES if args.length is None else args.length
    temperature = 1.0 if args.temperature is None else args.temperature
    if length < 1:
        raise ConfigError(f"--length must be >= 1 (got {length})")
    if temperature <= 0:
        raise ConfigError(f"--temperature must be > 0 for music (got {temperature})")
    grid = int(run.spec.get("steps_per_quarter", 1))
    out = Path(args.output or "sample.mid")
    if out.suffix.lower() not in (".mid", ".midi"):
        raise ConfigError(f"-o {out}: expected a .mid or .midi file name")
    prime, shift = None, 0
    if args.prime:  # read as the model was trained (in C), written back in the tune's key
        piece = read_midi(args.prime, steps_per_quarter=grid, transpose=run.config.data.transpose)
        prime, shift = torch.as_tensor(piece.roll, dtype=torch.float32), piece.shift
    rolls = run.model.generate(length, prime=prime, temperature=temperature, seed=args.seed)
    roll = transpose_roll(rolls[:, 0].cpu().numpy().astype("uint8"), -shift)  # (P + length, K)
    write_midi(roll, out, steps_per_quarter=grid)
    plot_rolls([], [roll], out.with_suffix(".png"))
    written = [str(out), str(out.with_suffix(".png"))]
    if args.wav:
        written.append(str(render_wav(roll, args.wav, steps_per_quarter=grid)))
    primed = f" after {len(roll) - length} primed" if prime is not None else ""
    print(f"{length} frames{primed}, {roll.sum() / max(len(roll), 1):.1f} notes per frame: "
          f"{', '.join(written)}")
    return 0
