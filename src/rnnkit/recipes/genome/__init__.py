"""Genomes: ``splice``, ``promoters`` and ``genes``, with the readers that let
``rnnkit predict`` / ``rnnkit eval`` apply their trained models to a user's files.

Readers contract (``Recipe.readers``, also followed by the signal recipes)::

    readers = {
        "predict":  fn(path, spec) -> iterable of (key, x)   # rnnkit predict RECIPE --data
                    # key: a tuple of printable fields naming the item (file, record,
                    # window start...), x: one model input ((T,) int64 or (T, F) float);
                    # for taggers key = (record, 0-based offset of x in the record)
        "columns":  names of the key's fields, for the output header   [default ("id",)]
        "background": a class whose predictions are only printed with --all (e.g. "n":
                    no junction), or None                               [optional]
        "window":   the length of sequence a classifier reads, which its predict reader
                    scans (``rnnkit serve`` classifies sequences of exactly this length)
                                                                        [optional]
        "labelled": fn(path, spec) -> LabelledSequences               # rnnkit eval --data
                    # in the checkpoint's class order (spec["classes"]); taggers return
                    # tagging.TaggedSequences
        "formats":  one line saying which files the readers take       [for --help/errors]
    }

``spec`` is the checkpoint's model description (``meta["classifier"]`` or
``meta["tagger"]``: classes, vocab_size, num_features and recipe extras). Readers raise
``DataError`` naming the file and record for bad input.
"""

from rnnkit.data import dna_readers
from rnnkit.data.dna_datasets import SPLICE_WINDOW
from rnnkit.recipes.base import Recipe
from rnnkit.recipes.genome import genes, promoters, splice
from rnnkit.recipes.registry import register
from rnnkit.recipes.result import Target

PROMOTER_WINDOW = 57

register(
    Recipe("splice", "StatLog splice junctions (60 nt, 3 classes), bidirectional LSTM; test "
           "accuracy on the StatLog split", splice.DEFAULTS, splice.SMOKE, splice.build,
           Target("test_accuracy", ">=", 0.96, "test accuracy >= 96.0% (issue 6; StatLog's "
                  "best 95.9%)", budget="<= 2,000 updates", hours=0.05),
           readers={
               "predict": dna_readers.window_scanner(SPLICE_WINDOW,
                                                     anchor=splice.JUNCTION_STEPS[0]),
               "columns": ("record", "start", "end", "junction_after"),
               "background": "n",
               "window": SPLICE_WINDOW,
               "labelled": dna_readers.labelled_dna(SPLICE_WINDOW),
               "formats": f"FASTA (plain/gz) to scan with {SPLICE_WINDOW}-nt windows; "
                          f"labelled: FASTA '>ID CLASS' or TSV with class/sequence columns, "
                          f"{SPLICE_WINDOW} nt"}),
    Recipe("promoters", "E. coli promoters (106 x 57 nt): leave-one-out errors (epochs "
           "chosen by inner CV), then a final model", promoters.DEFAULTS, promoters.SMOKE,
           promoters.build,
           Target("loo_errors", "<=", 8, "leave-one-out errors <= 8/106 (backprop MLP, "
                  "Towell & Shavlik 1994)", budget="inner CV + 106 folds", hours=0.3),
           resumable=False,
           readers={
               "predict": dna_readers.window_scanner(PROMOTER_WINDOW),
               "columns": ("record", "start", "end"),
               "background": "-",
               "window": PROMOTER_WINDOW,
               "labelled": dna_readers.labelled_dna(PROMOTER_WINDOW),
               "formats": f"FASTA (plain/gz) to scan with {PROMOTER_WINDOW}-nt windows; "
                          f"labelled: FASTA '>ID +|-' or TSV with class/sequence columns, "
                          f"{PROMOTER_WINDOW} nt"}),
    Recipe("genes", "per-base gene vs non-gene tagging of a bacterial genome (default: "
           "pyrodigal's MIIJ01000039)", genes.DEFAULTS, genes.SMOKE, genes.build,
           Target("test_macro_f1", ">", 0.744, "macro-F1 above the GC-content rule's 0.744",
                  budget="1,500 updates", hours=0.1),
           readers={
               "predict": dna_readers.genome_chunks,
               "background": "non-gene",
               "labelled": genes.read_labelled,
               "formats": "genome FASTA (plain/gz) with its GFF3 or Prodigal gene FASTA "
                          "beside it"}),
)
