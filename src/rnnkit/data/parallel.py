"""Sentence pairs for translation: the container, a TSV reader, and a split by group.

A ``SentencePairs`` holds N (source, target) sentences, each with the group it came from
(a game level, a document, a scene: the unit the split keeps whole, so test sentences
come from scenes never seen in training) and an id saying where it was read. Readers:
``read_pairs_tsv`` here for a user's own file, ``rnnkit.data.fillets.load_fillets`` for
the fillets-ng game dialogue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rnnkit.data import files
from rnnkit.data.sequences import split_groups
from rnnkit.errors import DataError

BLOCK_PAIRS = 50  # TSV without a group column: a group is at most this many adjacent lines
SRC_NAMES = ("src", "source")  # header words, besides the languages passed in
TGT_NAMES = ("tgt", "target")
GROUP_NAMES = ("group",)
# Typographic quotes that people type as ASCII ones (« » and ‹ › are proper guillemets).
_STRAIGHT = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
                           "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"'})


@dataclass
class SentencePairs:
    """N aligned sentence pairs: ``src[i]`` translates to ``tgt[i]``; ``groups[i]`` is the
    scene/level/file block pair i belongs to (the unit ``split_by_group`` keeps whole) and
    ``ids[i]`` says where it was read (``level/id``, ``file:line``). ``skipped`` counts
    entries a reader left out, by reason ({} when none were)."""

    src: list[str]
    tgt: list[str]
    groups: list[str]
    ids: list[str]
    src_lang: str = "src"
    tgt_lang: str = "tgt"
    source: str = ""  # where the pairs were read from, for run records
    skipped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert len(self.src) == len(self.tgt) == len(self.groups) == len(self.ids), \
            "ragged sentence pairs"

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, i: int) -> tuple[str, str]:
        return self.src[i], self.tgt[i]

    @property
    def group_names(self) -> list[str]:
        """The distinct groups, sorted."""
        return sorted(set(self.groups))

    def subset(self, index: Sequence[int]) -> SentencePairs:
        """The pairs at ``index``, in that order (same languages and source)."""
        index = list(index)
        return SentencePairs([self.src[i] for i in index], [self.tgt[i] for i in index],
                             [self.groups[i] for i in index], [self.ids[i] for i in index],
                             self.src_lang, self.tgt_lang, self.source)


def straight_quotes(text: str) -> str:
    """Curly single and double quotes as ASCII ``'`` and ``"``: the fillets-ng English has
    ’ in 600 lines while people type ', so a model trained on one sees the other as
    unknown. Apply it to user input as well as to the training text."""
    return text.translate(_STRAIGHT)


def read_pairs_tsv(path: str | Path, src_lang: str = "src", tgt_lang: str = "tgt"
                   ) -> SentencePairs:
    """Sentence pairs from a UTF-8 tab-separated file (plain or gzipped), one pair a line:
    ``source<TAB>target`` or ``source<TAB>target<TAB>group``.

    Rules, so that no row is dropped silently:

    - Blank lines are skipped (and end a group, below); spaces around fields are stripped.
    - Header: the first non-blank line is a header, not a pair, when its first field is one
      of ``src``/``source``/``src_lang`` and its second one of ``tgt``/``target``/
      ``tgt_lang`` (case-insensitive; with a third column that one must be ``group``). So
      ``en<TAB>fr`` is a header for ``src_lang="en", tgt_lang="fr"``, and any real
      sentence pair is data.
    - Every row has the same columns as the first data row: 1 tab, or 2 with a group.
    - Groups: the third column where given (the user's own split units); otherwise runs of
      adjacent lines, cut at blank lines and every ``BLOCK_PAIRS`` lines, named
      ``lines A-B``: a file in document order keeps neighbouring sentences (one scene)
      on one side of the split.
    - Duplicate pairs are kept (they are real data; ``skipped`` stays {}).

    DataError (one line, with the line number) for a row with the wrong number of tabs, an
    empty source, target or group, and (via ``rnnkit.data.files``) a missing, empty,
    binary or non-UTF-8 file; DataError for a file holding only a header.
    """
    path = Path(path)
    text = files.read_text(path, "a tab-separated file of sentence pairs")
    src: list[str] = []
    tgt: list[str] = []
    groups: list[str] = []
    ids: list[str] = []
    ncols = 0  # columns of the first data row (2 or 3)
    first_data_line = 0
    block: list[int] = []  # indices of the current run of adjacent lines, no group column
    blocks: list[list[int]] = []
    seen_any = False
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            if block:
                blocks.append(block)
                block = []
            continue
        fields = [f.strip() for f in line.split("\t")]
        if not seen_any:
            seen_any = True
            if _is_header(fields, src_lang, tgt_lang):
                continue
        tabs = len(fields) - 1
        if ncols == 0:
            if tabs not in (1, 2):
                raise DataError(f"{path}: line {n}: {_tabs(tabs)}, expected 1 "
                                "(source<TAB>target) or 2 (source<TAB>target<TAB>group)")
            ncols, first_data_line = len(fields), n
        elif len(fields) != ncols:
            raise DataError(f"{path}: line {n}: {_tabs(tabs)}, but line {first_data_line} "
                            f"has {ncols - 1}: every row needs the same columns "
                            f"({'source, target, group' if ncols == 3 else 'source, target'})")
        for k, what in enumerate(("source", "target", "group")[:ncols]):
            if not fields[k]:
                raise DataError(f"{path}: line {n}: empty {what}")
        if ncols == 2:
            if len(block) == BLOCK_PAIRS:
                blocks.append(block)
                block = []
            block.append(len(src))
            groups.append("")  # named once the block is complete
        else:
            groups.append(fields[2])
        src.append(fields[0])
        tgt.append(fields[1])
        ids.append(f"{path.name}:{n}")
    if block:
        blocks.append(block)
    if not src:
        raise DataError(f"{path}: no sentence pairs, only a header line")
    for b in blocks:  # "lines A-B" by the line numbers in the ids
        first, last = (ids[i].rsplit(":", 1)[1] for i in (b[0], b[-1]))
        for i in b:
            groups[i] = f"lines {first}-{last}"
    return SentencePairs(src, tgt, groups, ids, src_lang, tgt_lang, str(path))


def split_by_group(pairs: SentencePairs, valid_fraction: float, test_fraction: float,
                   seed: int) -> tuple[SentencePairs, SentencePairs, SentencePairs]:
    """(train, valid, test) with every group wholly on one side, so valid and test hold
    sentences from scenes never seen in training (``data.sequences.split_groups``; pairs
    keep their original order)."""
    train, valid, test = split_groups(pairs.groups, valid_fraction, test_fraction, seed,
                                      source=pairs.source or "sentence pairs")
    return pairs.subset(train), pairs.subset(valid), pairs.subset(test)


def _is_header(fields: list[str], src_lang: str, tgt_lang: str) -> bool:
    low = [f.lower() for f in fields]
    if len(low) not in (2, 3):
        return False
    return (low[0] in (*SRC_NAMES, src_lang.lower()) and low[1] in (*TGT_NAMES, tgt_lang.lower())
            and (len(low) == 2 or low[2] in GROUP_NAMES))


def _tabs(n: int) -> str:
    return "no tab" if n == 0 else f"{n} tab{'s' if n > 1 else ''}"
