"""Gettext .mo catalogues read into clean English -> other-language sentence pairs, with
what was left out counted by reason. The game readers (``wesnoth``, ``freedroid``,
``widelands``) find their catalogues and say what markup and placeholders their games
use (a ``MoRules``); reading, cleaning and skipping are done here, the same for all.

A catalogue's entries map msgid (the English) to msgstr (the translation). What the
readers share (see each reader's docstring for what its catalogues hold):

- the entry with the empty msgid is the header (its ``charset`` says how to decode the
  rest); entries are sorted by msgid, so an entry's position in the file's tables is a
  stable id (the header is 0);
- a context entry is stored as ``context\\x04msgid`` and read with the context stripped;
  a plural entry (ngettext) holds ``msgid\\x00msgid_plural`` and is skipped;
- markup tags and placeholders the game fills in differ per game (``MoRules``); text
  with a placeholder is skipped (a model would learn to invent them), tags are removed;
- newlines inside an entry mark paragraphs (help pages, story screens), not sentences;
- "…" is written ``...`` here, as the fillets data writes it, and curly quotes straight.

The .mo files are parsed here from their documented binary format (the GNU gettext
manual, "The Format of GNU MO Files") rather than through ``gettext.GNUTranslations``:
its ``_catalog`` is a private attribute, it merges context and plural entries into keys
that lose the entry's position, and it raises bare ``OSError``/``UnicodeDecodeError`` on a
damaged file, where a one-line DataError naming the file is wanted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from rnnkit.data import files
from rnnkit.data.parallel import SentencePairs, straight_quotes
from rnnkit.errors import DataError

SOURCE_LANG = "en"
# Each entry is counted once, under the first of these that applies, in this order.
SKIP_REASONS = ("plural", "untranslated", "placeholder", "multiline", "markup-only",
                "empty", "name", "identical", "duplicate")
SHOWN_LANGS = 8  # languages named in the error for a language without a catalogue
# printf conversions: %s, %d, %02d, %1$s (positional); not %% (a literal percent sign) and
# no space flag, so "100% done" is not "% d".
PRINTF = r"(?<!%)%(?:[0-9]+\$)?[-+#0]*[0-9]*(?:\.[0-9]+)?[sdiufxXc]"

_MAGIC = 0x950412DE
_HEADER_SIZE = 28  # magic, revision, N, O (msgid table), T (msgstr table), S, H
_ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|lt|gt|amp|quot|apos|nbsp);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'", "nbsp": "\u00a0"}
# "…" as three dots (as the fillets data writes it); the non-breaking hyphen as "-".
_TYPOGRAPHY = str.maketrans({"\u2026": "...", "\u2011": "-"})


class MoEntry(NamedTuple):
    """One entry of a .mo catalogue."""

    index: int  # its position in the file's tables (sorted by msgid; the header is 0)
    context: str | None  # msgctxt, None where the entry has none
    msgid: str  # the English (the singular, for a plural entry)
    msgstr: str  # the translation (the first form, for a plural entry)
    plural: bool  # a msgid_plural entry (ngettext)


@dataclass(frozen=True)
class MoRules:
    """What one game's catalogues mark up and fill in.

    Args:
        tag: markup tags, removed from both sides by ``clean`` (a side that is only
            markup is skipped as ``markup-only``).
        placeholder: text the game replaces when it shows the string (``%s``, ``$name``);
            an entry with one on either side is skipped.
        escapes: literal replacements ``clean`` makes first, e.g. ``("%%", "%")`` where
            every string is a printf format.
    """

    tag: re.Pattern
    placeholder: re.Pattern
    escapes: tuple[tuple[str, str], ...] = ()

    def clean(self, text: str) -> str:
        """Text of a catalogue entry as a training sentence: escapes replaced, markup tags
        removed, character references decoded, curly quotes straightened, "…" written
        "...", the non-breaking hyphen written "-", whitespace runs (newlines and no-break
        spaces too) made one space, and the ends stripped."""
        for old, new in self.escapes:
            text = text.replace(old, new)
        text = self.tag.sub("", text)
        text = _ENTITY.sub(_entity, text)
        text = straight_quotes(text).translate(_TYPOGRAPHY)
        return " ".join(text.split())

    def skip_reason(self, e: MoEntry) -> str | None:
        """The reason to leave an entry out that needs no cleaning, or None."""
        if e.plural:
            return "plural"
        if not e.msgstr.strip():
            return "untranslated"
        if self.placeholder.search(e.msgid) or self.placeholder.search(e.msgstr):
            return "placeholder"
        if "\n" in e.msgid or "\n" in e.msgstr:
            return "multiline"
        return None


class PairCollector:
    """Sentence pairs gathered from one or more catalogues, with the entries left out
    counted under ``SKIP_REASONS`` (the header is not counted). A pair already taken, from
    any catalogue added before, counts as ``duplicate``."""

    def __init__(self, rules: MoRules) -> None:
        self.rules = rules
        self.src: list[str] = []
        self.tgt: list[str] = []
        self.groups: list[str] = []
        self.ids: list[str] = []
        self.skipped = dict.fromkeys(SKIP_REASONS, 0)
        self._seen: set[tuple[str, str]] = set()

    def add(self, entries: Iterable[MoEntry], group: str) -> None:
        """Take the pairs of one catalogue's entries, in file order, as ``group`` with ids
        ``<group>/<n>`` (n: the entry's position in the file)."""
        rules = self.rules
        for e in entries:
            if e.msgid == "" and e.context is None:
                continue  # the header
            reason = rules.skip_reason(e)
            if reason is None:
                en, tr = rules.clean(e.msgid), rules.clean(e.msgstr)
                if not en or not tr:
                    markup = rules.tag.search(e.msgid if not en else e.msgstr)
                    reason = "markup-only" if markup else "empty"
                elif len(en.split()) < 2:
                    reason = "name"
                elif en == tr:
                    reason = "identical"
                elif (en, tr) in self._seen:
                    reason = "duplicate"
            if reason is not None:
                self.skipped[reason] += 1
                continue
            self._seen.add((en, tr))
            self.src.append(en)
            self.tgt.append(tr)
            self.groups.append(group)
            self.ids.append(f"{group}/{e.index}")

    def pairs(self, tgt_lang: str, source: str) -> SentencePairs:
        """English -> tgt_lang pairs of everything added; ``skipped`` lists only the
        reasons that occurred."""
        return SentencePairs(self.src, self.tgt, self.groups, self.ids, SOURCE_LANG,
                             tgt_lang, source, {k: v for k, v in self.skipped.items() if v})


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


def missing_language(game: str, lang: str, found: list[str], where: str) -> DataError:
    """The error for a target language without a catalogue: ``found`` are the languages
    that have one (sorted), those sharing lang's language part shown first (pt -> pt,
    pt_BR); for the source language, a reminder that it is the source side."""
    if lang == SOURCE_LANG:
        return DataError(f"{SOURCE_LANG} is the source side of the {game} pairs; choose a "
                         f"target language, e.g. {', '.join(found[:SHOWN_LANGS])}")
    base = re.split(r"[_@]", lang)[0].lower()
    near = [x for x in found if re.split(r"[_@]", x)[0].lower() == base]
    shown = (near + [x for x in found if x not in near])[:SHOWN_LANGS]
    return DataError(f"no {game} catalogue for language {lang!r} in {where} ({len(found)} "
                     f"languages have one, e.g. {', '.join(shown)})")


def _entity(m: re.Match) -> str:
    name = m.group(1)
    if name[0] != "#":
        return _ENTITIES[name]
    code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
    return chr(code) if 0 < code <= 0x10FFFF else m.group()
