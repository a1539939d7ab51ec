"""A teacher voice for text-to-speech: sentences spoken by a rule-based synthesiser, cached.

rnnkit ships no recordings of one speaker reading thousands of sentences, so the TTS
recipe learns from a synthetic teacher: ``synthesise_teacher(sentences)`` speaks each
sentence with flite (CMU Flite 2.2: Debian ``flite`` + ``libflite1``; voices ``slt``,
``awb``, ``rms``, ``kal16`` at 16 kHz, ``kal`` at 8 kHz), and ``teacher_corpus()`` does so
for the fillets-ng English dialogue (``fillets_english``), one group per game level so a
recipe can hold out whole levels or sentences.

Default corpus (fillets-ng-data 1.0.1-1.1, flite 2.2-5, voice slt, 16 kHz): 1,946
distinct sentences (0.5 - 21.6 s, median 2.5 s), 1.58 hours of audio, 178 MB; generated
once in 144 s on a busy 2-core machine (70 s of CPU: flite runs some 40x faster than real
time there, one process per sentence).

Where the synthesiser comes from, first that works:
1. ``flite`` on PATH (``apt-get install flite``);
2. the Debian packages unpacked into the data cache (``rnnkit.data.debian``), run with
   ``LD_LIBRARY_PATH`` at their libraries; ``libasound2`` is fetched too where the machine
   lacks ``libasound.so.2``. Nothing is installed system-wide.
``engine="espeak-ng"`` (Debian ``espeak-ng``, its data and three libraries; 22,050 Hz,
resampled) works the same way. Where neither way runs, a one-line DataError names the
packages and the command that installs them.

The cache: ``<data cache>/teacher-voice/<engine>-<voice>-<rate>-<hash>/`` holding
``wav/00000.wav ...`` (16-bit mono PCM), ``manifest.json`` (synthesiser and version,
sentences, sample counts, total seconds, generation time) and ``list.tsv`` (``wav/<n>.wav
<TAB>sentence``, so the folder also reads as ``--data DIR`` with ``read_transcript_list``).
The hash covers engine, voice, rate and the sentence list, so a different list makes a new
folder. A folder is generated in a hidden ``.name-*`` folder beside it and renamed into
place once every file and the manifest are written: a killed run leaves only a hidden
folder, never read (delete it at will), and the next run starts again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rnnkit.data import files
from rnnkit.data.audio import load_audio, write_wav
from rnnkit.data.debian import cache_dir, debian_package, read_source
from rnnkit.data.fillets import DIALOG_FILE, find_root, read_dialogs, script_dir
from rnnkit.data.parallel import straight_quotes
from rnnkit.data.transcribed import Utterance, Utterances
from rnnkit.errors import DataError, unknown_name

SAMPLE_RATE = 16000  # flite's own rate for slt/awb/rms/kal16; the speech recipes' rate
CACHE_FOLDER = "teacher-voice"
MANIFEST = "manifest.json"
LIST_FILE = "list.tsv"
DEFAULT_VOICE = {"flite": "slt", "espeak-ng": "en-us"}  # slt: a clear female US voice


@dataclass(frozen=True)
class Engine:
    """How to run one synthesiser: its binary, the Debian packages that hold it and its
    libraries, and extra libraries fetched only where the loader says they are missing."""

    binary: str
    packages: tuple[str, ...]
    missing_libs: dict[str, str] = field(default_factory=dict)  # soname -> Debian package


ENGINES = {
    "flite": Engine("flite", ("flite", "libflite1"), {"libasound.so.2": "libasound2"}),
    "espeak-ng": Engine("espeak-ng", ("espeak-ng", "libespeak-ng1", "espeak-ng-data",
                                      "libpcaudio0", "libsonic0"),
                        {"libasound.so.2": "libasound2"}),
}
_MISSING_LIB = re.compile(r"error while loading shared libraries: (\S+?):")


@dataclass
class Synthesiser:
    """A runnable synthesiser: ``speak(text, voice, wav_path)`` writes one WAV file."""

    engine: str
    exe: str
    env: dict[str, str]  # the whole environment of each run
    version: str  # one line for run records

    def run(self, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([self.exe, *args], input=stdin, capture_output=True, text=True,
                              env=self.env)

    def voices(self) -> list[str]:
        """The voices this synthesiser has."""
        if self.engine == "flite":  # "Voices available: kal awb_time kal16 awb rms slt"
            out = self.run(["-lv"]).stdout
            return out.partition(":")[2].split()
        lines = self.run(["--voices"]).stdout.splitlines()[1:]  # Pty Language Age/Gender ...
        return [ln.split()[1] for ln in lines if len(ln.split()) > 1]

    def speak(self, text: str, voice: str, out: Path) -> None:
        """Write ``text`` spoken by ``voice`` to the WAV file ``out``; DataError where the
        synthesiser fails or writes nothing."""
        if self.engine == "flite":
            done = self.run(["-voice", voice, "-o", str(out), "-t", text])
        else:  # stdin: a sentence starting with "-" is not read as an option
            done = self.run(["-v", voice, "-w", str(out), "--stdin"], stdin=text)
        if done.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
            why = _last_line(done) or f"exit status {done.returncode}, no audio written"
            raise DataError(f"{self.engine} failed on {text[:60]!r} ({why})")


def find_synthesiser(engine: str = "flite", cache: str | Path | None = None) -> Synthesiser:
    """The synthesiser on PATH, else the Debian packages unpacked into the data cache
    (fetched on first use); checked by listing its voices. DataError (one line, naming
    the packages) where it cannot be found, fetched or run."""
    if engine not in ENGINES:
        raise DataError(unknown_name("speech synthesiser", engine, ENGINES))
    spec = ENGINES[engine]
    on_path = shutil.which(spec.binary)
    if on_path is not None:
        synth = Synthesiser(engine, on_path, dict(os.environ), f"{engine} ({on_path})")
        _probe(synth, spec, "on PATH")
        return synth
    try:
        roots = [debian_package(p, cache) for p in spec.packages]
    except DataError as e:
        raise DataError(f"the teacher voice needs {engine} ({_install(spec)}), and fetching "
                        f"it failed: {e}") from None
    synth = _unpacked(engine, roots)
    why = _probe(synth, spec, "unpacked", check=False)
    lib = _MISSING_LIB.search(why or "")
    if lib and lib.group(1) in spec.missing_libs:  # e.g. a machine without ALSA's library
        try:
            roots.append(debian_package(spec.missing_libs[lib.group(1)], cache))
        except DataError as e:
            raise DataError(f"{engine} needs {lib.group(1)}, and fetching it failed: {e}"
                            ) from None
        synth = _unpacked(engine, roots)
    _probe(synth, spec, "unpacked")
    return synth


def synthesise_teacher(sentences: Sequence[str], voice: str | None = None, *,
                       groups: Sequence[str] | None = None, ids: Sequence[str] | None = None,
                       engine: str = "flite", sample_rate: int = SAMPLE_RATE,
                       cache: str | Path | None = None) -> Utterances:
    """Each sentence spoken by ``voice``, as 16-bit mono WAV files at ``sample_rate`` in the
    data cache, generated on the first call for this list and read back after that.

    Args:
        sentences: the texts, spoken as given after runs of white space become one space
            (so a sentence is one line of ``list.tsv``); each must hold a letter or digit.
        voice: of the engine (flite: slt, awb, rms, kal16, kal; espeak-ng: en-us, ...);
            default ``DEFAULT_VOICE[engine]``.
        groups, ids: per sentence, copied into the Utterances (default "" and the index);
            they are not part of the cache key.
        engine: "flite" or "espeak-ng".
        sample_rate: of the files; other rates than the voice's own are resampled.
        cache: the data cache (default ``debian.cache_dir()``).

    Returns:
        Utterances (lang "en", speaker = voice) in the order of ``sentences``; ``source``
        names the synthesiser, voice, rate, hours and folder (``read_manifest`` has the
        numbers).

    DataError (one line) where the synthesiser cannot be fetched or run, or fails on a
    sentence; ValueError for an empty list, a sentence without letters or digits, or
    groups/ids of another length.
    """
    if engine not in ENGINES:
        raise DataError(unknown_name("speech synthesiser", engine, ENGINES))
    voice = DEFAULT_VOICE[engine] if voice is None else voice
    texts = [" ".join(str(s).split()) for s in sentences]
    if not texts:
        raise ValueError("synthesise_teacher: no sentences")
    for i, t in enumerate(texts):
        if not any(ch.isalnum() for ch in t):
            raise ValueError(f"synthesise_teacher: sentence {i} ({sentences[i]!r}) has no "
                             "letter or digit to speak")
    for name, values in (("groups", groups), ("ids", ids)):
        if values is not None and len(values) != len(texts):
            raise ValueError(f"synthesise_teacher: {len(values)} {name} for {len(texts)} "
                             "sentences")
    root = (cache_dir() if cache is None else Path(cache).expanduser()) / CACHE_FOLDER
    key = hashlib.sha256(json.dumps([engine, voice, sample_rate, texts]).encode()).hexdigest()
    folder = root / f"{engine}-{voice}-{sample_rate}-{key[:16]}"
    if not folder.is_dir():  # only ever created complete, by the rename in _generate
        _generate(folder, texts, voice, engine, sample_rate, cache)
    manifest = read_manifest(folder)
    paths = [folder / item["file"] for item in manifest["items"]]
    if [item["text"] for item in manifest["items"]] != texts:
        raise DataError(f"{folder}: {MANIFEST} does not hold the sentences asked for; "
                        "delete the folder to generate it again")
    items = [Utterance(f, t, groups[i] if groups is not None else "",
                       ids[i] if ids is not None else str(i), voice)
             for i, (f, t) in enumerate(zip(paths, texts, strict=True))]
    seconds = manifest["seconds"]
    source = (f"{manifest['synthesiser']}, voice {voice}, {sample_rate} Hz, {len(items)} "
              f"sentences, {seconds:.0f} s = {seconds / 3600:.2f} h ({folder})")
    return Utterances(items, "en", source, {})


def teacher_corpus(voice: str | None = None, *, engine: str = "flite",
                   sample_rate: int = SAMPLE_RATE, root: str | Path | None = None,
                   cache: str | Path | None = None) -> Utterances:
    """The fillets-ng English dialogue (``fillets_english``) spoken by the teacher voice:
    groups are game levels, ids ``<level>/<id>``, speaker the voice; ``skipped`` counts
    the dialogue lines left out. Arguments as ``synthesise_teacher``; ``root`` is the
    unpacked fillets-ng-data (default: the data cache, fetched on first use)."""
    texts, groups, ids, skipped = fillets_english(root, cache)
    utts = synthesise_teacher(texts, voice, groups=groups, ids=ids, engine=engine,
                              sample_rate=sample_rate, cache=cache)
    utts.skipped = skipped
    return utts


def fillets_english(root: str | Path | None = None, cache: str | Path | None = None
                    ) -> tuple[list[str], list[str], list[str], dict[str, int]]:
    """The distinct English lines of the fillets-ng dialogue: (texts, groups, ids, skipped).

    Read from every ``<level>/*dialogs_en.lua`` (``read_dialogs``), in (level, file, line)
    order; curly quotes made straight and white space collapsed. A line whose text came
    earlier (in any level) is left out, so a sentence is never in two groups and a split
    by level or by sentence never tests on a training sentence. ``skipped`` counts
    ``duplicate``, ``empty`` and ``redefined`` lines (an id given again later in its
    file: the game shows the last) and ``read_dialogs``' ``malformed``/``no dialogId``.
    fillets-ng-data 1.0.1-1.1: 2,172 entries, 1,946 sentences from 81 groups (86,157
    characters)."""
    scripts = script_dir(find_root(root, cache))
    texts, groups, ids = [], [], []
    seen: set[str] = set()
    skipped: Counter[str] = Counter()
    for path in sorted(scripts.glob("*/*dialogs_en.lua")):
        m = DIALOG_FILE.match(path.name)
        if m is None or m.group(1) != "en":
            continue
        level = path.parent.name
        dialogs, odd = read_dialogs(path)
        skipped.update(odd)
        last = {d.id: k for k, d in enumerate(dialogs)}
        for k, d in enumerate(dialogs):
            text = " ".join(straight_quotes(d.english).split())
            if last[d.id] != k:
                skipped["redefined"] += 1
            elif not any(ch.isalnum() for ch in text):
                skipped["empty"] += 1
            elif text in seen:
                skipped["duplicate"] += 1
            else:
                seen.add(text)
                texts.append(text)
                groups.append(level)
                ids.append(f"{level}/{d.id}")
    if not texts:
        raise DataError(f"{scripts}: no English fillets-ng dialogue (*dialogs_en.lua)")
    return texts, groups, ids, {k: v for k, v in sorted(skipped.items()) if v}


def read_manifest(folder: str | Path) -> dict:
    """A teacher-voice folder's manifest: ``synthesiser``, ``engine``, ``voice``,
    ``sample_rate``, ``sentences``, ``seconds`` (of audio), ``generation_seconds`` and
    ``items`` (``file``, ``text``, ``samples``)."""
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(manifest["items"], list) and "seconds" in manifest
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as e:
        raise DataError(f"{path}: unreadable teacher-voice manifest ({e}); delete "
                        f"{Path(folder)} to generate it again") from None
    return manifest


# ---- generation ------------------------------------------------------------------------------


def _generate(folder: Path, texts: list[str], voice: str, engine: str, sample_rate: int,
              cache: str | Path | None) -> None:
    """Speak every text into a hidden folder, write the manifest, rename it to ``folder``."""
    import soundfile as sf

    synth = find_synthesiser(engine, cache)
    voices = synth.voices()
    if engine == "flite" and voice not in voices:  # flite speaks an unknown voice as kal
        raise DataError(unknown_name(f"{engine} voice", voice, voices))
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        (work / "wav").mkdir()
        start = time.perf_counter()
        items = []
        for i, text in enumerate(texts):
            name = f"wav/{i:05d}.wav"
            synth.speak(text, voice, work / name)
            info = sf.info(str(work / name))
            if info.samplerate != sample_rate or info.channels != 1:
                write_wav(work / name, load_audio(work / name, sample_rate), sample_rate)
                info = sf.info(str(work / name))
            items.append({"file": name, "text": text, "samples": int(info.frames)})
        seconds = time.perf_counter() - start
        total = sum(it["samples"] for it in items) / sample_rate
        manifest = {"synthesiser": synth.version, "engine": engine, "voice": voice,
                    "sample_rate": sample_rate, "sentences": len(items), "seconds": total,
                    "generation_seconds": round(seconds, 2), "items": items}
        (work / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        (work / LIST_FILE).write_text("".join(f"{it['file']}\t{it['text']}\n" for it in items),
                                      encoding="utf-8")
        files.publish_folder(work, folder)
    except OSError as e:
        raise DataError(f"{folder.parent}: cannot write the teacher voice "
                        f"({e.strerror or e}); set RNNKIT_DATA to a writable folder") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)  # gone after the rename; else the half


def _unpacked(engine: str, roots: list[Path]) -> Synthesiser:
    """The synthesiser of unpacked packages: the binary in the first, every library folder
    on LD_LIBRARY_PATH (and espeak-ng's data folder named)."""
    env = dict(os.environ)
    libs = [str(d) for r in roots for d in sorted((r / "usr/lib").glob("*"))
            if d.is_dir() and any(d.glob("*.so*"))]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(libs + [p for p in [env.get(
        "LD_LIBRARY_PATH")] if p])
    for r in roots:  # espeak-ng-data/ sits in usr/lib/<multiarch>/
        for data in (r / "usr/lib").glob("*/espeak-ng-data"):
            env["ESPEAK_DATA_PATH"] = str(data.parent)
    versions = ", ".join(f"{r.name} {read_source(r).get('version', '?')}" for r in roots)
    return Synthesiser(engine, str(roots[0] / "usr/bin" / ENGINES[engine].binary), env,
                       f"{engine} (Debian {versions}, unpacked in {roots[0].parent})")


def _probe(synth: Synthesiser, spec: Engine, how: str, check: bool = True) -> str | None:
    """Run the synthesiser's voice listing: None where it works, else why not (raised as a
    DataError where ``check``)."""
    try:
        done = synth.run(["-lv"] if synth.engine == "flite" else ["--voices"])
        why = None if done.returncode == 0 else (_last_line(done) or
                                                 f"exit status {done.returncode}")
    except OSError as e:
        why = e.strerror or str(e)
    if why is not None and check:
        raise DataError(f"{synth.engine} ({how}, {synth.exe}) does not run ({why}); the "
                        f"teacher voice needs {_install(spec)}")
    return why


def _install(spec: Engine) -> str:
    return (f"Debian packages {', '.join(spec.packages)}: `apt-get install {spec.binary}`, "
            "or network access to apt so rnnkit can unpack them into its data cache")


def _last_line(done: subprocess.CompletedProcess) -> str:
    lines = [ln.strip() for ln in (done.stderr or done.stdout or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""
