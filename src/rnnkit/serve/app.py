"""The HTTP service: a FastAPI app over served runs (``models.py``).

    GET  /                                the page to try the models (static/index.html)
    GET  /v1/models                       every served model: name, kind, endpoints, details
    GET  /v1/models/{name}                one of them
    POST /v1/models/{name}/generate       language models: text from a prime (JSON or SSE)
    POST /v1/models/{name}/classify       classifiers: class probabilities per sequence
    POST /v1/models/{name}/tag            taggers: runs of one tag per sequence
    POST /v1/models/{name}/predict        DNA classifiers/taggers: scan a FASTA text
    POST /v1/models/{name}/translate      translation: n-best translations per sentence
    POST /v1/models/{name}/transcribe     speech recognition: an uploaded audio file -> text
    POST /v1/models/{name}/say            text to speech: text -> a WAV file (audio/wav)
    GET  /v1/stats                        requests and batches per model
    GET  /healthz                         {"status": "ok"}
    GET  /docs, /openapi.json             FastAPI's OpenAPI docs

Every error is JSON ``{"error": "a message naming the problem"}`` (say's too; only its
answer is audio): 400 a body that is not JSON, 404 an unknown model or an endpoint its kind
lacks, 413 a request above a limit, 422 a wrong, missing or unreadable field (bad DNA
letters, audio that does not decode, characters a voice never learnt), 503 a model with too
many requests waiting, 504 a request past the timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
from importlib import resources
from typing import Annotated

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from rnnkit.errors import RnnkitError
from rnnkit.serve.batching import Busy
from rnnkit.serve.limits import Limits
from rnnkit.serve.served import RequestError, Served, TimedOut
from rnnkit.serve.speech_models import SpeechModel, VoiceModel
from rnnkit.serve.text_models import (
    Classifier,
    LanguageModel,
    SequenceModel,
    Tagger,
    TranslationModel,
)

# ---- request bodies (their fields and defaults are the OpenAPI docs) ------------------------


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not a default


class GenerateRequest(Body):
    prime: str = Field("", description="text to start from (empty: a newline)")
    length: int = Field(200, ge=0, description="tokens to generate")
    temperature: float = Field(0.8, ge=0, allow_inf_nan=False,
                               description="softmax temperature; 0 = greedy")
    top_k: int | None = Field(None, ge=1, description="sample from the k likeliest tokens")
    top_p: float | None = Field(None, gt=0, le=1,
                                description="sample from the smallest set with this mass")
    seed: int | None = Field(None, ge=0, lt=2**63,
                             description="for a repeatable sample (default: drawn, returned)")
    stream: bool = Field(False, description="server-sent events, one per token")


class SequencesRequest(Body):
    sequences: list[str] | None = Field(None, description="DNA letters, one string each")
    features: list[list[list[float]]] | None = Field(
        None, description="for models that read features: (T, F) numbers each")


class PredictRequest(Body):
    fasta: str = Field(description="FASTA text: '>id' lines, then sequence lines")
    min_prob: float = Field(0.5, ge=0, le=1, description="leave out less probable items")
    all: bool = Field(False, description="also the background class (e.g. no junction)")


class TranslateRequest(Body):
    sentences: list[str] = Field(description="sentences to translate")
    beam: int = Field(5, ge=1, description="beam size; 1 = greedy")
    n_best: int = Field(1, ge=1, description="translations per sentence (at most beam)")
    length_penalty: float = Field(1.0, ge=0, allow_inf_nan=False,
                                  description="GNMT length normalisation alpha")


class SayRequest(Body):
    text: str = Field(description="what to say, in characters the voice knows (its "
                                  "'symbols'; upper case and numbers are read as words)")
    seed: int = Field(0, ge=0, lt=2**63, description="pre-net dropout and the vocoder's "
                                                     "phase: the same seed, the same audio")
    speaker: str | None = Field(None, description="a voice of a model trained on several "
                                                  "(its 'speakers'; default: the first)")


# ---- errors ---------------------------------------------------------------------------------

def error(status: int, message: str, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def validation_message(errors: list[dict]) -> tuple[int, str]:
    """(status, one line) for pydantic's errors: 400 when the body is no JSON at all."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, f"the body is not valid JSON ({errors[0].get('msg', '')})"
    if any(tuple(e.get("loc", ())) == ("body",) and e.get("type") == "model_attributes_type"
           for e in errors):  # bytes or a list where an object belongs
        return 400, "the body must be a JSON object (Content-Type: application/json)"
    parts = []
    for e in errors[:3]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        msg = "unknown field" if e.get("type") == "extra_forbidden" else e.get("msg", "")
        parts.append(f"{where}: {msg}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return 422, "; ".join(parts) + more


FASTAPI_PARSE_ERROR = "There was an error parsing the body"  # e.g. JSON that is not UTF-8


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        status, message = validation_message(errors)
        # pydantic's errors without the input they quote (it may be a large body)
        detail = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in errors]
        return error(status, message, detail=jsonable_encoder(detail))

    @app.exception_handler(HTTPException)
    async def http(request: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 400 and message == FASTAPI_PARSE_ERROR:  # say which body
            kind = request.headers.get("content-type", "").split(";")[0] or "JSON"
            message = f"the body could not be read as {kind} (binary or malformed data)"
        return error(exc.status_code, message)

    @app.exception_handler(RnnkitError)
    async def refused(request: Request, exc: RnnkitError) -> JSONResponse:
        return error(getattr(exc, "status", 422), str(exc))

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not the request's fault: still JSON; Starlette logs the traceback.
        return error(500, f"internal error ({type(exc).__name__}); see the server's log")

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "1"})


class BodyLimit:
    """ASGI middleware: a body above its limit is refused with 413 before it is read whole
    (by its Content-Length when it declares one, else while it arrives)."""

    def __init__(self, app, limits: Limits):
        self.app, self.limits = app, limits

    def limit(self, path: str) -> int:
        big = path.endswith("/transcribe")
        return self.limits.max_audio_bytes + 64 * 1024 if big else self.limits.max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await too_large(limit)(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, too_large_message(limit))
            return message

        await self.app(scope, counted, send)


def too_large_message(limit: int) -> str:
    return f"the request body is larger than this server's limit of {limit:,} bytes"


def too_large(limit: int) -> JSONResponse:
    return error(413, too_large_message(limit))


# ---- the app --------------------------------------------------------------------------------

def page() -> str:
    return (resources.files("rnnkit.serve") / "static" / "index.html").read_text("utf-8")


def sse(event: str, data: dict) -> str:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def create_app(models: dict[str, Served], limits: Limits | None = None) -> FastAPI:
    """The service over ``models`` (``models.load_models``)."""
    from rnnkit import __version__

    limits = limits or Limits()
    app = FastAPI(title="rnnkit serve", version=__version__,
                  description="Trained rnnkit runs: generate text, classify or tag "
                              "sequences, scan FASTA, translate, transcribe, say. Errors are "
                              '`{"error": message}`.')
    app.state.models, app.state.limits, app.state.started = models, limits, time.time()
    install_error_handlers(app)
    app.add_middleware(BodyLimit, limits=limits)
    html = page()

    def served(name: str, endpoint: str, kind: type = Served):
        m = models.get(name)
        if m is None:
            raise RequestError(f"no model {name!r} (served: {', '.join(models)})", 404)
        if endpoint not in m.endpoints or not isinstance(m, kind):
            have = ", ".join(m.endpoints)
            raise RequestError(f"model {name!r} ({m.describe()['kind']}) has no {endpoint} "
                               f"endpoint (it has: {have})", 404)
        m.counts[endpoint] = m.counts.get(endpoint, 0) + 1
        return m

    async def within_timeout(awaitable):
        try:
            return await asyncio.wait_for(awaitable, limits.timeout_s)
        except TimeoutError:
            raise TimedOut(limits.timeout_s) from None

    async def batched(m: Served, item) -> tuple[dict, object]:
        """({"batch": what shared the forward pass}, this request's result)."""
        done = await within_timeout(m.batcher.submit(item))
        return {"batch": {"requests": done.batch_requests, "items": done.batch_items}}, \
            done.result

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return html

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def list_models() -> dict:
        """Every served model with its kind and endpoints."""
        return {"models": [m.describe() for m in models.values()]}

    @app.get("/v1/models/{name}")
    async def one_model(name: str) -> dict:
        if name not in models:
            raise RequestError(f"no model {name!r} (served: {', '.join(models)})", 404)
        return {**models[name].describe(), "limits": limits.to_dict()}

    @app.get("/v1/stats")
    async def stats() -> dict:
        """Requests per endpoint and batches per model since the server started."""
        return {"uptime_s": round(time.time() - app.state.started, 1),
                "models": {n: m.stats() for n, m in models.items()}}

    @app.post("/v1/models/{name}/generate")
    async def generate(name: str, req: GenerateRequest):
        """Text from a language model, after the prime. ``stream``: server-sent events
        ``start`` (seed, warnings), ``token`` ({"text"}) per token, then ``done`` or
        ``error``."""
        m: LanguageModel = served(name, "generate", LanguageModel)
        seed, warnings = m.start(req.prime, req.length, req.temperature, req.top_k,
                                 req.top_p, req.seed)
        deadline = time.monotonic() + limits.timeout_s
        pieces = m.pieces(req.prime, req.length, req.temperature, req.top_k, req.top_p,
                          seed, deadline)
        head = {"model": name, "prime": req.prime, "seed": seed, "warnings": warnings}
        if not req.stream:
            done = await within_timeout(asyncio.to_thread(list, pieces))
            return {**head, "text": "".join(done), "tokens": len(done)}

        def events():
            yield sse("start", head)
            n = 0
            try:
                for piece in pieces:
                    n += 1
                    yield sse("token", {"text": piece})
            except RequestError as e:
                yield sse("error", {"error": str(e), "status": e.status})
                return
            yield sse("done", {"tokens": n, "seed": seed})

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @app.post("/v1/models/{name}/classify")
    async def classify(name: str, req: SequencesRequest) -> dict:
        """Class probabilities per sequence; concurrent requests share a forward pass
        (``batch``: how many requests and sequences it held)."""
        m: Classifier = served(name, "classify", Classifier)
        batch, results = await batched(m, m.inputs(req.sequences, req.features))
        return {"model": name, "results": results, **batch}

    @app.post("/v1/models/{name}/tag")
    async def tag(name: str, req: SequencesRequest) -> dict:
        """Runs of one tag per sequence (1-based, inclusive), batched like classify."""
        m: Tagger = served(name, "tag", Tagger)
        batch, results = await batched(m, m.inputs(req.sequences, req.features))
        return {"model": name, "results": results, **batch}

    @app.post("/v1/models/{name}/predict")
    async def predict(name: str, req: PredictRequest) -> dict:
        """Scan a FASTA text as ``rnnkit predict`` does: every window of every record
        (classifiers: splice junctions, promoters) or runs of one tag (taggers: genes)."""
        m: SequenceModel = served(name, "predict", SequenceModel)
        deadline = time.monotonic() + limits.timeout_s
        found = await within_timeout(asyncio.to_thread(
            m.predict, req.fasta, req.min_prob, req.all, deadline))
        return {"model": name, **found}

    @app.post("/v1/models/{name}/translate")
    async def translate(name: str, req: TranslateRequest) -> dict:
        """n-best translations per sentence (blank sentences get an empty one); batched
        with concurrent requests that use the same decoding settings."""
        m: TranslationModel = served(name, "translate", TranslationModel)
        m.check(req.sentences, req.beam, req.n_best)
        batch, nbests = await batched(m, (req.sentences, (req.beam, req.n_best,
                                                          req.length_penalty)))
        return {"model": name, "translations": [
            {"source": s, "text": nb[0]["text"], "n_best": nb}
            for s, nb in zip(req.sentences, nbests, strict=True)], **batch}

    @app.post("/v1/models/{name}/transcribe")
    async def transcribe(name: str, file: Annotated[UploadFile, File(
                             description="an audio file: WAV, FLAC, OGG, ...")],
                         beam: Annotated[int, Form(ge=1, description="prefix beam; 1 = "
                                                   "greedy")] = 1) -> dict:
        """Speech to text from an uploaded recording (any rate, mono or stereo)."""
        m: SpeechModel = served(name, "transcribe", SpeechModel)
        data = await file.read()
        feats, seconds = await asyncio.to_thread(m.features, data, file.filename, beam)
        batch, text = await batched(m, (feats, beam))
        return {"model": name, "text": text, "seconds": round(seconds, 3), **batch}

    @app.post("/v1/models/{name}/say", response_class=Response, responses={200: {
        "content": {"audio/wav": {}},
        "description": "a 16-bit PCM WAV file at the voice's sample rate, with headers "
                       "X-Real-Time-Factor (synthesis time / audio length), X-Stopped "
                       "(false: cut at the voice's length limit) and X-Audio-Seconds"}})
    async def say(name: str, req: SayRequest) -> Response:
        """Speech from text, as ``rnnkit say`` makes it (one text per request)."""
        m: VoiceModel = served(name, "say", VoiceModel)
        m.check(req.text, req.speaker)
        wav, spoken = await within_timeout(asyncio.to_thread(m.say, req.text, req.seed,
                                                             req.speaker))
        seconds = len(spoken.wave) / m.voice.sample_rate
        return Response(wav, media_type="audio/wav", headers={
            "X-Real-Time-Factor": f"{spoken.seconds / max(seconds, 1e-9):.4f}",
            "X-Stopped": "true" if spoken.stopped else "false",
            "X-Audio-Seconds": f"{seconds:.3f}"})

    return app
