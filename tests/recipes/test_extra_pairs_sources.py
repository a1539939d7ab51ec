"""``--extra-pairs`` of the translate recipe: comma-separated game dialogue sources and TSV
files, joined in order with their skip counts added up; one-line errors for a source that
cannot serve the language pair or a name that is neither a source nor a file. The game
readers are replaced by stand-ins (their own tests are in tests/data/)."""

from __future__ import annotations

import pytest

from rnnkit.data import freedroid, wesnoth, widelands
from rnnkit.data.parallel import SentencePairs
from rnnkit.errors import ConfigError
from rnnkit.recipes.translation.translate import EXTRA_SOURCES, join_pairs, load_extra_pairs
from rnnkit.train.config import RunConfig


def config(extra, pair="en-de"):
    return RunConfig.from_dict({"recipe": "translate",
                                "data": {"extra_pairs": str(extra), "pair": pair}})


@pytest.fixture
def loaded(monkeypatch):
    """Stand-ins for the three readers: two pairs each, a skip count, and a log of calls."""
    calls = []

    def stand_in(name, module, function):
        def load(tgt_lang):
            calls.append((name, tgt_lang))
            return SentencePairs([f"{name} one.", f"{name} two."], ["eins.", "zwei."],
                                 [name, name], [f"{name}/1", f"{name}/2"], "en", tgt_lang,
                                 f"{name} package", {"placeholder": 2, name: 1})
        monkeypatch.setattr(module, function, load)

    stand_in("wesnoth", wesnoth, "load_wesnoth")
    stand_in("freedroid", freedroid, "load_freedroid")
    stand_in("widelands", widelands, "load_widelands")
    return calls


def test_sources_are_joined_in_order_with_their_skips_added(loaded):
    extra = load_extra_pairs(config("widelands,wesnoth, freedroid,wesnoth"))
    assert loaded == [("widelands", "de"), ("wesnoth", "de"), ("freedroid", "de")]  # once
    assert extra.src[::2] == ["widelands one.", "wesnoth one.", "freedroid one."]
    assert extra.groups[::2] == ["widelands", "wesnoth", "freedroid"]
    assert (extra.src_lang, extra.tgt_lang) == ("en", "de")
    assert extra.source == "widelands package + wesnoth package + freedroid package"
    assert extra.skipped == {"placeholder": 6, "widelands": 1, "wesnoth": 1, "freedroid": 1}
    train = SentencePairs(["Hello."], ["Hallo."], ["level1"], ["level1/a"], "en", "de",
                          "fillets", {"untranslated": 3})
    joined = join_pairs(train, extra)  # as build() adds them to the training side
    assert len(joined) == 7 and joined.src[0] == "Hello."
    assert joined.skipped == {"untranslated": 3, "extra placeholder": 6, "extra widelands": 1,
                              "extra wesnoth": 1, "extra freedroid": 1}


def test_sources_and_files_mix_and_a_file_name_may_hold_a_comma(loaded, tmp_path):
    tsv = tmp_path / "mine.tsv"
    tsv.write_text("Good morning.\tGuten Morgen.\n", encoding="utf-8")
    extra = load_extra_pairs(config(f"{tsv},freedroid"))
    assert extra.src == ["Good morning.", "freedroid one.", "freedroid two."]
    assert extra.skipped == {"placeholder": 2, "freedroid": 1}
    odd = tmp_path / "a,b.tsv"
    odd.write_text("“Quoted,” he said.\t„Zitiert“, sagte er.\n", encoding="utf-8")
    assert load_extra_pairs(config(odd)).src == ['"Quoted," he said.']
    assert load_extra_pairs(RunConfig.from_dict({"recipe": "translate"})) is None


def test_every_part_is_checked_before_any_is_read(loaded, tmp_path):
    tsv = tmp_path / "mine.tsv"
    tsv.write_text("Bonjour.\tGuten Tag.\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_extra_pairs(config(f"{tsv},widelands", pair="fr-de"))
    assert str(info.value) == "--extra-pairs widelands translates from English, not fr"
    with pytest.raises(ConfigError) as info:
        load_extra_pairs(config("wesnoth,freedriod"))
    assert str(info.value) == ("--extra-pairs 'freedriod': neither a file nor 'wesnoth', "
                               "'freedroid' or 'widelands'")
    assert loaded == []
    assert EXTRA_SOURCES == ("wesnoth", "freedroid", "widelands")
