"""Genome recipes (issue #6): ``splice``, ``promoters`` and ``genes``, and the readers that
let ``rnnkit predict`` / ``rnnkit eval`` apply their trained models to a user's files.

READERS contract (also followed by ``signal_recipes``; ``sequence_recipes`` merges both)::

    READERS[recipe] = {
        "predict":  fn(path, spec) -> iterable of (key, x)   # rnnkit predict RECIPE --data
                    # key: a tuple of printable fields naming the item (file, record,
                    # window start...), x: one model input ((T,) int64 or (T, F) float);
                    # for taggers key = (record, 0-based offset of x in the record)
        "columns":  names of the key's fields, for the output header   [default ("id",)]
        "background": a class whose predictions are only printed with --all (e.g. "n":
                    no junction), or None                               [optional]
        "labelled": fn(path, spec) -> LabelledSequences               # rnnkit eval --data
                    # in the checkpoint's class order (spec["classes"]); taggers return
                    # tagging.TaggedSequences
        "formats":  one line saying which files the readers take       [for --help/errors]
    }

``spec`` is the checkpoint's model description (``meta["classifier"]`` or
``meta["tagger"]``: classes, vocab_size, num_features and recipe extras). Readers raise
``DataError`` naming the file and record for bad input.
"""

from rnnkit.data.dna_datasets import SPLICE_WINDOW
from rnnkit.tasks import genes, genome_io, promoters, splice
from rnnkit.tasks.runner import Recipe

PROMOTER_WINDOW = 57

RECIPES: dict = {
    "splice": Recipe.from_module("splice", splice, "StatLog splice junctions (60 nt, 3 "
                                 "classes), bidirectional LSTM; test accuracy on the StatLog "
                                 "split"),
    "promoters": Recipe("promoters", "E. coli promoters (106 x 57 nt): leave-one-out errors "
                        "(epochs chosen by inner CV), then a final model",
                        promoters.DEFAULTS, promoters.SMOKE, promoters.run),
    "genes": Recipe.from_module("genes", genes, "per-base gene vs non-gene tagging of a "
                                "bacterial genome (default: pyrodigal's MIIJ01000039)"),
}

READERS: dict = {
    "splice": {
        "predict": genome_io.window_scanner(SPLICE_WINDOW, anchor=splice.JUNCTION_STEPS[0]),
        "columns": ("record", "start", "end", "junction_after"),
        "background": "n",
        "labelled": genome_io.labelled_dna(SPLICE_WINDOW),
        "formats": f"FASTA (plain/gz) to scan with {SPLICE_WINDOW}-nt windows; labelled: "
                   f"FASTA '>ID CLASS' or TSV with class/sequence columns, {SPLICE_WINDOW} nt",
    },
    "promoters": {
        "predict": genome_io.window_scanner(PROMOTER_WINDOW),
        "columns": ("record", "start", "end"),
        "background": "-",
        "labelled": genome_io.labelled_dna(PROMOTER_WINDOW),
        "formats": f"FASTA (plain/gz) to scan with {PROMOTER_WINDOW}-nt windows; labelled: "
                   f"FASTA '>ID +|-' or TSV with class/sequence columns, {PROMOTER_WINDOW} nt",
    },
    "genes": {
        "predict": genome_io.genome_chunks,
        "background": "non-gene",
        "labelled": genes.read_labelled,
        "formats": "genome FASTA (plain/gz) with its GFF3 or Prodigal gene FASTA beside it",
    },
}
