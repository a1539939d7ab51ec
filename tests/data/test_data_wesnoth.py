"""The Wesnoth campaign reader on small .mo catalogues written here in the GNU .mo binary
format, laid out as unpacked Debian packages under one root folder (no network)."""

from __future__ import annotations

import pytest

from helpers import data_error_message as message
from helpers import mo_bytes
from rnnkit.data import wesnoth
from rnnkit.data.gettext_mo import read_mo
from rnnkit.data.wesnoth import load_wesnoth


def write_mo(root, campaign, lang, entries, **kw):
    """root/<package>/usr/share/games/wesnoth/1.16/locale/<lang>/LC_MESSAGES/wesnoth-<c>.mo"""
    path = wesnoth.catalogue_path(root / wesnoth.package_name(campaign), campaign, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(mo_bytes(entries, **kw))
    return path


# Entries of the kinds the real catalogues hold, one reason to skip each but the first few.
HTTT_DE = {
    "We are traveling east? Down the river?": "Wir reisen nach Osten? Flussabwärts?",
    "That’s <i>Sir</i> Deoran to you!": "Für Euch immer noch <i>Sir</i> Deoran!",
    "Mebrin has caught us in his spell! We are doomed...": "Mebrin hat uns gebannt. Wir sind "
                                                           "erledigt …",
    "One fewer evil in this forest.": "<small>(<i>verzagt</i>)</small>  Nur kommt ein Übel "
                                      "selten allein …",
    "Move Deoran to the <span color='#00ff00'>city</span>": "Bringt Deoran zur Stadt",
    "speaker\x04Hold, who goes there?": "Halt, wer da?",
    ("one gold piece", "$amount gold pieces"): ("ein Goldstück", "$amount Goldstücke"),
    "Thank you, $unit.name|.": "Danke, $unit.name|.",
    "You gain %s gold.": "Ihr erhaltet %s Gold.",
    "{INTRO_TEXT}": "{INTRO_TEXT}",
    "First line.\n\nSecond paragraph here.": "Erste Zeile.\n\nZweiter Absatz hier.",
    "<i></i>": "<i></i>",
    "Not yet translated, this one.": "",
    "Delfador": "Delfador",
    "Victory": "Sieg",
    "Urza Mathin": "Urza Mathin",
}
TSG_DE = {
    "We are traveling east? Down the river?": "Wir reisen nach Osten? Flussabwärts?",
    "Defeat all enemy leaders": "Besiegt alle feindlichen Anführer",
}
TSG_FR = {"Defeat all enemy leaders": "Vainquez tous les chefs ennemis"}


def fake_root(root):
    write_mo(root, "httt", "de", HTTT_DE)
    write_mo(root, "tsg", "de", TSG_DE)
    write_mo(root, "tsg", "fr", TSG_FR)
    write_mo(root, "tsg", "pt_BR", TSG_FR)
    return root


def test_read_mo_strips_context_and_flags_plurals(tmp_path):
    path = write_mo(tmp_path, "httt", "de", {"ctx\x04Hello there.": "Hallo.",
                                            ("a day", "$n days"): ("ein Tag", "$n Tage"),
                                            "Bye.": "Tschüss."})
    entries = read_mo(path)
    assert [e.index for e in entries] == [0, 1, 2, 3]
    header, *rest = entries
    assert header.msgid == "" and "charset=UTF-8" in header.msgstr
    assert [(e.context, e.msgid, e.msgstr, e.plural) for e in rest] == [
        (None, "Bye.", "Tschüss.", False),
        (None, "a day", "ein Tag", True),
        ("ctx", "Hello there.", "Hallo.", False)]


@pytest.mark.parametrize("order", ["little", "big"])
def test_read_mo_either_byte_order_and_the_header_charset(tmp_path, order):
    path = write_mo(tmp_path, "tsg", "fr", {"Go on.": "Allez, ça suffit."}, order=order,
                    charset="ISO-8859-1")
    assert read_mo(path)[1].msgstr == "Allez, ça suffit."


def test_clean_removes_markup_and_normalises_typography():
    assert wesnoth.clean("<small>(<i>leise</i>)</small>  Lang \u2026\n <b>nicht</b>") == \
        "(leise) Lang ... nicht"
    assert wesnoth.clean("“Fight,” he said’s &lt;x&gt; an t&#8209;amadan") == \
        "\"Fight,\" he said's <x> an t-amadan"
    assert wesnoth.clean("dirige<se para ti.") == "dirige<se para ti."  # a typo, not a tag


def test_load_wesnoth_pairs_groups_ids_and_skips(tmp_path):
    pairs = load_wesnoth("de", ["httt", "tsg"], root=fake_root(tmp_path))
    assert (pairs.src_lang, pairs.tgt_lang) == ("en", "de")
    assert list(zip(pairs.src, pairs.tgt, strict=True)) == [  # in msgid (byte) order
        ("Mebrin has caught us in his spell! We are doomed...",
         "Mebrin hat uns gebannt. Wir sind erledigt ..."),
        ("Move Deoran to the city", "Bringt Deoran zur Stadt"),
        ("One fewer evil in this forest.", "(verzagt) Nur kommt ein Übel selten allein ..."),
        ("That's Sir Deoran to you!", "Für Euch immer noch Sir Deoran!"),
        ("We are traveling east? Down the river?", "Wir reisen nach Osten? Flussabwärts?"),
        ("Hold, who goes there?", "Halt, wer da?"),  # its context, "speaker", sorts it
        ("Defeat all enemy leaders", "Besiegt alle feindlichen Anführer")]
    assert pairs.groups == ["httt"] * 6 + ["tsg"]
    # positions in the msgid-sorted file: the header is 0, "<i></i>" 1, "Delfador" 2, ...
    assert pairs.ids == ["httt/4", "httt/5", "httt/7", "httt/9", "httt/12", "httt/15",
                         "tsg/1"]
    assert pairs.skipped == {"plural": 1, "untranslated": 1, "placeholder": 3,
                             "multiline": 1, "markup-only": 1, "name": 2, "identical": 1,
                             "duplicate": 1}
    assert sum(pairs.skipped.values()) + len(pairs) == len(HTTT_DE) + len(TSG_DE)
    assert pairs.source == (f"wesnoth-1.16-httt, wesnoth-1.16-tsg ({tmp_path}; locale de)")


def test_campaigns_without_the_language_add_nothing_and_are_named(tmp_path):
    root = fake_root(tmp_path)
    (root / "wesnoth-1.16-tsg" / "SOURCE.txt").write_text(
        "package: wesnoth-1.16-tsg\nversion: 1:1.16.9-1\n", encoding="utf-8")
    pairs = load_wesnoth("fr", ("httt", "tsg"), root=root)
    assert pairs[0] == ("Defeat all enemy leaders", "Vainquez tous les chefs ennemis")
    assert pairs.groups == ["tsg"] and pairs.ids == ["tsg/1"] and pairs.skipped == {}
    assert pairs.source == f"wesnoth-1.16-tsg 1:1.16.9-1 ({root}; locale fr; no fr " \
                           "catalogue in httt)"
    assert len(load_wesnoth("de", "tsg", root=root)) == 2  # one campaign, as a string


def test_without_root_each_package_comes_from_the_cache(tmp_path, monkeypatch):
    root = fake_root(tmp_path / "cache")
    calls = []

    def fake_package(name, cache=None, licence=None):
        calls.append((name, cache, licence))
        return root / name

    monkeypatch.setattr(wesnoth, "debian_package", fake_package)
    pairs = load_wesnoth("de", ["tsg", "httt"], cache=tmp_path / "cache")
    assert pairs.groups[:2] == ["tsg", "tsg"]
    assert calls == [("wesnoth-1.16-tsg", tmp_path / "cache", "GPL-2+"),
                     ("wesnoth-1.16-httt", tmp_path / "cache", "GPL-2+")]
    assert len(wesnoth.CAMPAIGNS) == 16 and wesnoth.package_name("dm") == "wesnoth-1.16-dm"


def test_bad_campaign_language_and_folder(tmp_path):
    root = fake_root(tmp_path)
    assert message(load_wesnoth, "de", ["httt", "nope"], root=root) == (
        "unknown Wesnoth campaign 'nope' (choose from: " + ", ".join(wesnoth.CAMPAIGNS) + ")")
    assert message(load_wesnoth, "pt", ["httt", "tsg"], root=root) == (
        "no Wesnoth catalogue for language 'pt' in httt, tsg (3 languages have one, "
        "e.g. pt_BR, de, fr)")
    assert message(load_wesnoth, "en", ["tsg"], root=root).startswith(
        "en is the source side of the Wesnoth pairs")
    assert message(load_wesnoth, "de", [], root=root).startswith("no Wesnoth campaigns")
    assert message(load_wesnoth, "de", ["dm"], root=root).startswith(
        f"{root / 'wesnoth-1.16-dm'}: no such folder, expected the unpacked wesnoth-1.16-dm")
    (root / "wesnoth-1.16-dw").mkdir()
    assert message(load_wesnoth, "de", ["dw"], root=root).startswith(
        "no Wesnoth 1.16 catalogues in the package(s) of dw")


@pytest.mark.parametrize("damage, why", [
    (lambda b: b"\x00\x00\x00\x00" + b[4:], "not a gettext .mo catalogue (bad magic number"),
    (lambda b: b[:20], "not a gettext .mo catalogue (20 bytes"),
    (lambda b: b[:40], "corrupt .mo catalogue (3 entries, but the string table"),
    (lambda b: b[:-3], "corrupt .mo catalogue (entry 2 lies outside the file)"),
    (lambda b: b.replace("Tschüss".encode(), b"Tsch\xff\xffss"), "entry 1 is not valid UTF-8"),
    (lambda b: b"", "empty file"),
])
def test_a_corrupt_catalogue_is_a_one_line_error_naming_the_file(tmp_path, damage, why):
    path = write_mo(tmp_path, "tsg", "de", {"Bye now.": "Tschüss.", "Go on.": "Los."})
    path.write_bytes(damage(path.read_bytes()))
    msg = message(load_wesnoth, "de", "tsg", root=tmp_path)
    assert msg.startswith(f"{path}: ") and why in msg, msg
