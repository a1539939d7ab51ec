"""``rnnkit serve RUN [RUN ...]``: trained runs behind an HTTP service, with a page to try
them at ``/`` and the API described at ``/docs``.

    rnnkit serve runs/charlm runs/splice runs/en-fr runs/asr runs/tts --port 8000
    curl -s localhost:8000/v1/models
    curl -s localhost:8000/v1/models/charlm/generate --json '{"prime": "ROMEO:", "length": 200}'
    curl -sN localhost:8000/v1/models/charlm/generate --json '{"prime": "ROMEO:", "stream": true}'
    curl -s localhost:8000/v1/models/splice/predict --json '{"fasta": ">s\\nCAGGTAAGT..."}'
    curl -s localhost:8000/v1/models/en-fr/translate --json '{"sentences": ["Where is it?"]}'
    curl -s localhost:8000/v1/models/asr/transcribe -F file=@clip.wav -F beam=8
    curl -s localhost:8000/v1/models/tts/say --json '{"text": "Where is it?"}' -o it.wav

Each run is served under its folder's name. Language models generate (streamed as
server-sent events with ``"stream": true``), classifiers and taggers classify or tag
sequences and scan FASTA, translation runs translate, speech runs transcribe, text-to-speech
runs say (a WAV file back). Requests above the limits get 413, bad input 4xx with a
one-line JSON ``error``. Needs ``pip install 'rnnkit[serve]'``.
"""

from __future__ import annotations

import argparse
import sys

from rnnkit.cli.parser import add_quantize_flag


def add_parser(sub) -> None:
    from rnnkit.serve.limits import Limits

    d = Limits()
    p = sub.add_parser("serve", help="serve trained runs over HTTP, with a page to try them",
                       description=__doc__.replace("``", "`"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders or checkpoint files")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (0.0.0.0: every interface) [127.0.0.1]")
    p.add_argument("--port", type=int, default=8000, help="[8000]")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads for the models [torch's default]")
    p.add_argument("--timeout", type=float, default=d.timeout_s,
                   help=f"seconds one request may take [{d.timeout_s:g}]")
    p.add_argument("--max-body-kb", type=int, default=d.max_body_bytes // 1024,
                   help=f"largest JSON body [{d.max_body_bytes // 1024}]")
    p.add_argument("--max-generate", type=int, default=d.max_generate,
                   help=f"most tokens one request may generate [{d.max_generate}]")
    p.add_argument("--batch-window-ms", type=float, default=d.batch_window_ms,
                   help=f"how long a batch waits for more requests [{d.batch_window_ms:g}]")
    p.add_argument("--max-batch", type=int, default=d.max_batch,
                   help=f"most sequences in one forward pass [{d.max_batch}]")
    p.add_argument("--max-connections", type=int, default=128,
                   help="open connections beyond this get 503 [128]")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    add_quantize_flag(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.errors import ConfigError
    from rnnkit.serve import require_packages

    require_packages()  # before loading anything: the missing extra is the one-line answer
    for flag, value in (("--port", args.port), ("--max-body-kb", args.max_body_kb),
                        ("--max-generate", args.max_generate), ("--max-batch", args.max_batch),
                        ("--max-connections", args.max_connections)):
        if value < 1 or (flag == "--port" and value > 65535):
            raise ConfigError(f"{flag} must be {'in 1..65535' if flag == '--port' else '>= 1'}"
                              f" (got {value})")
    if args.timeout <= 0 or args.batch_window_ms < 0:
        raise ConfigError("--timeout must be > 0 and --batch-window-ms >= 0")
    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads must be >= 1 (got {args.threads})")
        import torch

        torch.set_num_threads(args.threads)

    check_port(args.host, args.port)
    import uvicorn

    from rnnkit.serve.app import create_app
    from rnnkit.serve.limits import Limits
    from rnnkit.serve.models import load_models

    limits = Limits(max_body_bytes=args.max_body_kb * 1024, max_generate=args.max_generate,
                    timeout_s=args.timeout, batch_window_ms=args.batch_window_ms,
                    max_batch=args.max_batch)
    models = load_models(args.runs, limits, args.device, args.quantize)
    for m in models.values():
        d = m.describe()
        sys.stderr.write(f"serving {d['name']}: {d['kind']} ({d['recipe']}, {d['model']})\n")
    sys.stderr.write(f"page: http://{args.host}:{args.port}/  API: "
                     f"http://{args.host}:{args.port}/docs\n")
    uvicorn.run(create_app(models, limits), host=args.host, port=args.port,
                limit_concurrency=args.max_connections, log_level="warning",
                ws="none", lifespan="off")
    return 0


def check_port(host: str, port: int) -> None:
    """ConfigError now, before the models load, if the address cannot be listened on."""
    import socket

    from rnnkit.errors import ConfigError

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
