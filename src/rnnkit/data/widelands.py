"""The campaign and tutorial texts of Widelands as English -> other-language sentence
pairs (extra training data for the translation recipe, beside ``fillets`` and ``wesnoth``).

Source: the Debian package ``widelands-data`` (Widelands, the Widelands Development Team
and its translators; GPL-2+ per ``usr/share/doc/widelands-data/copyright``, the licence of
``Files: *``, which the catalogues fall under). Nothing of it is shipped with rnnkit:
``load_widelands`` reads an unpacked copy, fetched into the data cache on first use
(``rnnkit.data.debian``; only the locale folder of the 381 MB package is unpacked).

The package holds, per language (52 in 2:1.1-3, bookworm; de, ca, hu and nds have all
2,324 entries, fr 2,020, ru 2,014, down to eu with 2, and fa ga ka krl sl sr_RS only the
headers), one gettext catalogue per scenario in
``usr/share/games/widelands/data/locale/<lang>/LC_MESSAGES/``: ``scenario_<name>.wmf.mo``
for the 12 campaign missions (``atl01``-``02``, ``bar01``-``02``, ``emp01``-``04``,
``fri01``-``04``), the 4 tutorials (``tutorial01_basic_control`` ... ``tutorial04_economy``)
and ``dummy`` (2 entries: "Sorry, this map is not yet implemented."). Other catalogues
there (``maps.mo``, ``tribes*.mo``, ``widelands.mo``, ``mp_scenario_*``, ``map_*``) are map
descriptions, encyclopedia and UI text, not read.

What the scenario catalogues hold (checked in all 52 languages, 41,217 entries):

- the header (msgid "") and then entries sorted by msgid; ids here are ``<name>/<n>``
  (e.g. ``atl01/12``), positions in the file (the header is 0);
- the advisors' and characters' messages (a paragraph each, several sentences, no
  newline), objectives ("Build a forester’s house"), message titles ("The Barbarians");
- building, ware and worker names and production programs pulled in from the tribes,
  with a msgctxt (80 de entries: ``empire_building`` "Mill" -> "Mühle", "brewing beer"
  -> "Das Brauen von Bier"; 815 in all), read with the context stripped: the names are
  skipped as names, the programs kept;
- no markup in the English: the scenario scripts wrap each translated string in rich
  text (``p(_([[...]]))``, ``li(...)`` in ``scripting/texts.lua``); translators added
  ``<br>`` twice (it, pt_BR), removed here with the other rich-text tags, and ``&nbsp;``
  (fr, pt), decoded;
- placeholders the game fills in, printf (``%s``, ``%d``, ``%1$s``; 309 entries in all
  languages, 29 in de) and boost::format (``%1%``; 136, 7 in de; ``%1%%%`` is the number
  and a percent sign), skipped; a lone ``%`` is text ("‘0%’: This indicates ...");
- plural entries (4 in de, 50 in all): skipped; 12 translations (ca cs fr ko nb pt sv)
  wrap a long message with newlines: skipped as multiline;
- the English writes ’ ‘ “ ” (’ 596 times in the de catalogues), the German „ “ and ‚ ‘
  and "…" (284 times), here straight quotes and ``...``; en dashes (–) are kept;
- text left as the English where the scenario is in Latin (the Empire's legate:
  "Salvete peregrini! ..."), skipped as identical.

``load_widelands("de")`` gives 2,118 pairs (left out: 4 plural, 32 placeholder, 100 name,
7 identical, 63 duplicate: texts repeated across scenarios); fr 1,872, ru 1,873.
"""

from __future__ import annotations

import re
from pathlib import Path

from rnnkit.data.debian import debian_package, manual_steps, read_source
from rnnkit.data.gettext_mo import PRINTF, MoRules, PairCollector, missing_language, read_mo
from rnnkit.data.parallel import SentencePairs
from rnnkit.errors import DataError

PACKAGE = "widelands-data"
LICENCE = "GPL-2+"
LOCALE_DIR = "usr/share/games/widelands/data/locale"
CATALOGUE = re.compile(r"scenario_(.+)\.wmf\.mo")  # the scenario name is the group
RULES = MoRules(
    # Widelands' rich-text tags (none in the English; <br> in two translations).
    tag=re.compile(r"</?(?:br|p|rt|font|div|img|vspace|space|li)\b[^<>]*/?>", re.I),
    # printf (%s, %d, %1$s) and boost::format (%1%) placeholders.
    placeholder=re.compile(PRINTF + r"|%[0-9]+%"))


def catalogue_dir(root: str | Path, lang: str) -> Path:
    """Where the unpacked package keeps one language's catalogues."""
    return Path(root) / LOCALE_DIR / lang / "LC_MESSAGES"


def catalogues(root: str | Path, lang: str) -> dict[str, Path]:
    """The scenario catalogues of one language, by scenario name, sorted by name."""
    folder = catalogue_dir(root, lang)
    found = {m.group(1): p for p in folder.glob("scenario_*.wmf.mo")
             if (m := CATALOGUE.fullmatch(p.name))} if folder.is_dir() else {}
    return dict(sorted(found.items()))


def find_root(root: str | Path | None = None, cache: str | Path | None = None) -> Path:
    """The unpacked package (the folder holding ``usr/``): ``root`` if given, else the
    data cache, fetching its locale folder into it on first use
    (``rnnkit.data.debian.debian_package``)."""
    if root is not None:
        return Path(root).expanduser()
    return debian_package(PACKAGE, cache, licence=LICENCE, paths=(LOCALE_DIR,))


def languages(root: str | Path) -> list[str]:
    """The languages the unpacked package has scenario catalogues for, sorted."""
    locale = Path(root) / LOCALE_DIR
    if not locale.is_dir():
        return []
    return sorted(d.name for d in locale.iterdir() if catalogues(root, d.name))


def load_widelands(tgt_lang: str, *, root: str | Path | None = None,
                   cache: str | Path | None = None) -> SentencePairs:
    """English -> ``tgt_lang`` pairs from the catalogues of Widelands' campaign and
    tutorial scenarios, one group per scenario (e.g. ``atl01``,
    ``tutorial01_basic_control``), ids ``<scenario>/<n>`` (n: the entry's position in the
    .mo file), in scenario-name then file order.

    Args:
        tgt_lang: a locale folder name, e.g. ``de``, ``pt_BR``, ``en_GB``.
        root: the unpacked package, the folder holding ``usr/`` (for offline use and
            tests); None finds it in the data cache and fetches it there on first use.
        cache: the cache folder where root is None (default ``debian.cache_dir()``).

    Cleaning and skipping as in ``rnnkit.data.gettext_mo`` (``RULES``): rich-text tags
    removed, character references decoded, "…" written "...", quotes straightened,
    whitespace collapsed; ``skipped`` counts what is left out by reason (``plural``;
    ``placeholder``: ``%s``, ``%1$s``, ``%1%``; ``multiline``; ``markup-only``/``empty``;
    ``name``: under two English words; ``identical``; ``duplicate``: a pair already taken
    from any scenario). DataError for a language without scenario catalogues (naming
    those that have them), a package without any, a package that cannot be fetched, or a
    corrupt catalogue (naming the file).
    """
    package = find_root(root, cache)
    scenarios = catalogues(package, tgt_lang)
    if not scenarios:
        found = languages(package)
        if not found:
            raise DataError(f"{package}: no Widelands scenario catalogues here (expected "
                            f"{LOCALE_DIR}/<lang>/LC_MESSAGES/scenario_<name>.wmf.mo under "
                            f"the unpacked {PACKAGE} package): {manual_steps(PACKAGE)}")
        raise missing_language("Widelands", tgt_lang, found, f"{package / LOCALE_DIR}")

    pairs = PairCollector(RULES)
    for name, path in scenarios.items():
        pairs.add(read_mo(path), name)
    version = read_source(package).get("version")
    n = len(scenarios)
    source = (PACKAGE + (f" {version}" if version else "")
              + f" ({package}; locale {tgt_lang}; {n} scenario{'s' if n > 1 else ''})")
    return pairs.pairs(tgt_lang, source)
