"""Sentence pairs: the TSV reader's rules (header, groups, bad rows with their line
numbers, unreadable files) and the split that keeps every group on one side."""

from __future__ import annotations

import pytest

from helpers import data_error_message as message
from rnnkit.data.parallel import (
    BLOCK_PAIRS,
    SentencePairs,
    read_pairs_tsv,
    split_by_group,
    straight_quotes,
)
from rnnkit.errors import ConfigError


def tsv(tmp_path, text: str, name: str = "pairs.tsv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_pairs_blocks_and_ids(tmp_path):
    path = tsv(tmp_path, "Hello.\tBonjour.\n  Yes \t Oui \n\n\nNo.\tNon.\r\nThanks.\tMerci.")
    p = read_pairs_tsv(path, "en", "fr")
    assert p.src == ["Hello.", "Yes", "No.", "Thanks."]
    assert p.tgt == ["Bonjour.", "Oui", "Non.", "Merci."]
    assert p.ids == ["pairs.tsv:1", "pairs.tsv:2", "pairs.tsv:5", "pairs.tsv:6"]
    assert p.groups == ["lines 1-2", "lines 1-2", "lines 5-6", "lines 5-6"]
    assert (p.src_lang, p.tgt_lang, p.skipped, len(p), p[1]) == ("en", "fr", {}, 4, ("Yes", "Oui"))


def test_long_runs_are_cut_into_blocks(tmp_path):
    path = tsv(tmp_path, "".join(f"s{k}\tt{k}\n" for k in range(BLOCK_PAIRS + 3)))
    p = read_pairs_tsv(path)
    assert p.group_names == [f"lines 1-{BLOCK_PAIRS}",
                             f"lines {BLOCK_PAIRS + 1}-{BLOCK_PAIRS + 3}"]


def test_group_column_and_duplicates_kept(tmp_path):
    path = tsv(tmp_path, "a\tA\tscene1\na\tA\tscene1\nb\tB\tscene2\n")
    p = read_pairs_tsv(path)
    assert p.groups == ["scene1", "scene1", "scene2"] and p.src == ["a", "a", "b"]


@pytest.mark.parametrize("header, langs", [("src\ttgt", ()), ("Source\tTarget\tGroup", ()),
                                           ("en\tfr", ("en", "fr"))])
def test_header_is_detected(tmp_path, header, langs):
    third = "\tg" if header.count("\t") == 2 else ""
    p = read_pairs_tsv(tsv(tmp_path, f"{header}\nHi.\tSalut.{third}\n"), *langs)
    assert p.src == ["Hi."] and p.ids == ["pairs.tsv:2"]


def test_a_sentence_pair_is_never_a_header(tmp_path):
    # "en\tfr" is data unless those are the languages passed in
    p = read_pairs_tsv(tsv(tmp_path, "en\tfr\nyes\toui\n"), "de", "nl")
    assert p.src == ["en", "yes"]


@pytest.mark.parametrize("text, expected", [
    ("no tab here\na\tb\n", "line 1: no tab, expected 1 (source<TAB>target) or 2 "
                            "(source<TAB>target<TAB>group)"),
    ("a\tb\nno tab here\n", "line 2: no tab, but line 1 has 1: every row needs the same "
                            "columns (source, target)"),
    ("a\tb\tc\td\n", "line 1: 3 tabs, expected 1 (source<TAB>target) or 2 "
                     "(source<TAB>target<TAB>group)"),
    ("\na\tb\nc\td\tg\n", "line 3: 2 tabs, but line 2 has 1: every row needs the same "
                          "columns (source, target)"),
    ("a\tb\tg\nc\td\n", "line 2: 1 tab, but line 1 has 2: every row needs the same columns "
                        "(source, target, group)"),
    ("a\tb\n\tb\n", "line 2: empty source"),
    ("a\tb\nc\t  \n", "line 2: empty target"),
    ("a\tb\tg\nc\td\t\n", "line 2: empty group"),
    ("src\ttgt\n\n", "no sentence pairs, only a header line"),
])
def test_bad_rows_name_their_line(tmp_path, text, expected):
    path = tsv(tmp_path, text)
    assert message(read_pairs_tsv, path) == f"{path}: {expected}"


def test_unreadable_files_use_the_one_triage(tmp_path):
    what = "a tab-separated file of sentence pairs"
    empty = tsv(tmp_path, "", "empty.tsv")
    assert message(read_pairs_tsv, empty) == f"{empty}: empty file, expected {what}"
    binary = tmp_path / "x.tsv"
    binary.write_bytes(b"a\tb\n\x00\x01\x02")
    assert message(read_pairs_tsv, binary) == (f"{binary}: not {what} (binary: NUL byte at "
                                               "offset 4)")
    missing = tmp_path / "nope.tsv"
    assert message(read_pairs_tsv, missing) == f"{missing}: no such file"


def pairs_in_groups(sizes: dict[str, int]) -> SentencePairs:
    src, groups = [], []
    for g, n in sizes.items():
        src += [f"{g} sentence {k}" for k in range(n)]
        groups += [g] * n
    return SentencePairs(src, [s.upper() for s in src], groups, [f"{k}" for k in range(len(src))],
                         source="test")


def test_split_keeps_groups_whole_and_is_deterministic():
    p = pairs_in_groups({f"level{k:02d}": 5 + k % 7 for k in range(30)})
    train, valid, test = split_by_group(p, 0.1, 0.1, seed=3)
    sets = [set(part.group_names) for part in (train, valid, test)]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert sets[0] | sets[1] | sets[2] == set(p.group_names)
    assert len(train) + len(valid) + len(test) == len(p)
    assert all(len(part) >= 0.1 * len(p) for part in (valid, test))
    assert sorted(train.ids + valid.ids + test.ids, key=int) == p.ids
    again = split_by_group(p, 0.1, 0.1, seed=3)
    assert [part.ids for part in again] == [part.ids for part in (train, valid, test)]
    other = split_by_group(p, 0.1, 0.1, seed=4)
    assert [part.ids for part in other] != [part.ids for part in (train, valid, test)]


def test_split_gives_every_side_a_group_even_when_one_is_huge():
    p = pairs_in_groups({"huge": 100, "b": 1, "c": 1})
    for seed in range(6):
        parts = split_by_group(p, 0.1, 0.1, seed)
        assert all(len(part) > 0 for part in parts)
        assert sorted(len(part.group_names) for part in parts) == [1, 1, 1]


def test_split_needs_three_groups():
    p = pairs_in_groups({"a": 4, "b": 4})
    assert message(split_by_group, p, 0.1, 0.1, 0) == (
        "test: 2 group(s) ('a', 'b'), a split by group needs at least 3 (train, valid, test): "
        "give a group column or separate scenes with blank lines")
    with pytest.raises(ConfigError, match="valid_fraction must be in"):
        split_by_group(pairs_in_groups({"a": 1, "b": 1, "c": 1}), 0.0, 0.1, 0)
    with pytest.raises(ConfigError, match="must be below 1"):
        split_by_group(pairs_in_groups({"a": 1, "b": 1, "c": 1}), 0.5, 0.5, 0)


def test_straight_quotes():
    assert straight_quotes("It’s “fine” „ja“ «oui»") == "It's \"fine\" \"ja\" «oui»"
