"""The Widelands scenario reader on small .mo catalogues written here, laid out as the
unpacked package under a temporary root (no network)."""

from __future__ import annotations

import pytest

from helpers import data_error_message as message
from helpers import mo_bytes
from rnnkit.data import debian, widelands
from rnnkit.data.widelands import load_widelands


def write_mo(package, name, lang, entries, **kw):
    """package/usr/share/games/widelands/data/locale/<lang>/LC_MESSAGES/<name>"""
    path = widelands.catalogue_dir(package, lang) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(mo_bytes(entries, **kw))
    return path


# Entries of the kinds the real catalogues hold, one reason to skip each but the first few.
ATL01_DE = {
    "We left Atlantis and sailed east.": "Wir verließen Atlantis und segelten nach Osten.",
    "Build a woodcutter’s house": "Baue ein Holzfällerhaus",
    "‘0%’: This indicates the average productivity.": "„0%“: Dies gibt die durchschnittliche "
                                                       "Produktivität an.",
    "It is good to see our island grow. Thank you.": "Schön, unsere Insel wachsen zu "
                                                      "sehen.<br> Danke.",
    "Your ship is here, my friend.": "Euer Schiff ist da,&nbsp;mein Freund.",
    "empire_building\x04brewing beer": "Das Brauen von Bier",
    "empire_building\x04Mill": "Mühle",
    "May Satul warm you, %s!": "Möge Satul Euch wärmen, %s!",
    "Change is rapid with %1$s and smooth with %2$s.": "Die Änderung ist schnell mit %1$s "
                                                        "und sanft mit %2$s.",
    "A level 0 soldier has a %1%%% chance to evade.": "Ein Soldat der Stufe 0 hat eine "
                                                       "Chance von %1%%%.",
    ("We still need %d piece.", "We still need %d pieces."): ("Noch %d Stück.",
                                                              "Noch %d Stücke."),
    "Sorry, this map is not yet ready.": "Es tut uns leid,\naber diese Karte ist nicht fertig.",
    "Salvete peregrini! Vos nominate!": "Salvete peregrini! Vos nominate!",
    "<br>": "<br>",
}
TUTORIAL01_DE = {
    "We left Atlantis and sailed east.": "Wir verließen Atlantis und segelten nach Osten.",
    "Welcome back to the tutorial.": "Willkommen zurück im Tutorium.",
}


def fake_package(root):
    package = root / "widelands-data"
    write_mo(package, "scenario_atl01.wmf.mo", "de", ATL01_DE)
    write_mo(package, "scenario_tutorial01_basic_control.wmf.mo", "de", TUTORIAL01_DE)
    write_mo(package, "maps.mo", "de", {"A map for four players.": "Eine Karte für vier."})
    write_mo(package, "mp_scenario_smugglers.wmf.mo", "de", {"Smuggle the goods.": "Los."})
    write_mo(package, "scenario_atl01.wmf.mo", "fr", {"Welcome back.": "Bon retour."})
    write_mo(package, "maps.mo", "pt", {"A map for four players.": "Um mapa."})
    return package


def test_scenario_pairs_groups_ids_and_skips(tmp_path):
    package = fake_package(tmp_path)
    pairs = load_widelands("de", root=package)
    assert (pairs.src_lang, pairs.tgt_lang) == ("en", "de")
    assert list(zip(pairs.src, pairs.tgt, strict=True)) == [  # scenarios, msgid (byte) order
        ("Build a woodcutter's house", "Baue ein Holzfällerhaus"),
        ("It is good to see our island grow. Thank you.",
         "Schön, unsere Insel wachsen zu sehen. Danke."),
        ("We left Atlantis and sailed east.", "Wir verließen Atlantis und segelten nach Osten."),
        ("Your ship is here, my friend.", "Euer Schiff ist da, mein Freund."),
        ("brewing beer", "Das Brauen von Bier"),  # its context, empire_building, sorts it
        ("'0%': This indicates the average productivity.",
         "\"0%\": Dies gibt die durchschnittliche Produktivität an."),
        ("Welcome back to the tutorial.", "Willkommen zurück im Tutorium.")]
    assert pairs.groups == ["atl01"] * 6 + ["tutorial01_basic_control"]
    assert pairs.ids[-2:] == ["atl01/14", "tutorial01_basic_control/2"]
    assert pairs.skipped == {"plural": 1, "placeholder": 3, "multiline": 1, "markup-only": 1,
                             "name": 1, "identical": 1, "duplicate": 1}
    assert sum(pairs.skipped.values()) + len(pairs) == len(ATL01_DE) + len(TUTORIAL01_DE)
    assert pairs.source == f"widelands-data ({package}; locale de; 2 scenarios)"


def test_missing_language_lists_those_there_are(tmp_path):
    package = fake_package(tmp_path)
    locale = package / widelands.LOCALE_DIR
    assert message(load_widelands, "pt", root=package) == (
        f"no Widelands catalogue for language 'pt' in {locale} (2 languages have one, "
        "e.g. de, fr)")
    assert message(load_widelands, "en", root=package).startswith(
        "en is the source side of the Widelands pairs; choose a target language, e.g. de, fr")
    assert message(load_widelands, "de", root=tmp_path).startswith(
        f"{tmp_path}: no Widelands scenario catalogues here (expected "
        f"{widelands.LOCALE_DIR}/<lang>/LC_MESSAGES/scenario_<name>.wmf.mo")


@pytest.mark.parametrize("damage, why", [
    (lambda b: b"\x00\x00\x00\x00" + b[4:], "not a gettext .mo catalogue (bad magic number"),
    (lambda b: b[:40], "corrupt .mo catalogue (3 entries, but the string table"),
    (lambda b: b.replace("Tschüss".encode(), b"Tsch\xff\xffss"), "entry 1 is not valid UTF-8"),
    (lambda b: b"", "empty file"),
])
def test_a_corrupt_catalogue_is_a_one_line_error_naming_the_file(tmp_path, damage, why):
    write_mo(tmp_path, "scenario_atl01.wmf.mo", "de", {"Go on now.": "Los jetzt."})
    path = write_mo(tmp_path, "scenario_bar01.wmf.mo", "de", {"Bye now.": "Tschüss.",
                                                               "Go on.": "Los."})
    path.write_bytes(damage(path.read_bytes()))
    msg = message(load_widelands, "de", root=tmp_path)
    assert msg.startswith(f"{path}: ") and why in msg, msg


def test_without_root_only_the_locale_folder_is_fetched(tmp_path, monkeypatch):
    package = fake_package(tmp_path)
    (package / debian.SOURCE_FILE).write_text("package: widelands-data\nversion: 2:1.1-3\n",
                                              encoding="utf-8")
    calls = []

    def fake_fetch(name, cache=None, *, licence=None, paths=()):
        calls.append((name, cache, licence, paths))
        return package

    monkeypatch.setattr(widelands, "debian_package", fake_fetch)
    pairs = load_widelands("fr", cache=tmp_path / "cache")
    assert pairs[0] == ("Welcome back.", "Bon retour.") and pairs.skipped == {}
    assert pairs.source == f"widelands-data 2:1.1-3 ({package}; locale fr; 1 scenario)"
    assert calls == [("widelands-data", tmp_path / "cache", "GPL-2+",
                      ("usr/share/games/widelands/data/locale",))]
