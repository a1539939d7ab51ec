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

The catalogues are read, cleaned and counted by ``rnnkit.data.gettext_mo``; this module
finds them and says what Wesnoth marks up and fills in (``RULES``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from rnnkit.data.debian import debian_package, manual_steps, read_source
from rnnkit.data.gettext_mo import MoRules, PairCollector, missing_language, read_mo
from rnnkit.data.parallel import SentencePairs
from rnnkit.errors import DataError, unknown_name

BRANCH = "1.16"
CAMPAIGNS: tuple[str, ...] = ("did", "dm", "dw", "ei", "httt", "l", "low", "nr", "sof",
                              "sota", "sotbe", "thot", "trow", "tsg", "ttb", "utbs")
LICENCE = "GPL-2+"
LOCALE_DIR = f"usr/share/games/wesnoth/{BRANCH}/locale"
RULES = MoRules(
    # Pango markup (the tags Wesnoth's text uses), with attributes (``<span color='...'>``).
    tag=re.compile(r"</?(?:b|big|i|s|small|sub|sup|tt|u|em|span)(?:\s[^<>]*)?/?>", re.I),
    # $name, $unit.name|, ${...}, $(...); %s, %d, %1; {MACRO} and {...} substitutions.
    placeholder=re.compile(r"\$[A-Za-z_{(]|%(?:[0-9]+|[sd])(?![A-Za-z])|\{[^{}]*\}"))
clean = RULES.clean


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

    pairs = PairCollector(RULES)
    for c in with_lang:
        pairs.add(read_mo(catalogue_path(packages[c], c, tgt_lang)), c)

    read = []
    for c in with_lang:
        version = read_source(packages[c]).get("version")
        read.append(package_name(c) + (f" {version}" if version else ""))
    folders = sorted({str(p.parent) for p in packages.values()})
    missing = [c for c in campaigns if c not in with_lang]
    source = (f"{', '.join(read)} ({', '.join(folders)}; locale {tgt_lang}"
              + (f"; no {tgt_lang} catalogue in {', '.join(missing)}" if missing else "")
              + ")")
    return pairs.pairs(tgt_lang, source)


def _no_catalogue(lang: str, campaigns: list[str], packages: dict[str, Path]) -> None:
    """Raise the DataError for a language no requested campaign has a catalogue for."""
    found = sorted({x for c, p in packages.items() for x in languages(p, c)})
    where = ", ".join(campaigns)
    if not found:
        first = packages[campaigns[0]]
        raise DataError(f"no Wesnoth {BRANCH} catalogues in the package(s) of {where} "
                        f"(expected {LOCALE_DIR}/<lang>/LC_MESSAGES/wesnoth-<campaign>.mo "
                        f"under {first})")
    raise missing_language("Wesnoth", lang, found, where)
