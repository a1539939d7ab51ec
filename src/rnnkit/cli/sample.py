"""``rnnkit sample [FIELD] RUN_OR_CKPT``: generate from a trained model.

    rnnkit sample runs/charlm --prime "ROMEO:"        # text, streamed to the terminal
    rnnkit sample music runs/music -o tune.mid --wav tune.wav --prime theme.mid
    rnnkit sample handwriting runs/handwriting --text "水火山" -o out.svg --bias 1

The field (``text``, ``music`` or ``handwriting``) may be left out: the checkpoint says
what it is; given, it must match. Needs only the checkpoint (it holds the config and
vocabulary). A run folder means its best.pt (best validation loss), else its newest
checkpoint.
"""

from __future__ import annotations

import argparse
import sys

from rnnkit.cli.parser import add_quantize_flag


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="generate text, music or handwriting from a trained "
                       "model",
                       description=__doc__.replace("``", "`"))
    p.add_argument("what", nargs="+", metavar="[FIELD] RUN_OR_CKPT",
                   help="optional field (text, music, handwriting), then a run folder or "
                        "checkpoint file")
    p.add_argument("--prime", default=None,
                   help="text: text to start from (default: a newline); music: a MIDI file "
                        "to continue")
    p.add_argument("--length", type=int, default=None,
                   help="tokens (text, 500) or frames (music, 64) to generate; handwriting: "
                        "most points per character [the model's]")
    p.add_argument("--temperature", type=float, default=None,
                   help="text: softmax temperature, 0 = greedy [0.8]; music: key "
                        "probabilities sharpened (<1) or flattened (>1) [1.0]; handwriting: "
                        "mixture temperature [1.0]")
    p.add_argument("--top-k", type=int, default=None, help="sample from the k likeliest")
    p.add_argument("--top-p", type=float, default=None,
                   help="sample from the smallest set with this much probability")
    p.add_argument("--seed", type=int, default=None, help="seed for repeatable samples")
    p.add_argument("-o", "--output", default=None,
                   help="music: the MIDI file to write [sample.mid]; a piano-roll PNG is "
                        "written beside it; handwriting: an .svg or .png file "
                        "[handwriting.svg]")
    p.add_argument("--wav", default=None, help="music: also render a WAV file to listen to")
    p.add_argument("--text", default=None,
                   help="handwriting: the characters to write, in a row (a space leaves a "
                        "gap) [the first 5 the model knows]")
    p.add_argument("--bias", type=float, default=None,
                   help="handwriting: sampling bias (Graves 2013), 0 = the trained "
                        "distribution, larger = neater and less varied [0]")
    p.add_argument("--animate", action="store_true",
                   help="handwriting: an SVG animation of the pen writing")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    add_quantize_flag(p)
    p.set_defaults(run=run)


FIELDS = {"text": "vocab", "music": "music", "handwriting": "writer"}  # field -> kind


def run(args: argparse.Namespace) -> int:
    from rnnkit.errors import ConfigError
    from rnnkit.recipes.base import load_run

    if len(args.what) > 2 or (len(args.what) == 2 and args.what[0] not in FIELDS):
        raise ConfigError(f"expected [FIELD] RUN_OR_CKPT with FIELD one of "
                          f"{', '.join(FIELDS)}; got {' '.join(args.what)}")
    if args.seed is not None and args.seed < 0:
        raise ConfigError(f"--seed must be >= 0 (got {args.seed})")
    kinds = (FIELDS[args.what[0]],) if len(args.what) == 2 else tuple(FIELDS.values())
    run = load_run(args.what[-1], kinds, args.device, args.quantize)
    if run.kind == "writer":
        from rnnkit.cli.sample_handwriting import sample_handwriting

        return sample_handwriting(run, args)
    if args.text is not None or args.bias is not None or args.animate:
        raise ConfigError("--text, --bias and --animate are for handwriting models")
    if run.kind == "music":
        from rnnkit.cli.sample_music import sample_music

        return sample_music(run, args)
    return sample_text(run, args)


def sample_text(run, args: argparse.Namespace) -> int:
    """Stream generated text to standard output."""
    from rnnkit.data.text import Vocab
    from rnnkit.errors import ConfigError
    from rnnkit.models.sampling import (
        check_sampling,
        generate,
        unknown_line,
        unknown_tokens,
    )

    if args.output is not None or args.wav is not None:
        raise ConfigError("-o/--output and --wav are for music models; text is printed")
    args.prime = args.prime or ""
    args.length = 500 if args.length is None else args.length
    args.temperature = 0.8 if args.temperature is None else args.temperature
    check_sampling(args.temperature, args.top_k, args.top_p, args.length)
    model, vocab = run.model, Vocab.from_dict(run.spec)
    unknown = unknown_tokens(args.prime, vocab)
    if unknown:  # a warning, not an error: the model still samples, the prime is echoed
        sys.stderr.write(f"rnnkit sample: warning: {unknown_line(unknown, vocab.level)}\n")
    out = sys.stdout
    out.write(args.prime)
    for piece in generate(model, vocab, prime=args.prime, length=args.length,
                          temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                          seed=args.seed, device=next(model.parameters()).device):
        out.write(piece)
        out.flush()
    out.write("\n")
    return 0

