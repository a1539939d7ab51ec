"""``rnnkit transcribe RUN file.wav ...``: speech to text with a trained ``asr`` run.

    rnnkit transcribe runs/asr clip.ogg more.wav           # path<TAB>text per file
    rnnkit transcribe runs/asr clip.ogg --beam 8 --lm runs/charlm-nl
    rnnkit transcribe runs/asr-uni --stream clip.wav        # partial text as it is heard
    arecord -f S16_LE -r 16000 -c 1 | rnnkit transcribe runs/asr-uni --stream -

``--stream`` needs a unidirectional model (``--bidirectional false`` when training). It
reads the audio in chunks of ``--chunk-ms`` (a file, or raw 16-bit little-endian mono PCM at
the model's sample rate from standard input for ``-``), prints the text as it becomes
final, and reports the processing time per chunk on standard error.
"""

from __future__ import annotations

import argparse
import sys
import time


def add_parser(sub) -> None:
    p = sub.add_parser("transcribe", help="speech to text with a trained asr run",
                       description=__doc__.replace("``", "`"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", metavar="RUN_OR_CKPT", help="asr run folder or checkpoint")
    p.add_argument("audio", nargs="+", help="audio files (.wav, .flac, .ogg, ...); with "
                   "--stream one file or '-' for raw PCM on standard input")
    p.add_argument("--beam", type=int, default=1, help="prefix beam size; 1 = greedy [1]")
    p.add_argument("--lm", metavar="RUN", help="charlm run for shallow fusion (needs --beam > 1)")
    p.add_argument("--lm-weight", type=float, default=0.5, help="LM weight alpha [0.5]")
    p.add_argument("--length-bonus", type=float, default=1.0,
                   help="bonus per character beta, with --lm [1.0]")
    p.add_argument("--stream", action="store_true",
                   help="read in chunks and print text as it becomes final (greedy)")
    p.add_argument("--chunk-ms", type=int, default=100, help="chunk length for --stream [100]")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.errors import ConfigError
    from rnnkit.recipes.speech.recogniser import Decoding, Recogniser, load_char_lm

    if args.beam < 1:
        raise ConfigError(f"--beam must be >= 1 (got {args.beam})")
    if args.lm and args.beam == 1:
        raise ConfigError("--lm needs a beam: add --beam 8")
    recogniser = Recogniser.load(args.checkpoint, args.device)
    if args.stream:
        if args.lm or args.beam > 1:
            raise ConfigError("--stream decodes greedily: drop --beam and --lm")
        if len(args.audio) != 1:
            raise ConfigError("--stream reads one file or '-' (standard input)")
        if args.chunk_ms < 10:
            raise ConfigError(f"--chunk-ms must be >= 10 (got {args.chunk_ms})")
        return stream(recogniser, args.audio[0], args.chunk_ms)
    lm = load_char_lm(args.lm, recogniser.alphabet) if args.lm else None
    decoding = Decoding(args.beam, lm, args.lm_weight if lm else 0.0,
                        args.length_bonus if lm else 0.0)
    for path, text in zip(args.audio, recogniser.transcribe_files(args.audio, decoding),
                          strict=True):
        print(f"{path}\t{text}", flush=True)
    return 0


def pcm_chunks(source: str, sample_rate: int, chunk: int):
    """Chunks (n,) float32 of ``chunk`` samples: from a file (any format, resampled), or
    raw signed 16-bit little-endian mono PCM at ``sample_rate`` from standard input."""
    import numpy as np
    import torch

    if source != "-":
        from rnnkit.recipes.speech.recogniser import read_speech

        wave = read_speech(source, sample_rate)
        for i in range(0, len(wave), chunk):
            yield wave[i:i + chunk]
        return
    stdin = sys.stdin.buffer
    while data := stdin.read(2 * chunk):
        data = data[:len(data) // 2 * 2]  # a cut-off last byte holds no sample
        yield torch.from_numpy(np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0)


def stream(recogniser, source: str, chunk_ms: int) -> int:
    """Print text as each chunk makes it final; per-chunk processing time to stderr."""
    import statistics

    chunk = recogniser.sample_rate * chunk_ms // 1000
    times: list[float] = []
    pieces = recogniser.stream(pcm_chunks(source, recogniser.sample_rate, chunk))
    while True:
        t0 = time.perf_counter()
        try:
            text = next(pieces)
        except StopIteration:
            break
        times.append(time.perf_counter() - t0)
        sys.stdout.write(text)
        sys.stdout.flush()
    sys.stdout.write("\n")
    ms = sorted(1000 * t for t in times[:-1]) or [0.0]  # the last item is the flush
    sys.stderr.write(f"stream: {len(times) - 1} chunks of {chunk_ms} ms; processing per "
                     f"chunk median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms "
                     f"(real-time factor {statistics.median(ms) / chunk_ms:.3f})\n")
    return 0
