"""Load test of ``rnnkit serve`` on loopback: N clients ask a served language model for text
for a while; requests per second, latency percentiles, the server's peak memory, and every
request that failed or got no answer.

    .venv/bin/python benchmarks/serve_load.py runs/results/demo-auto \\
        --clients 4 --duration 60 --threads 1 -o docs/results/serve/demo-charlm-4clients.json

The server is ``rnnkit serve RUN --threads T`` in its own process (OMP_NUM_THREADS=T too).
Each client is a thread with its own keep-alive connection that sends one request after the
other: ``--mode stream`` (default) reads the server-sent events of a streamed generation
and also times the first token, ``--mode json`` waits for the whole text. Request k of
client c uses seed ``--seed + 1000 * c + k``. A request fails when its status is not 200
or its text is not ``--length`` tokens long; it is lost when no answer came at all
(connection error or client timeout); the server's own count of generate requests must
equal the number sent. Peak memory is the server's VmHWM (peak resident set) from
/proc at the end; CPU seconds are the server's user + system time during the test.
Needs the serve extra and httpx2 (the dev extra).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2 as httpx

from rnnkit.recipes.result import measurement_fields


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int, key: str) -> float:
    """A /proc/PID/status field in MiB (VmHWM, VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(run: str, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "rnnkit.cli", "serve", run, "--port", str(port),
           "--threads", str(threads)]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            sys.exit(f"rnnkit serve exited: {proc.stderr.read()}")
        try:
            httpx.get(url + "/healthz")
            return proc, url
        except httpx.TransportError:
            if time.monotonic() > deadline:
                proc.kill()
                sys.exit("rnnkit serve did not start in 120 s")
            time.sleep(0.1)


class Client(threading.Thread):
    """Sends requests one after the other until ``stop_at``; keeps each one's outcome."""

    def __init__(self, k: int, url: str, path: str, args, stop_at: float):
        super().__init__(daemon=True)
        self.k, self.url, self.path, self.args, self.stop_at = k, url, path, args, stop_at
        self.latency_s: list[float] = []
        self.first_s: list[float] = []
        self.sent = self.failed = self.lost = 0
        self.errors: list[str] = []

    def body(self, n: int) -> dict:
        a = self.args
        return {"prime": a.prime, "length": a.length, "temperature": a.temperature,
                "seed": a.seed + 1000 * self.k + n, "stream": a.mode == "stream"}

    def one(self, c: httpx.Client, body: dict) -> tuple[bool, float | None]:
        """(answered in full, seconds to the first token)."""
        t0 = time.perf_counter()
        if self.args.mode == "json":
            r = c.post(self.path, json=body)
            return r.status_code == 200 and r.json()["tokens"] == self.args.length, None
        first, tokens, done = None, 0, False
        with c.stream("POST", self.path, json=body) as r:
            if r.status_code != 200:
                r.read()
                return False, None
            for line in r.iter_lines():
                if line == "event: token":
                    tokens += 1
                    first = first or time.perf_counter() - t0
                elif line == "event: done":
                    done = True
        return done and tokens == self.args.length, first

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=self.args.timeout) as c:
            n = 0
            while time.monotonic() < self.stop_at:
                body = self.body(n)
                n += 1
                self.sent += 1
                t0 = time.perf_counter()
                try:
                    good, first = self.one(c, body)
                except (httpx.HTTPError, ValueError) as e:
                    self.lost += 1
                    self.errors.append(f"{type(e).__name__}: {e}")
                    continue
                if not good:
                    self.failed += 1
                    continue
                self.latency_s.append(time.perf_counter() - t0)
                if first is not None:
                    self.first_s.append(first)


def percentiles(xs: list[float]) -> dict:
    """Milliseconds: p50, p90, p99 (nearest rank), mean, max."""
    if not xs:
        return {}
    s = sorted(xs)

    def rank(p: float) -> float:
        return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]

    return {k: round(1000 * v, 2) for k, v in (("p50", rank(50)), ("p90", rank(90)),
                                                ("p99", rank(99)), ("mean", statistics.mean(s)),
                                                ("max", s[-1]))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a charlm (or demo) run folder or checkpoint")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--duration", type=float, default=60.0, help="seconds [60]")
    p.add_argument("--threads", type=int, default=1, help="the server's torch threads [1]")
    p.add_argument("--mode", choices=("stream", "json"), default="stream")
    p.add_argument("--prime", default="ROMEO:")
    p.add_argument("--length", type=int, default=100, help="tokens per request [100]")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=60.0, help="client timeout, s [60]")
    p.add_argument("-o", "--output", help="write the result file here (JSON)")
    args = p.parse_args(argv)

    proc, url = start_server(args.run, args.threads)
    try:
        model = httpx.get(url + "/v1/models").json()["models"][0]
        path = model["endpoints"][0]
        assert path.endswith("/generate"), f"{args.run} is not a language model"
        with httpx.Client(base_url=url, timeout=60) as c:  # warm-up, not counted
            c.post(path, json={"prime": args.prime, "length": args.length, "seed": 0})
            before = c.get("/v1/stats").json()["models"][model["name"]]["requests"]
        load_before = os.getloadavg()
        cpu0, server_cpu0 = time.process_time(), proc_cpu_s(proc.pid)
        t0 = time.perf_counter()
        stop_at = time.monotonic() + args.duration
        clients = [Client(k, url, path, args, stop_at) for k in range(args.clients)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        wall = time.perf_counter() - t0
        client_cpu, server_cpu = time.process_time() - cpu0, proc_cpu_s(proc.pid) - server_cpu0
        peak_mb, rss_mb = proc_status(proc.pid, "VmHWM"), proc_status(proc.pid, "VmRSS")
        after = httpx.get(url + "/v1/stats").json()["models"][model["name"]]["requests"]
        load_after = os.getloadavg()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        proc.stderr.close()

    sent = sum(c.sent for c in clients)
    ok = sum(len(c.latency_s) for c in clients)
    failed, lost = sum(c.failed for c in clients), sum(c.lost for c in clients)
    server_count = after.get("generate", 0) - before.get("generate", 0)
    values = {
        "clients": args.clients, "duration_s": args.duration, "mode": args.mode,
        "length": args.length, "requests": sent, "answered": ok, "failed": failed,
        "lost": lost, "server_counted": server_count,
        "requests_per_s": round(ok / wall, 2),
        "tokens_per_s": round(ok * args.length / wall, 1),
        "latency_ms": percentiles([x for c in clients for x in c.latency_s]),
        "first_token_ms": percentiles([x for c in clients for x in c.first_s]),
        "server_peak_rss_mb": round(peak_mb, 1), "server_rss_end_mb": round(rss_mb, 1),
        "server_cpu_s": round(server_cpu, 1), "client_cpu_s": round(client_cpu, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }
    lat, first = values["latency_ms"], values["first_token_ms"]
    result = {
        "measurement": f"rnnkit serve under load: {args.clients} clients on loopback for "
                       f"{args.duration:g} s, {args.mode} generation of {args.length} tokens",
        "values": {**values, "p50_ms": lat.get("p50"), "p99_ms": lat.get("p99"),
                   "first_p50_ms": first.get("p50"), "first_p99_ms": first.get("p99")},
        "text": "{requests_per_s} requests/s ({tokens_per_s} tokens/s), latency p50 "
                "{p50_ms} ms, p99 {p99_ms} ms, first token p50 {first_p50_ms} ms, p99 "
                "{first_p99_ms} ms; server peak RSS {server_peak_rss_mb} MiB; {failed} "
                "failed, {lost} lost of {requests}",
        "model": {k: model[k] for k in ("name", "recipe", "model", "parameters")},
        **measurement_fields("python benchmarks/serve_load.py " + " ".join(
            sys.argv[1:] if argv is None else argv), seed=args.seed, threads=args.threads),
        "seeds": "request k of client c: seed + 1000 * c + k",
        "wall_s": round(wall, 2),
        "cpu_s": round(client_cpu + server_cpu, 1),  # clients and server together
        "errors": sorted({e for c in clients for e in c.errors})[:10],
    }
    print(result["text"].format(**result["values"]))
    print(json.dumps(values, indent=1))
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {out}")
    return 0 if failed == lost == 0 and server_count == sent else 1


if __name__ == "__main__":
    sys.exit(main())
