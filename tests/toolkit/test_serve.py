"""``rnnkit serve`` on tiny smoke runs of every kind it serves (a char LM, splice, genes,
translation, speech recognition, text to speech): each endpoint's answers, 4xx JSON errors
for bad requests, the body and time limits, concurrent requests all answered, batching,
streaming, the command itself, and the page in a real headless browser (Debian's chromium,
skipped where it is missing)."""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_asr_recipe import write_corpus
from test_toolkit_bad_input import assert_one_line_error
from test_translate_recipe import write_pairs
from test_tts_recipe import known_texts
from tk_helpers import make_text, rnnkit_cmd, run_cli, subprocess_env

pytest.importorskip("fastapi", reason="the serve extra is not installed: "
                    "pip install 'rnnkit[serve]'")
httpx = pytest.importorskip("httpx2", reason="FastAPI's TestClient needs httpx2 (dev extra)")

from fastapi.testclient import TestClient  # noqa: E402

from rnnkit.cli import main  # noqa: E402
from rnnkit.serve.app import create_app  # noqa: E402
from rnnkit.serve.limits import Limits  # noqa: E402
from rnnkit.serve.models import load_models  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_globals")

SMOKE = ["--smoke", "--no-progress", "--threads", "1"]
NAMES = ("lm", "sp", "g", "tr", "asr", "lasa", "tts")
# A StatLog donor site (exon ... |GTAAGT intron), 60 nt with the junction after base 30.
WINDOW = "CCAGCTGCATCTGCCCAGGCCCAGGAGCAGGTAAGTGCCAGCCCCGCCTGGCCTCCCCAG"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """One smoke run per served kind, and a classifier of features (about 15 s on one
    core). The voice learns from the speech recogniser's clips."""
    root = tmp_path_factory.mktemp("serve")
    out = ["--runs-dir", str(root / "runs")]
    (root / "verse.txt").write_text(make_text())
    assert main(["train", "charlm", "--data", str(root / "verse.txt"), *SMOKE, *out,
                 "--name", "lm", "--hidden-size", "16", "--embed-size", "8"]) == 0
    assert main(["train", "splice", *SMOKE, *out, "--name", "sp"]) == 0
    rng = random.Random(0)
    (root / "toy.fna").write_text(">chr1\n" + "".join(rng.choice("ACGT") for _ in range(3000))
                                  + "\n")
    (root / "toy.gff3").write_text("".join(f"chr1\tt\tCDS\t{s + 1}\t{s + 250}\t.\t+\t0\t.\n"
                                           for s in range(100, 2700, 400)))
    assert main(["train", "genes", *SMOKE, *out, "--data", str(root / "toy.fna"),
                 "--name", "g"]) == 0
    write_pairs(root / "pairs.tsv")
    assert main(["train", "translate", *SMOKE, *out, "--data", str(root / "pairs.tsv"),
                 "--name", "tr", "--level", "char"]) == 0
    write_corpus(root / "corpus")
    assert main(["train", "asr", *SMOKE, *out, "--data", str(root / "corpus" / "list.tsv"),
                 "--name", "asr"]) == 0
    assert main(["train", "lasa", *SMOKE, *out, "--name", "lasa"]) == 0  # reads features
    assert main(["train", "tts", *SMOKE, *out, "--data", str(root / "corpus" / "list.tsv"),
                 "--name", "tts"]) == 0
    return root


def serve_app(runs: Path, **limits):
    lim = Limits(**limits)
    return create_app(load_models([runs / "runs" / n for n in NAMES], lim), lim)


@pytest.fixture(scope="module")
def client(runs):
    with TestClient(serve_app(runs, max_body_bytes=64 * 1024, max_audio_bytes=200_000)) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(runs):
    """The app on a real uvicorn server in a thread: its base URL."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(serve_app(runs), host="127.0.0.1", port=port,
                                        log_level="warning", ws="none", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def ok(r) -> dict:
    assert r.status_code == 200, r.text
    return r.json()


def sse_events(lines) -> list[tuple[str, dict, float]]:
    """(event, data, arrival time) of a server-sent event stream."""
    import json

    events, event = [], None
    for line in lines:
        if line.startswith("event: "):
            event = line[len("event: "):]
        elif line.startswith("data: "):
            events.append((event, json.loads(line[len("data: "):]), time.perf_counter()))
    return events


# ---- every endpoint's happy path ------------------------------------------------------------

def test_models_are_listed_under_their_folder_names_with_their_kinds(client):
    models = {m["name"]: m for m in ok(client.get("/v1/models"))["models"]}
    assert {n: m["kind"] for n, m in models.items()} == {
        "lm": "language-model", "sp": "classifier", "g": "tagger", "tr": "translation",
        "asr": "speech-recognition", "lasa": "classifier", "tts": "text-to-speech"}
    assert models["sp"]["endpoints"] == ["/v1/models/sp/classify", "/v1/models/sp/predict"]
    assert models["sp"]["window"] == 60 and models["sp"]["classes"] == ["ei", "ie", "n"]
    assert models["tts"]["endpoints"] == ["/v1/models/tts/say"]
    assert models["tts"]["sample_rate"] == 16000 and models["tts"]["symbols"]
    one = ok(client.get("/v1/models/lm"))
    assert one["limits"]["max_generate"] == 2000 and one["level"] == "char"
    assert ok(client.get("/healthz")) == {"status": "ok"}


def test_generate_is_repeatable_with_its_seed_and_warns_of_unknown_characters(client):
    body = {"prime": "KING:", "length": 40, "temperature": 0.8, "top_p": 0.9, "seed": 7}
    a = ok(client.post("/v1/models/lm/generate", json=body))
    b = ok(client.post("/v1/models/lm/generate", json=body))
    assert a["text"] == b["text"] and len(a["text"]) == a["tokens"] == 40 and a["seed"] == 7
    assert a["warnings"] == []
    drawn = ok(client.post("/v1/models/lm/generate", json={"length": 5}))
    again = ok(client.post("/v1/models/lm/generate", json={"length": 5, "seed": drawn["seed"]}))
    assert again["text"] == drawn["text"]  # the returned seed repeats a sample
    odd = ok(client.post("/v1/models/lm/generate", json={"prime": "KING€", "length": 3}))
    assert "prime has 1 character not in the model's vocabulary ('€')" in odd["warnings"][0]
    greedy = ok(client.post("/v1/models/lm/generate", json={"length": 10, "temperature": 0}))
    assert len(greedy["text"]) == 10


def test_classify_and_predict_give_what_rnnkit_predict_gives(client, runs, tmp_path, capsys):
    r = ok(client.post("/v1/models/sp/classify", json={"sequences": [WINDOW, WINDOW.lower()]}))
    a, b = r["results"]
    assert a == b and a["class"] in ("ei", "ie", "n")
    assert abs(sum(a["probabilities"].values()) - 1) < 1e-4
    fasta = f">contig1 two windows\n{WINDOW}ACG\n>contig2\n{WINDOW}\n"
    scan = ok(client.post("/v1/models/sp/predict",
                          json={"fasta": fasta, "min_prob": 0, "all": True}))
    assert scan["items"] == 4 + 1 and len(scan["predictions"]) == 5
    (tmp_path / "s.fa").write_text(fasta)
    code, out, err = run_cli(["predict", "splice", "--fasta", tmp_path / "s.fa", "--run",
                              runs / "runs" / "sp", "--all", "--min-prob", "0"], capsys)
    assert code == 0, err
    rows = [line.split("\t") for line in out.splitlines()[1:]]
    got = [[str(p[c]) for c in ("record", "start", "end", "junction_after", "class")] +
           [f"{p['probability']:.4f}"] for p in scan["predictions"]]
    assert got == [row[:6] for row in rows]
    assert scan["predictions"][0]["junction_after"] == 30


def test_classify_features(client):
    points = [[0.1 * t, 0.2, 0.0, 1.0, 0.0] for t in range(20)]                 # (T, 5)
    r = ok(client.post("/v1/models/lasa/classify", json={"features": [points, points[:5]]}))
    assert len(r["results"]) == 2 and r["batch"]["items"] == 2
    assert ok(client.get("/v1/models/lasa"))["input"] == "features (T, 5)"


def test_tag_and_predict_genes(client):
    seq = "ACGT" * 40 + "NNNN" + "TTGCA" * 30
    r = ok(client.post("/v1/models/g/tag", json={"sequences": [seq]}))["results"][0]
    assert r["length"] == len(seq)
    covered = sum(run["end"] - run["start"] + 1 for run in r["runs"])
    assert covered == len(seq) - 4  # every base but the N
    scan = ok(client.post("/v1/models/g/predict", json={"fasta": f">n1\n{seq}\n", "all": True,
                                                        "min_prob": 0}))
    assert scan["bases"] == len(seq)  # read in chunks of the training length, as predict does
    assert sum(p["end"] - p["start"] + 1 for p in scan["predictions"]) == len(seq) - 4
    assert {p["record"] for p in scan["predictions"]} == {"n1"}


def test_translate_n_best_and_blank_sentences(client, runs):
    from rnnkit.recipes.translation.translator import load_translator

    r = ok(client.post("/v1/models/tr/translate", json={
        "sentences": ["the cat sleeps .", "", "a bird eats ."], "beam": 3, "n_best": 2}))
    t = r["translations"]
    assert [x["source"] for x in t] == ["the cat sleeps .", "", "a bird eats ."]
    assert len(t[0]["n_best"]) == 2 and t[1]["text"] == ""
    translator, _ = load_translator(runs / "runs" / "tr")
    want = translator.translate(["the cat sleeps ."], beam=3, n_best=2)[0]
    assert [x["text"] for x in t[0]["n_best"]] == [w.text for w in want]


def test_transcribe_an_upload_as_rnnkit_transcribe_does(client, runs):
    from rnnkit.recipes.speech.recogniser import Recogniser

    clip = runs / "corpus" / "clip3.wav"
    r = ok(client.post("/v1/models/asr/transcribe",
                       files={"file": ("clip3.wav", clip.read_bytes(), "audio/wav")}))
    want = Recogniser.load(runs / "runs" / "asr").transcribe_files([clip])[0]
    assert r["text"] == want and abs(r["seconds"] - 0.6) < 0.01
    beam = ok(client.post("/v1/models/asr/transcribe", data={"beam": "4"},
                          files={"file": ("x.wav", clip.read_bytes(), "audio/wav")}))
    assert isinstance(beam["text"], str)


def say_text(runs: Path) -> str:
    """A text the smoke voice can say (its tiny corpus leaves letters out)."""
    return known_texts(runs / "runs" / "tts")[0]


def test_say_answers_the_wav_rnnkit_say_writes(client, runs, tmp_path):
    import io

    import soundfile as sf

    from rnnkit.data.audio import write_wav
    from rnnkit.recipes.synthesis.voice import Voice

    text = say_text(runs)
    a, b = [client.post("/v1/models/tts/say", json={"text": text, "seed": 3})
            for _ in range(2)]
    assert a.status_code == 200, a.text
    assert a.headers["content-type"] == "audio/wav"
    wave, rate = sf.read(io.BytesIO(a.content))
    assert rate == 16000 and len(wave) > 0
    assert float(a.headers["x-audio-seconds"]) == pytest.approx(len(wave) / rate, abs=1e-3)
    assert float(a.headers["x-real-time-factor"]) > 0
    assert a.headers["x-stopped"] in ("true", "false")
    assert a.content == b.content  # the same seed, the same audio
    other = client.post("/v1/models/tts/say", json={"text": text, "seed": 4})
    assert other.status_code == 200 and other.content != a.content
    spoken = Voice.load(runs / "runs" / "tts").say(text, seed=3)
    assert write_wav(tmp_path / "say.wav", spoken.wave, 16000).read_bytes() == a.content


def test_page_and_openapi_docs(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/v1/models" in page.text and "<script>" in page.text
    assert client.get("/docs").status_code == 200
    paths = ok(client.get("/openapi.json"))["paths"]
    for endpoint in ("generate", "classify", "tag", "predict", "translate", "transcribe",
                     "say"):
        assert f"/v1/models/{{name}}/{endpoint}" in paths


# ---- bad requests: 4xx with a message, never a 500 -----------------------------------------

GARBAGE = bytes(range(256)) * 4
BAD = [
    # (path, request keywords, status, words in the error)
    ("/v1/models/nope/generate", {"json": {}}, 404, "no model 'nope'"),
    ("/v1/models/sp/generate", {"json": {}}, 404, "has no generate endpoint"),
    ("/v1/models/lm/translate", {"json": {"sentences": ["a"]}}, 404, "(it has: generate)"),
    ("/v1/models/lm/generate", {"content": GARBAGE,
                                "headers": {"content-type": "application/json"}}, 400,
     "the body is not valid JSON"),
    ("/v1/models/lm/generate", {"content": b"\x89PNG\r\n\x1a\n\0\0",
                                "headers": {"content-type": "application/json"}}, 400,
     "could not be read as application/json (binary or malformed data)"),
    ("/v1/models/lm/generate", {"content": GARBAGE}, 400, "must be a JSON object"),
    ("/v1/models/lm/generate", {"content": b'{"prime": "a",',
                                "headers": {"content-type": "application/json"}}, 400,
     "not valid JSON"),
    ("/v1/models/lm/generate", {"json": ["a list"]}, 400, "must be a JSON object"),
    ("/v1/models/lm/generate", {"json": {"lenght": 10}}, 422, "lenght: unknown field"),
    ("/v1/models/lm/generate", {"json": {"length": "ten"}}, 422, "length: Input should be"),
    ("/v1/models/lm/generate", {"json": {"temperature": -1}}, 422, "temperature"),
    ("/v1/models/lm/generate", {"json": {"top_p": 1.5}}, 422, "top_p"),
    ("/v1/models/lm/generate", {"json": {"prime": "x" * 2001}}, 413,
     "prime: 2,001 characters is above this server's limit of 2,000"),
    ("/v1/models/lm/generate", {"json": {"length": 2001}}, 413, "length: 2,001 tokens"),
    ("/v1/models/sp/classify", {"json": {}}, 422, "give either 'sequences'"),
    ("/v1/models/sp/classify", {"json": {"sequences": []}}, 422, "no sequences"),
    ("/v1/models/sp/classify", {"json": {"sequences": "ACGT"}}, 422, "sequences"),
    ("/v1/models/sp/classify", {"json": {"sequences": [WINDOW[:-1] + "Z"]}}, 422,
     "sequences[0]: character 'Z' at position 60"),
    ("/v1/models/sp/classify", {"json": {"sequences": ["ACGT"]}}, 422,
     "classifies 60-long windows"),
    ("/v1/models/sp/classify", {"json": {"sequences": [WINDOW] * 65}}, 413, "sequences: 65"),
    ("/v1/models/sp/classify", {"json": {"features": [[[0.0]]]}}, 422, "reads DNA letters"),
    ("/v1/models/sp/predict", {"json": {"fasta": WINDOW}}, 422,
     "fasta: line 1: sequence before the first '>' header"),
    ("/v1/models/sp/predict", {"json": {"fasta": ">a\nACGT\n"}}, 422,
     "shorter than the 60-nt window"),
    ("/v1/models/sp/predict", {"json": {"fasta": ">a\n" + WINDOW, "min_prob": 2}}, 422,
     "min_prob"),
    ("/v1/models/sp/predict", {"json": {"fasta": ">a\n" + "A" * 50_001}}, 413,
     "fasta: 50,001 bases is above this server's limit of 50,000 bases"),
    ("/v1/models/sp/predict", {"json": {"fasta": ">a\n" + "A" * 70_000}}, 413,
     "larger than this server's limit of 65,536 bytes"),
    ("/v1/models/g/tag", {"json": {"sequences": ["ACGU"]}}, 422, "character 'U'"),
    ("/v1/models/lasa/classify", {"json": {"sequences": ["ACGT"]}}, 422,
     "reads features (T, 5), not DNA letters"),
    ("/v1/models/lasa/classify", {"json": {"features": [[[0.0] * 5, [1.0]]]}}, 422,
     "features[0]: rows of different lengths"),
    ("/v1/models/lasa/classify", {"json": {"features": [[[0.0, 1.0]]]}}, 422,
     "features[0]: shape (1, 2), this model reads (T, 5)"),
    ("/v1/models/lasa/classify", {"json": {"features": [[]]}}, 422, "features[0]: empty"),
    ("/v1/models/lasa/predict", {"json": {"fasta": ">a\nACGT"}}, 404, "no predict endpoint"),
    ("/v1/models/tr/translate", {"json": {"sentences": ["a"], "beam": 2, "n_best": 3}}, 422,
     "n_best (3) must be at most beam (2)"),
    ("/v1/models/tr/translate", {"json": {"sentences": ["a"] * 33}}, 413, "sentences: 33"),
    ("/v1/models/tr/translate", {"json": {"sentences": ["a " * 600]}}, 413,
     "sentences[0]: 1,200 characters"),
    ("/v1/models/tr/translate", {"json": {"sentences": ["the cat " * 40]}}, 422,
     "longer than the model's limit"),
    ("/v1/models/tr/translate", {"json": {"sentence": "a"}}, 422, "sentences: Field required"),
    ("/v1/models/asr/transcribe", {"json": {}}, 422, "file: Field required"),
    ("/v1/models/asr/transcribe", {"files": {"file": ("a.wav", GARBAGE, "audio/wav")}}, 422,
     "a.wav: cannot decode audio"),
    ("/v1/models/asr/transcribe", {"files": {"file": ("a.ogg", b"", "audio/ogg")}}, 422,
     "the uploaded file is empty"),
    ("/v1/models/asr/transcribe", {"files": {"file": ("a.wav", b"\0" * 8000, "audio/wav")}},
     422, "cannot decode audio"),
    ("/v1/models/asr/transcribe", {"files": {"file": ("a.wav", GARBAGE * 300, "audio/wav")}},
     413, "larger than this server's limit"),
    ("/v1/models/asr/transcribe", {"files": {"file": ("a.wav", b"x", "audio/wav")},
                                   "data": {"beam": "0"}}, 422, "beam"),
    ("/v1/models/tts/say", {"json": {"text": "ŋ✓ zxq"}}, 422,
     "text: characters the voice never learnt: "),
    ("/v1/models/tts/say", {"json": {"text": "?!"}}, 422, "text: nothing to say"),
    ("/v1/models/tts/say", {"json": {"text": "a" * 501}}, 413,
     "text: 501 characters is above this server's limit of 500 characters"),
    ("/v1/models/tts/say", {"json": {"seed": 1}}, 422, "text: Field required"),
    ("/v1/models/tts/say", {"json": {"text": "a", "seed": -1}}, 422, "seed"),
    ("/v1/models/tts/say", {"json": {"text": "a", "voice": "x"}}, 422, "voice: unknown field"),
    ("/v1/models/tts/say", {"json": {"text": "a", "speaker": "eel"}}, 422,
     "speaker 'eel': this model has one voice"),
    ("/v1/models/lm/say", {"json": {"text": "a"}}, 404, "has no say endpoint"),
]


@pytest.mark.parametrize("path, kw, status, words", BAD,
                         ids=[f"{p.split('/')[-1]}-{s}-{i}" for i, (p, _, s, _) in
                              enumerate(BAD)])
def test_bad_requests_get_4xx_with_a_message(client, path, kw, status, words):
    r = client.post(path, **kw)
    assert r.status_code == status, r.text
    assert words in r.json()["error"], r.json()["error"]
    assert ok(client.get("/healthz"))  # and the server still answers


def test_silent_audio_and_audio_too_long(client, runs, tmp_path):
    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "quiet.wav", np.zeros(8000, dtype=np.float32), 16000)
    r = client.post("/v1/models/asr/transcribe",
                    files={"file": ("quiet.wav", (tmp_path / "quiet.wav").read_bytes())})
    assert r.status_code == 422 and "the audio is silent" in r.json()["error"]
    app = serve_app(runs, max_audio_s=0.5)
    clip = (runs / "corpus" / "clip0.wav").read_bytes()
    with TestClient(app) as c:
        r = c.post("/v1/models/asr/transcribe", files={"file": ("c.wav", clip)})
    assert r.status_code == 413 and "audio: 0.6 s is above" in r.json()["error"]


def test_a_body_without_length_is_cut_off_at_the_limit(client):
    def chunks():  # sent chunked: no Content-Length to refuse it by
        for _ in range(100):
            yield b" " * 1024

    r = client.post("/v1/models/lm/generate", content=chunks(),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and "65,536 bytes" in r.json()["error"]


def test_timeout_is_504_and_an_error_event_in_a_stream(runs):
    with TestClient(serve_app(runs, timeout_s=0.02)) as c:
        r = c.post("/v1/models/lm/generate", json={"length": 2000})
        assert r.status_code == 504 and "longer than this server's limit of 0.02 s" in \
            r.json()["error"]
        r = c.post("/v1/models/lm/generate", json={"length": 2000, "stream": True})
        events = sse_events(r.iter_lines())
    assert events[-1][0] == "error" and events[-1][1]["status"] == 504
    assert 0 < sum(e == "token" for e, _, _ in events) < 2000


def test_a_synthesis_past_the_timeout_is_504(runs, monkeypatch):
    lim = Limits(timeout_s=0.05)
    app = create_app(load_models([runs / "runs" / "tts"], lim), lim)
    voice = app.state.models["tts"].voice
    say = voice.say

    def slow(*args, **kwargs):  # the smoke voice stops after one step, in milliseconds
        time.sleep(0.5)
        return say(*args, **kwargs)

    monkeypatch.setattr(voice, "say", slow)
    with TestClient(app) as c:
        r = c.post("/v1/models/tts/say", json={"text": say_text(runs)})
        assert r.status_code == 504 and "longer than this server's limit of 0.05 s" in \
            r.json()["error"]
        assert ok(c.get("/healthz"))


def test_a_full_queue_is_503(runs):
    with TestClient(serve_app(runs, max_pending=0)) as c:
        r = c.post("/v1/models/sp/classify", json={"sequences": [WINDOW]})
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert "waiting for this model" in r.json()["error"]


# ---- concurrency, batching, streaming on a real server --------------------------------------

def test_concurrent_requests_are_all_answered(server):
    sentences = ["the cat sleeps .", "a bird eats .", "the dog runs ."]

    def one(i: int):
        with httpx.Client(base_url=server, timeout=60) as c:
            kind = i % 4
            if kind == 0:
                r = c.post("/v1/models/lm/generate", json={"length": 30, "seed": i})
                return "lm", len(ok(r)["text"]) == 30
            if kind == 1:
                r = c.post("/v1/models/sp/classify", json={"sequences": [WINDOW] * (1 + i % 3)})
                return "sp", len(ok(r)["results"]) == 1 + i % 3
            if kind == 2:
                r = c.post("/v1/models/tr/translate", json={"sentences": sentences[:1 + i % 3]})
                return "tr", len(ok(r)["translations"]) == 1 + i % 3
            with c.stream("POST", "/v1/models/lm/generate",
                          json={"length": 20, "stream": True}) as r:
                events = sse_events(r.iter_lines())
            return "stream", events[-1][0] == "done" and events[-1][1]["tokens"] == 20

    with httpx.Client(base_url=server) as c:
        before = ok(c.get("/v1/stats"))["models"]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(64)))
    assert all(good for _, good in answers) and len(answers) == 64
    with httpx.Client(base_url=server) as c:
        after = ok(c.get("/v1/stats"))["models"]
    for name, endpoint, n in (("lm", "generate", 32), ("sp", "classify", 16),
                              ("tr", "translate", 16)):
        assert after[name]["requests"][endpoint] - \
            before[name]["requests"].get(endpoint, 0) == n


def test_generation_streams_tokens_as_they_are_made(server):
    body = {"prime": "KING:", "length": 400, "seed": 3, "stream": True}
    with httpx.Client(base_url=server, timeout=60) as c:
        with c.stream("POST", "/v1/models/lm/generate", json=body) as r:  # warm up
            sse_events(r.iter_lines())
        t0 = time.perf_counter()
        with c.stream("POST", "/v1/models/lm/generate", json=body) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            assert "content-length" not in r.headers  # chunked, not one buffered body
            events = sse_events(r.iter_lines())
        whole = ok(c.post("/v1/models/lm/generate", json={**body, "stream": False}))
    names = [e for e, _, _ in events]
    assert names == ["start"] + ["token"] * 400 + ["done"]
    assert "".join(d["text"] for e, d, _ in events if e == "token") == whole["text"]
    first, last = events[1][2] - t0, events[-2][2] - t0
    assert first < 0.5 * last, (first, last)  # the first token came long before the last


def test_concurrent_requests_share_batches(runs):
    """Requests arriving within the window run as one forward pass: the answers say so."""
    app = serve_app(runs, batch_window_ms=200)

    async def together():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            classify = [c.post("/v1/models/sp/classify", json={"sequences": [WINDOW] * 2})
                        for _ in range(6)]
            translate = [c.post("/v1/models/tr/translate",
                                json={"sentences": ["the cat sleeps ."], "beam": b})
                         for b in (1, 1, 1, 3, 3)]
            answers = await asyncio.gather(*classify, *translate)
            return [ok(r) for r in answers], ok(await c.get("/v1/stats"))

    answers, stats = asyncio.run(together())
    assert all(a["batch"] == {"requests": 6, "items": 12} for a in answers[:6])
    assert all(a["batch"]["requests"] == 5 for a in answers[6:])  # two decodings, one batch
    sp = stats["models"]["sp"]["batches"]
    assert sp["requests"] == 6 and sp["batches"] == 1 and sp["largest"] == 6
    greedy = {a["translations"][0]["text"] for a in answers[6:9]}
    assert len(greedy) == 1  # the same sentence decoded the same way in one batch


# ---- the command ----------------------------------------------------------------------------

def test_serve_without_the_extra_is_one_line(runs, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ImportError
    code, _, err = run_cli(["serve", runs / "runs" / "lm"], capsys)
    assert_one_line_error(code, err, "uvicorn is missing", "pip install 'rnnkit[serve]'")


def test_serve_refuses_bad_options_and_runs(runs, tmp_path, capsys):
    code, _, err = run_cli(["serve", runs / "runs" / "lm", "--port", "0"], capsys)
    assert_one_line_error(code, err, "--port must be in 1..65535")
    other = tmp_path / "x" / "lm"
    shutil.copytree(runs / "runs" / "lm", other)
    code, _, err = run_cli(["serve", runs / "runs" / "lm", other], capsys)
    assert_one_line_error(code, err, "two runs would be served as 'lm'")
    code, _, err = run_cli(["serve", tmp_path / "missing"], capsys)
    assert_one_line_error(code, err, "missing")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, _, err = run_cli(["serve", runs / "runs" / "lm", "--port", port], capsys)
    assert_one_line_error(code, err, f"cannot listen on 127.0.0.1:{port}", "in use")


@pytest.fixture(scope="module")
def command(runs):
    """``rnnkit serve`` in a subprocess on a free port: its base URL."""
    port = free_port()
    proc = subprocess.Popen(rnnkit_cmd("serve", *[runs / "runs" / n for n in NAMES],
                                       "--port", port, "--threads", "1"),
                            env=subprocess_env(), stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.stderr.read()
        try:
            httpx.get(url + "/healthz")
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "rnnkit serve did not start in 60 s"
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(20)
    proc.stderr.close()


def test_the_command_serves_every_run(command):
    models = ok(httpx.get(command + "/v1/models"))["models"]
    assert [m["name"] for m in models] == list(NAMES)


def test_the_page_in_a_headless_browser(command, runs):
    """Type a prime and see text stream in; paste DNA and see junctions; translate;
    upload a recording; type a text and get audio to play."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip("needs Debian's chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (dev extra)")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    d = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        d.get(command + "/")
        wait = WebDriverWait(d, 30)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))

        def card(name):
            return d.find_element(By.CSS_SELECTOR, f'[data-model="{name}"]')

        def output(c):
            return c.find_element(By.CSS_SELECTOR, ".output")

        lm = card("lm")
        lm.find_element(By.CSS_SELECTOR, ".prime").send_keys("KING:")
        lm.find_element(By.CSS_SELECTOR, ".go").click()
        wait.until(lambda d: len(output(lm).text) > len("KING:") + 20)  # text appears
        wait.until(lambda d: lm.get_attribute("data-done") == "200")
        # textContent, not .text: .text trims a sample that ends in a space or a newline
        text = output(lm).get_attribute("textContent")
        assert text.startswith("KING:") and len(text) == 205

        sp = card("sp")
        sp.find_element(By.CSS_SELECTOR, ".fasta").send_keys(f">x\n{WINDOW}AC")
        prob = sp.find_element(By.CSS_SELECTOR, ".min-prob")
        prob.clear()
        prob.send_keys("0")
        sp.find_element(By.CSS_SELECTOR, ".go").click()
        wait.until(lambda d: len(sp.find_elements(By.CSS_SELECTOR, ".output tr")) == 1 + 3)
        assert "3 predicted (3 windows read)" in output(sp).text
        assert "junction_after" in output(sp).text

        tr = card("tr")
        tr.find_element(By.CSS_SELECTOR, ".sentence").send_keys("the cat sleeps .")
        tr.find_element(By.CSS_SELECTOR, ".go").click()
        wait.until(lambda d: "translating" not in output(tr).text)
        assert "error" not in output(tr).get_attribute("class")

        asr = card("asr")
        asr.find_element(By.CSS_SELECTOR, ".audio").send_keys(
            str(runs / "corpus" / "clip0.wav"))
        asr.find_element(By.CSS_SELECTOR, ".go").click()
        wait.until(lambda d: "(0.6 s of audio)" in output(asr).text)

        tts = card("tts")
        text = tts.find_element(By.CSS_SELECTOR, ".say-text")
        text.send_keys(say_text(runs))
        tts.find_element(By.CSS_SELECTOR, ".go").click()
        wait.until(lambda d: tts.get_attribute("data-done") == "1")
        assert "s of audio, real-time factor" in output(tts).text
        audio = tts.find_element(By.CSS_SELECTOR, "audio")
        assert audio.get_attribute("src").startswith("blob:")
        wait.until(lambda d: d.execute_script("return arguments[0].duration > 0", audio))
        text.clear()
        text.send_keys("?!")
        tts.find_element(By.CSS_SELECTOR, ".go").click()
        wait.until(lambda d: "nothing to say" in output(tts).text)
        assert "error" in output(tts).get_attribute("class")
    finally:
        d.quit()


def test_serve_help_lists_the_endpoints(capsys):
    code, out, _ = run_cli(["serve", "--help"], capsys)
    assert code == 0 and "/v1/models" in out and "rnnkit[serve]" in out


def test_models_load_quantised_for_serving(runs):
    """`rnnkit serve --quantize int8`: every served run's recurrent layers run in int8."""
    models = load_models([runs / "runs" / n for n in NAMES], Limits(), precision="int8")
    layers = [m for s in models.values() for m in s.run.model.modules()
              if hasattr(m, "set_precision") and m.cell is None]
    assert layers and all(m.precision == "int8" for m in layers)
