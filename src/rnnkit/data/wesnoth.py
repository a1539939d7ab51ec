"""The dialogue of Battle for Wesnoth's official campaigns as English -> other-language
sentence pairs (extra training data for the translation recipe, beside ``fillets``).

Source: the Debian packages ``wesnoth-1.16-<campaign>`` (Battle for Wesnoth, the Wesnoth
project and its translators; GPL-2+ per ``usr/share/doc/<package>/copyright``), one per
campaign of ``CAMPAIGNS``. Nothing of them is shipped with rnnkit: ``load_wesnoth`` reads
unpacked copies, fetched into the data cache on first use (``rnnkit.data.debian``).

Each package holds, per language, the gettext catalogue
``usr/share/games/wesnoth/1.16/locale/<lang>/LC_MESSAGES/wesnoth-<campaign>.mo``
(msgid English -> msgstr translation; e.g. de: 1,226 entries for httt, 630 for tsg, in
bookworm's 1.16 packages). What the catalogues hold (checked on httt and tsg, all 58
languages):

- the entry with the empty msgid is the header (its ``charset``, UTF-8 throughout, says
  how to decode the rest); entries are sorted by msgid, so the ids here,
  ``<campaign>/<n>``, are positions in the file's tables (the header is 0);
- dialogue, narration, objectives ("Defeat Urza Mathin"), scenario titles, and unit or
  character names (single words, mostly identical on both sides: 130 of de httt's
  entries are the English copied, names almost all, "Urza Mathin" and "En garde!" among
  those of two words or more; en_GB copies 1,371 entries of three or more words);
- help text and narration with Pango markup (``<i>`` 2,885 times, ``<small>``, ``<b>``,
  ``<big>``, ``<em>``, ``<span color='...'>``), which translators also add where the
  English has none (de: ``<small>(<i>verzagt</i>)</small>  Nur kommt ...``); one
  character reference, ``&#8209;`` (a non-breaking hyphen, gd only, 239 times);
  a typo ``dirige<se`` (pt) that is not a tag and is kept;
- placeholders the game fills in: ``$unit.name|``, ``$outlaw_name``, ``$random``, and
  ``%1``-style ones (no ``{...}`` in these two campaigns, but the rule covers them);
- multi-paragraph text (tutorial help, story screens) with ``\\n`` inside an entry;
- plural entries (4 in de httt; 84 in all): the Python key is a tuple, here skipped;
- no msgctxt in httt or tsg; a context entry is stored as ``context\\x04msgid`` and read
  here with the context stripped;
- the English writes ’ and “ ” and the ellipsis as ``...``; translations use "…" (de
  with a space before it: ``erledigt …``), which is written ``...`` here as the fillets
  data writes it (the space stays).

The .mo files are parsed here from their documented binary format (the GNU gettext
manual, "The Format of GNU MO Files") rather than through ``gettext.GNUTranslations``:
its ``_catalog`` is a private attribute, it merges context and plural entries into keys
that lose the entry's position, and it raises bare ``OSError``/``UnicodeDecodeError`` on a
damaged file, where a one-line DataError naming the file is wanted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from rnnkit.data import files
from rnnkit.data.debian import debian_package, manual_steps, read_source
from rnnkit.data.parallel import SentencePairs, straight_quotes
from rnnkit.errors import DataError, unknown_name

BRANCH = "1.16"
CAMPAIGNS: tuple[str, ...] = ("did", "dm", "dw", "ei", "httt", "l", "low", "nr", "sof",
                              "sota", "sotbe", "thot", "trow", "tsg", "ttb", "utbs")
LICENCE = "GPL-2+"
LOCALE_DIR = f"usr/share/games/wesnoth/{BRANCH}/locale"
SOURCE_LANG = "en"
# Each entry is counted once, under the first of these that applies, in this order.
SKIP_REASONS = ("plural", "untranslated", "placeholder", "multiline", "markup-only",
                "empty", "name", "identical", "duplicate")
SHOWN_LANGS = 8  # languages named in the error for a language without a catalogue

_MAGIC = 0x950412DE
_HEADER_SIZE = 28  # magic, revision, N, O (msgid table), T (msgstr table), S, H
# Pango markup (the tags Wesnoth's text uses), with attributes (``<span color='...'>``).
_TAG = re.compile(r"</?(?:b|big|i|s|small|sub|sup|tt|u|em|span)(?:\s[^<>]*)?/?>", re.I)
_ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|lt|gt|amp|quot|apos);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
# $name, $unit.name|, ${...}, $(...); %s, %d, %1; {MACRO} and {...} substitutions.
_PLACEHOLDER = re.compile(r"\$[A-Za-z_{(]|%(?:[0-9]+|[sd])(?![A-Za-z])|\{[^{}]*\}")
# "…" as three dots (as the fillets data writes it); the non-breaking hyphen as "-".
_TYPOGRAPHY = str.maketrans({"\u2026": "...", "\u2011": "-"})


class MoEntry(NamedTuple):
    """One entry of a .mo catalogue."""

    index: int  # its position in the file's tables (sorted by msgid; the header is 0)
    context: str | None  # msgctxt, None where the entry has none
    msgid: str  # the English (the singular, for a plural entry)
    msgstr: str  # the translation (the first form, for a plural entry)
    plural: bool  # a msgid_plural entry (ngettext)


def package_name(campaign: str) -> str:
    """The Debian package of a campaign: ``wesnoth-1.16-<campaign>``."""
    return f"wesnoth-{BRANCH}-{campaign}"


def catalogue_path(package_root: str | Path, campaign: str, lang: str) -> Path:
    """Where an unpacked package keeps a campaign's catalogue for one language."""
    return (Path(package_root) / LOCALE_DIR / lang / "LC_MESSAGES" /
            f"wesnoth-{campaign}.mo")


def find_package(campaign: str, root: str | Path | None = None,
                 cache: str | Path | None = None) -> Path:
    """A campaign's unpacked package (the folder holding ``usr/``): ``root/<package>``
    where root is given (DataError if it is missing), else the data cache, fetching the
    package into it on first use (``rnnkit.data.debian.debian_package``)."""
    name = package_name(campaign)
    if root is None:
        return debian_package(name, cache, licence=LICENCE)
    path = Path(root).expanduser() / name
    if not path.is_dir():
        raise DataError(f"{path}: no such folder, expected the unpacked {name} package "
                        f"there (root/{name}/{LOCALE_DIR}/...): {manual_steps(name)}")
    return path


def languages(package_root: str | Path, campaign: str) -> list[str]:
    """The languages a campaign's unpacked package has a catalogue for, sorted."""
    locale = Path(package_root) / LOCALE_DIR
    if not locale.is_dir():
        return []
    return sorted(d.name for d in locale.iterdir()
                  if catalogue_path(package_root, campaign, d.name).is_file())


def read_mo(path: str | Path) -> list[MoEntry]:
    """The entries of a GNU .mo catalogue, in file order (the header, msgid "", included),
    decoded with the charset its header names (UTF-8 where it names none). DataError
    (one line, naming the file) for a missing, empty or unreadable file, one that is not
    a .mo catalogue, tables or strings outside the file, or bytes not in its charset."""
    path = Path(path)
    data = files.read_bytes(path, "a gettext .mo catalogue")
    if len(data) < _HEADER_SIZE:
        raise DataError(f"{path}: not a gettext .mo catalogue ({len(data)} bytes, shorter "
                        "than the header)")
    for order in ("little", "big"):
        if int.from_bytes(data[:4], order) == _MAGIC:
            break
    else:
        raise DataError(f"{path}: not a gettext .mo catalogue (bad magic number "
                        f"{data[:4].hex()})")

    def word(at: int) -> int:
        return int.from_bytes(data[at:at + 4], order)

    revision, n, ids_at, strs_at = (word(k) for k in (4, 8, 12, 16))
    if revision >> 16 not in (0, 1):
        raise DataError(f"{path}: unsupported .mo format revision {revision >> 16}")
    for table in (ids_at, strs_at):
        if table + 8 * n > len(data):
            raise DataError(f"{path}: corrupt .mo catalogue ({n} entries, but the string "
                            f"table at byte {table} runs past the end of the file)")
    raw: list[tuple[bytes, bytes]] = []
    for i in range(n):
        pair = []
        for table in (ids_at, strs_at):
            length, at = word(table + 8 * i), word(table + 8 * i + 4)
            if at + length > len(data):
                raise DataError(f"{path}: corrupt .mo catalogue (entry {i} lies outside "
                                "the file)")
            pair.append(data[at:at + length])
        raw.append((pair[0], pair[1]))
    charset = "utf-8"
    for msgid, msgstr in raw:
        if msgid == b"":
            m = re.search(rb"charset=([A-Za-z0-9._:-]+)", msgstr)
            if m and m.group(1).lower() != b"charset":  # the template's "CHARSET"
                charset = m.group(1).decode("ascii")
            break
    out = []
    for i, (msgid_b, msgstr_b) in enumerate(raw):
        try:
            msgid, msgstr = msgid_b.decode(charset), msgstr_b.decode(charset)
        except LookupError:
            raise DataError(f"{path}: unknown charset {charset!r} in the header") from None
        except UnicodeDecodeError:
            raise DataError(f"{path}: entry {i} is not valid {charset}") from None
        context = None
        if "\x04" in msgid:
            context, msgid = msgid.split("\x04", 1)
        plural = "\x00" in msgid
        out.append(MoEntry(i, context, msgid.split("\x00", 1)[0],
                           msgstr.split("\x00", 1)[0], plural))
    return out


def clean(text: str) -> str:
    """Text of a catalogue entry as a training sentence: Pango markup tags removed,
    character references decoded, curly quotes straightened, "…" written "...", the
    non-breaking hyphen written "-", whitespace runs (newlines and no-break spaces too)
    made one space, and the ends stripped."""
    text = _TAG.sub("", text)
    text = _ENTITY.sub(_entity, text)
    text = straight_quotes(text).translate(_TYPOGRAPHY)
    return " ".join(text.split())


def load_wesnoth(tgt_lang: str, campaigns: str | Sequence[str] = CAMPAIGNS, *,
                 root: str | Path | None = None,
                 cache: str | Path | None = None) -> SentencePairs:
    """English -> ``tgt_lang`` pairs from the catalogues of the Wesnoth campaigns, one
    group per campaign (its id, e.g. ``httt``), ids ``<campaign>/<n>`` (n: the entry's
    position in the .mo file), in campaign then file order.

    Args:
        tgt_lang: a locale folder name, e.g. ``de``, ``pt_BR``, ``sr@latin``.
        campaigns: campaign ids of ``CAMPAIGNS`` (one id may be given as a string). A
            campaign without a catalogue for tgt_lang adds nothing; ``source`` names it.
        root: a folder holding one unpacked package per campaign, ``root/<package>/usr/
            ...`` (for offline use and tests); None finds each in the data cache and
            fetches it there on first use.
        cache: the cache folder where root is None (default ``debian.cache_dir()``).

    Cleaning: markup tags are removed from both sides, character references decoded,
    curly quotes straightened, "…" written "...", whitespace collapsed (``clean``).
    ``skipped`` counts the entries left out (the header is not counted), each under the
    first reason that applies: ``plural`` (ngettext entries), ``untranslated`` (empty
    msgstr), ``placeholder`` (``$name``, ``%s``, ``{...}`` on either side),
    ``multiline`` (a newline on either side: paragraphs, not sentences),
    ``markup-only``/``empty`` (a side with no text once cleaned), ``name`` (under two
    English words), ``identical`` (the translation equals the English: multi-word names
    and copied, untranslated text), ``duplicate`` (a pair already taken, from any
    campaign). DataError for an unknown campaign, a language no requested campaign has a
    catalogue for, a missing package folder under root, a package that cannot be
    fetched, or a corrupt catalogue.
    """
    if isinstance(campaigns, str):
        campaigns = (campaigns,)
    campaigns = list(dict.fromkeys(campaigns))
    if not campaigns:
        raise DataError(f"no Wesnoth campaigns requested (choose from: {', '.join(CAMPAIGNS)})")
    for c in campaigns:
        if c not in CAMPAIGNS:
            raise DataError(unknown_name("Wesnoth campaign", c, CAMPAIGNS))
    packages = {c: find_package(c, root, cache) for c in campaigns}
    with_lang = [c for c in campaigns
                 if catalogue_path(packages[c], c, tgt_lang).is_file()]
    if not with_lang:
        _no_catalogue(tgt_lang, campaigns, packages)

    src: list[str] = []
    tgt: list[str] = []
    groups: list[str] = []
    ids: list[str] = []
    skipped = dict.fromkeys(SKIP_REASONS, 0)
    seen: set[tuple[str, str]] = set()
    for c in with_lang:
        for e in read_mo(catalogue_path(packages[c], c, tgt_lang)):
            if e.msgid == "" and e.context is None:
                continue  # the header
            reason = _skip_reason(e)
            if reason is None:
                en, tr = clean(e.msgid), clean(e.msgstr)
                if not en or not tr:
                    markup = _TAG.search(e.msgid if not en else e.msgstr)
                    reason = "markup-only" if markup else "empty"
                elif len(en.split()) < 2:
                    reason = "name"
                elif en == tr:
                    reason = "identical"
                elif (en, tr) in seen:
                    reason = "duplicate"
            if reason is not None:
                skipped[reason] += 1
                continue
            seen.add((en, tr))
            src.append(en)
            tgt.append(tr)
            groups.append(c)
            ids.append(f"{c}/{e.index}")

    read = []
    for c in with_lang:
        version = read_source(packages[c]).get("version")
        read.append(package_name(c) + (f" {version}" if version else ""))
    folders = sorted({str(p.parent) for p in packages.values()})
    missing = [c for c in campaigns if c not in with_lang]
    source = (f"{', '.join(read)} ({', '.join(folders)}; locale {tgt_lang}"
              + (f"; no {tgt_lang} catalogue in {', '.join(missing)}" if missing else "")
              + ")")
    return SentencePairs(src, tgt, groups, ids, SOURCE_LANG, tgt_lang, source,
                         {k: v for k, v in skipped.items() if v})


def _skip_reason(e: MoEntry) -> str | None:
    """The reason to leave an entry out that needs no cleaning, or None."""
    if e.plural:
        return "plural"
    if not e.msgstr.strip():
        return "untranslated"
    if _PLACEHOLDER.search(e.msgid) or _PLACEHOLDER.search(e.msgstr):
        return "placeholder"
    if "\n" in e.msgid or "\n" in e.msgstr:
        return "multiline"
    return None


def _entity(m: re.Match) -> str:
    name = m.group(1)
    if name[0] != "#":
        return _ENTITIES[name]
    code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
    return chr(code) if 0 < code <= 0x10FFFF else m.group()


def _no_catalogue(lang: str, campaigns: list[str], packages: dict[str, Path]) -> None:
    """Raise the DataError for a language no requested campaign has a catalogue for."""
    found = sorted({x for c, p in packages.items() for x in languages(p, c)})
    where = ", ".join(campaigns)
    if not found:
        first = packages[campaigns[0]]
        raise DataError(f"no Wesnoth {BRANCH} catalogues in the package(s) of {where} "
                        f"(expected {LOCALE_DIR}/<lang>/LC_MESSAGES/wesnoth-<campaign>.mo "
                        f"under {first})")
    if lang == SOURCE_LANG:
        raise DataError(f"{SOURCE_LANG} is the source side of the Wesnoth pairs; choose a "
                        f"target language, e.g. {', '.join(found[:SHOWN_LANGS])}")
    # Those sharing the language part first (pt -> pt, pt_BR), then the rest.
    base = re.split(r"[_@]", lang)[0].lower()
    near = [x for x in found if re.split(r"[_@]", x)[0].lower() == base]
    shown = (near + [x for x in found if x not in near])[:SHOWN_LANGS]
    raise DataError(f"no Wesnoth catalogue for language {lang!r} in {where} ({len(found)} "
                    f"languages have one, e.g. {', '.join(shown)})")
