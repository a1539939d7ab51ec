"""Transcribed speech for recognition (CTC) recipes: clips with what is said in them.

Two readers give the same ``Utterances``:

- ``load_fillets_speech(lang)``: the fillets-ng game's voiced dialogue, Dutch or Czech.
  Audio: Debian ``fillets-ng-data-nl`` / ``fillets-ng-data-cs`` (GPL-2); transcripts: the
  ``dialogs_<lang>.lua`` files of ``fillets-ng-data`` (read by ``rnnkit.data.fillets``).
  Nothing is shipped with rnnkit; both are fetched into the data cache on first use.
- ``read_transcript_list(path)``: the user's own ``audio_path<TAB>transcript`` file.

``normalise_transcript`` turns a transcript into CTC character targets (lowercase letters,
inner apostrophes and spaces, numbers spelt out).

How the game finds a line's voice (``script/share/level_dialog.lua``): ``dialogLoad(prefix,
sound_prefix)`` reads ``<prefix>dialogs_<lang>.lua`` and plays ``<sound_prefix><lang>/<id>
.ogg``; a level's sound prefix is ``sound/<level>/``, and the shared lines name theirs
(``SHARE_SOUND``). What the packages hold (version 1.0.1-1.1, checked by reading all of it):

- nl: 1,616 clips, all stereo 22.05 kHz OGG/Vorbis; cs: 1,882 clips, mono 22.05 kHz but
  210 at 44.1 kHz (``rush``, ``hole``, ``linux``, ``hanoi``, ``nowall``, ``fdto``,
  ``keys``), 74 of those stereo. About 1.8 hours each.
- ids repeat across levels with different text (``rand-*``), so clips are keyed by
  (level, id) and ids are ``<level>/<id>``, as in ``load_fillets``; the shared lines'
  ids (``share/<id>``) are unique across the ``share`` files.
- two nl clips (``elevator1/zd1-m-cesta``, ``gems/zav-v-sto``) hold an OGG header and
  no samples: counted as ``empty audio``.
- cs's number clips (``ending/z-c-1`` ... ``z-c-tisice``, ``gods/b1-1`` ... ``b2-10``:
  54) have empty text: the game says a number by playing them one after another, after
  a line such as ``z-c-hodin`` ("Konkrétně %1 hodin!") whose clip holds only its own
  words. Both kinds are left out (``empty text``, ``placeholder text``: 21 in cs).
- one nl clip is misnamed (``barrel/nl/bar_v_fotka.ogg`` for the id ``bar-v-fotka``) and
  three cs clips in ``fdto`` have no line: the game never plays them (``no transcript``).
- cs ``fdto/semafor-v``'s transcript starts with a Russian sentence before the Czech one.
- transcripts without a clip are normal (the ``intro`` lines, levels voiced only in
  some languages): counted as ``no audio``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from rnnkit.data import files
from rnnkit.data.debian import debian_package, manual_steps, read_source
from rnnkit.data.fillets import DIALOG_FILE, PACKAGE, Dialog, find_root, read_dialogs, script_dir
from rnnkit.data.parallel import straight_quotes
from rnnkit.errors import DataError, unknown_name

FILLETS_SPEECH = {"nl": "fillets-ng-data-nl", "cs": "fillets-ng-data-cs"}
SOUND_DIR = "usr/share/games/fillets-ng/sound"
# script/share/<prefix>_dialogs_<lang>.lua -> sound/share/<folder>/<lang>/, from the
# dialogLoad calls in script/share/{borejokes,blackjokes,bordershout,prog_border,
# demo_intro}.lua (no package ships intro clips).
SHARE_SOUND = {"bore": "borejokes", "black": "blackjokes", "border": "border",
               "shout": "border", "intro": "intro"}
LIST_HEADERS = ({"path", "audio", "audio_path", "file", "filename"},
                {"text", "transcript", "transcription", "sentence"})
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")  # 737, 4202, 0.8 (a decimal point or comma)
# "%1" in a line is a number the game fills in at run time ("Konkrétně %1 hodin!"); it
# plays that number from other clips, so the line's own clip does not say it.
_PLACEHOLDER = re.compile(r"%\d")
_MAX_SHOWN = 5  # missing audio files named in the error; the rest are counted


@dataclass
class Utterance:
    """One clip and what is said in it."""

    path: Path  # the audio file
    text: str  # the transcript as written (stripped)
    group: str  # split unit: fillets level folder ("share" for shared lines); user data ""
    id: str  # "<level>/<id>" for fillets; for user data the path as written in the list
    speaker: str  # fillets: the dialog's font ("font_small", "font_big", ...); user data ""


@dataclass
class Utterances:
    """Clips with transcripts, in a reader's order; ``skipped`` counts entries left out,
    by reason ({} when none were)."""

    items: list[Utterance]
    lang: str
    source: str  # one line: package and version, or the list file, for run records
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Utterance:
        return self.items[i]

    @property
    def group_names(self) -> list[str]:
        """The distinct groups, sorted."""
        return sorted({u.group for u in self.items})


# ---- the fillets-ng voices -----------------------------------------------------------------


def sound_dir(audio_root: str | Path, lang: str) -> Path:
    """The ``sound`` folder of an unpacked fillets-ng speech package (``audio_root/usr/
    share/games/fillets-ng/sound``, or audio_root itself when it is that folder), once it
    is seen to hold ``<level>/<lang>/*.ogg`` clips."""
    root = Path(audio_root).expanduser()
    package = FILLETS_SPEECH[lang]
    if not root.is_dir():
        raise DataError(f"{root}: " + ("is a file, expected" if root.exists() else
                                       "no such folder, expected") +
                        f" the unpacked {package} package: {manual_steps(package)}")
    for cand in (root / SOUND_DIR, root):
        if cand.is_dir() and (next(cand.glob(f"*/{lang}/*.ogg"), None) is not None or
                              next(cand.glob(f"share/*/{lang}/*.ogg"), None) is not None):
            return cand
    raise DataError(f"{root}: no fillets-ng {lang} voices here (expected {SOUND_DIR}/<level>/"
                    f"{lang}/<id>.ogg under the unpacked {package} package): "
                    f"{manual_steps(package)}")


def load_fillets_speech(lang: str, root: str | Path | None = None,
                        audio_root: str | Path | None = None, *,
                        cache: str | Path | None = None) -> Utterances:
    """The voiced fillets-ng dialogue in ``lang``: each clip with the transcript the game
    shows with it, sorted by (group, id); groups are level folders (``share`` for the lines
    any level may use), speakers the dialog's font (which fish speaks).

    Args:
        lang: ``"nl"`` or ``"cs"`` (``FILLETS_SPEECH``).
        root: the unpacked ``fillets-ng-data`` (transcripts) or its ``script`` folder;
            None finds it in the data cache, fetching it there on first use.
        audio_root: the unpacked ``fillets-ng-data-<lang>`` (audio) or its ``sound``
            folder; None likewise.
        cache: the cache folder where root or audio_root is None.

    A line's clip is ``sound/<level>/<lang>/<id>.ogg``, for the shared lines ``sound/share/
    <SHARE_SOUND[prefix]>/<lang>/<id>.ogg``; an id defined again later in the same level
    keeps its last text, as the game does. ``skipped`` counts what is left out: ``no
    transcript`` (a clip no line of its folder names, or whose line has no ``dialogStr``),
    ``no audio`` (a line without a clip: normal), ``empty text``, ``placeholder text`` (a
    ``%1`` the game fills with a number it says from other clips), ``empty audio`` (0 bytes
    or no samples), ``unreadable audio`` (libsndfile cannot open it), ``redefined``,
    and ``read_dialogs``' ``malformed`` / ``no dialogId``. DataError for an unknown
    language, folders without the data, or packages that cannot be fetched.
    """
    if lang not in FILLETS_SPEECH:
        raise DataError(unknown_name("fillets-ng speech language", lang, FILLETS_SPEECH))
    package = FILLETS_SPEECH[lang]
    root = find_root(root, cache)
    scripts = script_dir(root)
    if audio_root is None:
        audio_root = debian_package(package, cache, licence=f"GPL-2 (see usr/share/doc/"
                                                            f"{package}/copyright)")
    sounds = sound_dir(audio_root, lang)
    clips = {p for p in sounds.glob("**/*.ogg") if p.parent.name == lang}
    skipped: Counter[str] = Counter()
    # (group, id) -> (dialog, its clip's path); later files and entries overwrite earlier
    lines: dict[tuple[str, str], tuple[Dialog, Path]] = {}
    for path in sorted(scripts.glob(f"*/*dialogs_{lang}.lua")):
        m = DIALOG_FILE.match(path.name)
        if m is None or m.group(1) != lang:
            continue
        group = path.parent.name
        folder = sounds / group
        if group == "share":  # "bore_dialogs_nl.lua" -> sound/share/borejokes/
            prefix = path.name.partition("_dialogs_")[0]
            folder = sounds / "share" / SHARE_SOUND.get(prefix, prefix)
        dialogs, odd = read_dialogs(path)
        skipped.update(odd)
        for d in dialogs:
            key = (group, d.id)
            if key in lines:
                skipped["redefined"] += 1
            lines[key] = (d, folder / lang / f"{d.id}.ogg")
    items = []
    used = set()
    for (group, id_), (d, clip) in sorted(lines.items()):
        if clip not in clips:
            skipped["no audio"] += 1
            continue
        used.add(clip)
        if d.translation is None:
            skipped["no transcript"] += 1
        elif not d.translation.strip():
            skipped["empty text"] += 1
        elif _PLACEHOLDER.search(d.translation):
            skipped["placeholder text"] += 1
        elif (why := _audio_problem(clip)) is not None:
            skipped[why] += 1
        else:
            items.append(Utterance(clip, d.translation.strip(), group, f"{group}/{id_}",
                                   d.font))
    skipped["no transcript"] += len(clips - used)
    source = (f"{_package_name(audio_root, package)} ({sounds}) with "
              f"{_package_name(root, PACKAGE)} ({scripts})")
    return Utterances(items, lang, source, {k: v for k, v in sorted(skipped.items()) if v})


def _audio_problem(path: Path) -> str | None:
    """Why a clip cannot be used, found from its header alone (no decoding)."""
    import soundfile as sf  # imported here so text-only users need not install libsndfile

    if path.stat().st_size == 0:
        return "empty audio"
    try:
        frames = sf.info(str(path)).frames
    except RuntimeError:  # soundfile's LibsndfileError is one
        return "unreadable audio"
    return "empty audio" if frames == 0 else None


def _package_name(root: str | Path, name: str) -> str:
    """``name version`` from an unpacked package's SOURCE.txt, or just ``name``."""
    version = read_source(root).get("version")
    return f"{name} {version}" if version else name


# ---- the user's own list -------------------------------------------------------------------


def read_transcript_list(path: str | Path, lang: str = "") -> Utterances:
    """Clips from a UTF-8 text file of ``audio_path<TAB>transcript`` rows (plain or
    gzipped), or from a folder holding exactly one ``*.tsv`` file.

    Rules, so that no row is dropped silently:

    - Paths are relative to the list file's folder (absolute ones are kept as they are);
      spaces around both fields are stripped.
    - Blank lines and lines starting with ``#`` are skipped; so is a first row that is a
      header (``path<TAB>text``, or ``audio``/``file`` and ``transcript``/``sentence``,
      any case) when no such audio file exists.
    - Every other row is one clip, duplicates included; ids are the paths as written,
      groups and speakers "" (the list says nothing about them).

    DataError (one line) for: a row without exactly one tab, or with an empty path or
    transcript (``list.tsv:7: expected "path<TAB>text", found no tab``); audio files that
    do not exist, all in one message naming up to five with their lines and the count;
    a list with no rows; a missing, empty, binary or non-UTF-8 file (``rnnkit.data.
    files``); a folder with no or several ``*.tsv`` files.
    """
    path = _list_file(Path(path).expanduser())
    text = files.read_text(path, "a tab-separated list of audio files and transcripts")
    base = path.parent
    items = []
    missing = []  # (path as written, line)
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        tabs = line.count("\t")
        if tabs != 1:
            found = "no tab" if tabs == 0 else f"{tabs} tabs"
            raise DataError(f'{path}:{n}: expected "path<TAB>text", found {found}')
        written, transcript = (f.strip() for f in line.split("\t"))
        if not written:
            raise DataError(f"{path}:{n}: empty audio path")
        if not transcript:
            raise DataError(f"{path}:{n}: empty transcript for {written}")
        audio = base / written  # an absolute path stays itself
        if not audio.is_file():
            if not items and not missing and _is_header(written, transcript):
                continue
            missing.append((written, n))
            continue
        items.append(Utterance(audio, transcript, "", written, ""))
    if missing:
        shown = ", ".join(f"{w} (line {n})" for w, n in missing[:_MAX_SHOWN])
        more = f", and {len(missing) - _MAX_SHOWN} more" if len(missing) > _MAX_SHOWN else ""
        raise DataError(f"{path}: {len(missing)} audio file{'s' if len(missing) > 1 else ''} "
                        f"not found (paths are relative to {base}): {shown}{more}")
    if not items:
        raise DataError(f"{path}: no audio_path<TAB>transcript rows (only blank lines, "
                        "comments or a header)")
    return Utterances(items, lang, str(path), {})


def _list_file(path: Path) -> Path:
    """The list itself, or the one ``*.tsv`` in a folder."""
    if not path.is_dir():
        return path
    found = sorted(p.name for p in path.glob("*.tsv") if p.is_file())
    if len(found) == 1:
        return path / found[0]
    what = "no *.tsv file" if not found else f"{len(found)} *.tsv files ({', '.join(found)})"
    raise DataError(f"{path}: {what}; expected one audio_path<TAB>transcript list, or pass "
                    "the list file itself")


def _is_header(first: str, second: str) -> bool:
    return first.lower() in LIST_HEADERS[0] and second.lower() in LIST_HEADERS[1]


# ---- CTC targets ---------------------------------------------------------------------------


def normalise_transcript(text: str, lang: str) -> str:
    """A transcript as CTC character targets.

    Rules, in order:

    1. Unicode NFC (a precomposed "é", whichever way it was typed).
    2. Curly quotes as ASCII ones (``parallel.straight_quotes``; ``ʼ`` too), so ’ and '
       are one apostrophe.
    3. Numbers spelt out in ``lang`` by PyPI ``num2words`` (nl "737" ->
       "zevenhonderdzevenendertig"), as words of their own, so digits glued to letters
       are cut off ("LC-10" -> "lc tien", "F2" -> "f twee"); "0.8" and "0,8" are
       decimals; a number with a leading zero ("02") is read digit by digit. Where
       num2words has no such language (or ``lang`` is ""), digits are kept as they are.
    4. Lowercase (``str.lower``), and NFC again.
    5. Every character that is not a letter (``str.isalpha``), a combining mark (the
       vowel signs of Indic scripts are marks, not letters), a digit left by 3, an
       apostrophe between two letters ("zo'n", "dragon's"), or a space becomes a space;
       runs of spaces become one, and the ends are stripped.

    E.g. ``normalise_transcript("Poseidon 737!", "nl") == "poseidon
    zevenhonderdzevenendertig"``.
    """
    text = straight_quotes(unicodedata.normalize("NFC", text)).replace("\u02bc", "'")
    text = _NUMBER.sub(lambda m: f" {_spell(m.group(), lang)} ", text)
    text = unicodedata.normalize("NFC", text.lower())  # num2words' output included
    out = []
    for i, ch in enumerate(text):
        if ch == "'":  # kept between two letters only
            keep = 0 < i < len(text) - 1 and text[i - 1].isalpha() and text[i + 1].isalpha()
        else:  # isdecimal: the digits _NUMBER matched, left where num2words cannot spell
            keep = ch.isalpha() or ch.isdecimal() or unicodedata.category(ch)[0] == "M"
        out.append(ch if keep else " ")
    return " ".join("".join(out).split())


def _spell(number: str, lang: str) -> str:
    """One number in words, or as it is where num2words cannot say it in ``lang``."""
    from num2words import num2words

    try:
        if len(number) > 1 and number[0] == "0" and number[1].isdecimal():  # "02": digits
            return " ".join(num2words(int(d), lang=lang) for d in number if d.isdecimal())
        value = int(number) if number.isdecimal() else Decimal(number.replace(",", "."))
        return num2words(value, lang=lang)
    except (NotImplementedError, OverflowError, ArithmeticError):
        return number
