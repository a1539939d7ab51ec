"""``rnnkit say RUN "some text" -o out.wav``: speak with a trained ``tts`` run.

    rnnkit say runs/tts "Where is the exit?" -o exit.wav
    rnnkit say runs/tts --file lines.txt -o spoken/         # one WAV per line: 0001.wav, ...
    rnnkit say runs/tts "Hello." -o hello.wav --show hello.png   # + frames and attention
    rnnkit say runs/tts-nl "Waar is de uitgang?" -o uit.wav --speaker font_big  # a voice

Prints, per text, the file, its length, whether synthesis stopped by itself and the
real-time factor (synthesis time / audio length, model and Griffin-Lim together).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit.cli.parser import text_lines


def add_parser(sub) -> None:
    p = sub.add_parser("say", help="text to speech with a trained tts run",
                       description=__doc__.replace("``", "`"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", metavar="RUN_OR_CKPT", help="tts run folder or checkpoint")
    p.add_argument("text", nargs="?", help="what to say")
    p.add_argument("--file", metavar="FILE", help="one text per line ('-': stdin)")
    p.add_argument("-o", "--output", required=True,
                   help="WAV file (one text) or folder (--file)")
    p.add_argument("--seed", type=int, default=0, help="pre-net dropout and vocoder phase [0]")
    p.add_argument("--griffin-lim-iters", type=int, default=32, help="vocoder iterations [32]")
    p.add_argument("--speaker", metavar="NAME",
                   help="which voice of a model trained on several (default: the one with "
                        "most training clips)")
    p.add_argument("--show", metavar="PNG", help="write the first text's frames and attention")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.data.audio import write_wav
    from rnnkit.errors import ConfigError
    from rnnkit.recipes.synthesis.voice import Voice

    if (args.text is None) == (args.file is None):
        raise ConfigError("give a text or --file FILE, not both")
    if args.griffin_lim_iters < 1:
        raise ConfigError(f"--griffin-lim-iters must be >= 1 (got {args.griffin_lim_iters})")
    voice = Voice.load(args.checkpoint, args.device)
    voice.speaker_index(args.speaker)  # a wrong name fails before any work
    if args.text is not None:
        jobs = [(args.text, Path(args.output), "text")]
    else:
        out = Path(args.output)
        if out.exists() and not out.is_dir():
            raise ConfigError(f"-o {out}: with --file, -o names a folder")
        out.mkdir(parents=True, exist_ok=True)
        lines = [ln.strip() for ln in text_lines(args.file)]
        jobs = [(t, out / f"{k + 1:04d}.wav", f"{args.file}:{k + 1}")
                for k, t in enumerate(lines) if t]
    for k, (text, path, where) in enumerate(jobs):
        spoken = voice.say(text, seed=args.seed, where=where,
                           griffin_lim_iters=args.griffin_lim_iters, speaker=args.speaker)
        write_wav(path, spoken.wave, voice.sample_rate)
        seconds = len(spoken.wave) / voice.sample_rate
        print(f"{path}\t{seconds:.2f} s\t{'stopped' if spoken.stopped else 'cut at the limit'}"
              f"\treal-time factor {spoken.seconds / max(seconds, 1e-9):.3f}", flush=True)
        if k == 0 and args.show:
            from rnnkit.recipes.synthesis.plots import plot_synthesis

            plot_synthesis(None, spoken.mels, spoken.attention, args.show, title=text)
            sys.stderr.write(f"frames and attention: {args.show}\n")
    return 0

