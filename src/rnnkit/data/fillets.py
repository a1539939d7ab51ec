"""The fillets-ng game dialogue as English -> other-language sentence pairs.

Source: Debian package ``fillets-ng-data`` (Fish Fillets NG, ALTAR interactive and the
fillets team; GPL-2 per its ``usr/share/doc/fillets-ng-data/copyright``). Nothing of it
is shipped with rnnkit: ``load_fillets`` reads an unpacked copy, fetched into the data
cache on first use (``rnnkit.data.debian``).

Each level folder ``usr/share/games/fillets-ng/script/<level>/`` holds, per language,
``dialogs_<lang>.lua`` (and for some levels ``demo_``/``brief_dialogs_<lang>.lua``; the
``share`` folder has ``black_``/``bore_``/``border_``/``intro_``/``shout_dialogs_<lang>.lua``,
lines any level may use). Each entry is a Lua call pair::

    dialogId("let-m-divna", "font_small", "What kind of strange ship is that?")
    dialogStr("Quel est ce drôle de navire ?")

What the files hold (version 1.0.1-1.1, checked by parsing all of them):

- the English is the third argument of ``dialogId`` and is identical to ``dialogs_en.lua``,
  which has no ``dialogStr``; a call may span lines (``nowall``); strings use Lua escapes
  (``\\"``, ``\\\\``, and ``\\/`` once, which Lua reads as ``/``); comments follow ``--``;
- ids repeat across levels with different text (``rand-*``, ``dlg-x-poster*``), so ids
  here are ``<level>/<id>``, unique within a language; an id defined twice in one file
  (es, it: once each) keeps its last text, as the game does;
- some entries are empty (the credits in ``ending``, ``gods``' board, cs's ``demo_``
  posters) or untranslated (a ``dialogId`` with no ``dialogStr``): these are left out and
  counted in ``SentencePairs.skipped``; ``rotate``'s files are empty (0 bytes);
- the English writes the apostrophe as ’ (600 lines), the translations mostly as '; pairs
  are read with ``straight_quotes`` unless asked not to;
- calls whose arguments are not the expected plain strings are skipped and counted as
  ``malformed``: ``linux/dialogs_en.lua`` builds ids in a Lua loop (``"key"..i``), and
  ``rush/dialogs_bg.lua`` gives one ``dialogStr`` the three arguments of a ``dialogId``
  (that entry then counts as untranslated).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rnnkit.data import files
from rnnkit.data.debian import debian_package, manual_steps, read_source
from rnnkit.data.parallel import SentencePairs, straight_quotes
from rnnkit.errors import DataError, unknown_name

PACKAGE = "fillets-ng-data"
LICENCE = "GPL-2 (see usr/share/doc/fillets-ng-data/copyright)"
SCRIPT_DIR = "usr/share/games/fillets-ng/script"
SOURCE_LANG = "en"
# Pairs per language in fillets-ng-data 1.0.1-1.1 (Debian bookworm) as load_fillets returns
# them (empty, untranslated and redefined entries left out). The most complete languages
# have pairs in 81 groups: 80 level folders and ``share`` (``rotate`` has no dialogue).
FILLETS_LANGS: dict[str, int] = {
    "bg": 2017, "de": 1981, "sv": 1981, "nl": 1980, "cs": 1965, "ru": 1963, "pl": 1683,
    "it": 1653, "fr": 1636, "es": 1625, "sl": 407, "de_CH": 135, "eo": 89, "tr": 10,
}
DIALOG_FILE = re.compile(r"^(?:[a-z]+_)?dialogs_([a-z]{2,3}(?:_[A-Z]{2})?)\.lua$")

# Lua tokens: long comments, line comments, strings (either quote), names, the rest.
_TOKEN = re.compile(r"""
    (?P<long>--\[(?P<eq>=*)\[.*?\](?P=eq)\])
  | (?P<comment>--[^\n]*)
  | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')  # re.S: an escaped newline too
  | (?P<open>["'])
  | (?P<name>[A-Za-z_]\w*)
  | (?P<space>\s+)
  | (?P<other>\.\.|.)
""", re.S | re.X)
_ESCAPE = re.compile(r"\\(\d{1,3}|.|\n)", re.S)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
            "\n": "\n"}


@dataclass
class Dialog:
    """One ``dialogId`` entry of a dialogue file, with its ``dialogStr`` if it has one."""

    id: str
    font: str
    english: str
    translation: str | None
    line: int  # of the dialogId call, 1-based


def script_dir(root: str | Path) -> Path:
    """The ``script`` folder of an unpacked package: ``root/usr/share/games/fillets-ng/
    script``, or root itself when it already is that folder."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: " + ("is a file, expected" if root.exists() else
                                       "no such folder, expected") +
                        f" the unpacked {PACKAGE} package: {manual_steps(PACKAGE)}")
    for cand in (root / SCRIPT_DIR, root):
        if cand.is_dir() and next(cand.glob("*/*dialogs_*.lua"), None) is not None:
            return cand
    raise DataError(f"{root}: no fillets-ng dialogue here (expected {SCRIPT_DIR}/<level>/"
                    f"dialogs_<lang>.lua under the unpacked {PACKAGE} package): "
                    f"{manual_steps(PACKAGE)}")


def find_root(root: str | Path | None = None, cache: str | Path | None = None) -> Path:
    """The unpacked package: ``root`` if given, else the data cache, fetching the package
    into it on first use (``rnnkit.data.debian.debian_package``)."""
    if root is not None:
        return Path(root).expanduser()
    return debian_package(PACKAGE, cache, licence=LICENCE)


def languages(root: str | Path) -> list[str]:
    """The translation languages with at least one dialogue file, sorted."""
    found = {m.group(1) for f in script_dir(root).glob("*/*dialogs_*.lua")
             if (m := DIALOG_FILE.match(f.name))}
    return sorted(found - {SOURCE_LANG})


def read_dialogs(path: str | Path) -> tuple[list[Dialog], dict[str, int]]:
    """The entries of one dialogue file, in file order, and the calls skipped, by reason:
    ``malformed`` (arguments that are not the expected plain strings), ``no dialogId``
    (a dialogStr with nothing to pair it with). A 0-byte file (the ``rotate`` level has
    no dialogue) holds no entries. DataError for an unreadable file or an unterminated
    string (with its line)."""
    path = Path(path)
    skipped = {"malformed": 0, "no dialogId": 0}
    if path.is_file() and path.stat().st_size == 0:  # levels without dialogue (rotate)
        return [], skipped
    text = files.read_text(path, "a fillets-ng dialogue file (Lua)")
    tokens: list[tuple[str, str, int]] = []  # (kind, value, line)
    line = 1
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "open":
            raise DataError(f"{path}: line {line}: unterminated string")
        if kind == "str":
            tokens.append(("str", _unescape(m.group()[1:-1]), line))
        elif kind in ("name", "other"):
            tokens.append((kind, m.group(), line))
        line += m.group().count("\n")
    out: list[Dialog] = []
    i = 0
    while i < len(tokens):
        kind, value, line = tokens[i]
        if kind == "name" and value == "dialogId":
            args = _call_args(tokens, i + 1, 3)
            if args is None:
                skipped["malformed"] += 1
            else:
                out.append(Dialog(*args, translation=None, line=line))
                i += 8  # dialogId ( s , s , s )
                continue
        elif kind == "name" and value == "dialogStr":
            args = _call_args(tokens, i + 1, 1)
            if args is None:
                skipped["malformed"] += 1
            elif out and out[-1].translation is None:
                out[-1].translation = args[0]
                i += 4  # dialogStr ( s )
                continue
            else:
                skipped["no dialogId"] += 1
        i += 1
    return out, skipped


def load_fillets(tgt_lang: str, root: str | Path | None = None, *,
                 quotes: bool = True, cache: str | Path | None = None) -> SentencePairs:
    """English -> ``tgt_lang`` pairs of the fillets-ng dialogue, one group per level
    folder (``share`` is one group), ids ``<level>/<id>``, in (level, file, line) order.

    Args:
        tgt_lang: a language of ``FILLETS_LANGS`` (``de_CH`` is Swiss German).
        root: the unpacked package (the folder holding ``usr/``) or its ``script``
            folder; None finds it in the data cache and fetches it there on first use.
        quotes: read curly quotes as ASCII ones (``straight_quotes``), on both sides.
        cache: the cache folder where root is None (default ``debian.cache_dir()``).

    ``skipped`` counts entries left out: ``empty`` (English or translation blank),
    ``untranslated`` (no ``dialogStr``), ``redefined`` (an id given again later in the
    same file), ``malformed`` (arguments not the expected plain strings), ``no dialogId``
    (a ``dialogStr`` with no entry before it). DataError for an unknown language, a
    folder without the dialogue, or a package that cannot be fetched.
    """
    root = find_root(root, cache)
    scripts = script_dir(root)
    langs = languages(scripts)
    if tgt_lang == SOURCE_LANG:
        raise DataError(f"{SOURCE_LANG} is the source side of the fillets-ng pairs; choose a "
                        f"target language: {', '.join(langs)}")
    if tgt_lang not in langs:
        raise DataError(unknown_name("fillets-ng language", tgt_lang, langs))
    src, tgt, groups, ids = [], [], [], []
    skipped = dict.fromkeys(("empty", "untranslated", "redefined", "malformed",
                             "no dialogId"), 0)
    for path in sorted(scripts.glob(f"*/*dialogs_{tgt_lang}.lua")):
        m = DIALOG_FILE.match(path.name)
        if m is None or m.group(1) != tgt_lang:
            continue
        level = path.parent.name
        dialogs, odd = read_dialogs(path)
        for reason, count in odd.items():
            skipped[reason] += count
        last = {d.id: k for k, d in enumerate(dialogs)}  # the game keeps an id's last text
        skipped["redefined"] += len(dialogs) - len(last)
        for k, d in enumerate(dialogs):
            if last[d.id] != k:
                continue
            if d.translation is None:
                skipped["untranslated"] += 1
            elif not d.english.strip() or not d.translation.strip():
                skipped["empty"] += 1
            else:
                en, tr = d.english.strip(), d.translation.strip()
                src.append(straight_quotes(en) if quotes else en)
                tgt.append(straight_quotes(tr) if quotes else tr)
                groups.append(level)
                ids.append(f"{level}/{d.id}")
    info = read_source(root)
    version = f" {info['version']}" if "version" in info else ""
    return SentencePairs(src, tgt, groups, ids, SOURCE_LANG, tgt_lang,
                         f"{PACKAGE}{version} ({scripts})",
                         {k: v for k, v in skipped.items() if v})


def _call_args(tokens: list[tuple[str, str, int]], i: int, n: int) -> list[str] | None:
    """The n string arguments of the call whose "(" is tokens[i], or None where they are
    not plain string literals."""
    want = ["("]
    for k in range(n):
        want += ["str", "," if k < n - 1 else ")"]
    got = tokens[i:i + len(want)]
    if len(got) < len(want):
        return None
    for (kind, value, _), w in zip(got, want, strict=True):
        ok = kind == "str" if w == "str" else (kind != "str" and value == w)
        if not ok:
            return None
    return [value for kind, value, _ in got if kind == "str"]


def _unescape(body: str) -> str:
    """A Lua string literal's body with its escapes resolved; an unknown escape is the
    character itself (Lua 5.1 reads ``\\/`` as ``/``)."""
    def one(m: re.Match) -> str:
        e = m.group(1)
        if e.isdigit():
            return chr(int(e))
        return _ESCAPES.get(e, e)

    return _ESCAPE.sub(one, body)
