"""What recipes train, thin over rnnkit's layers: the token language model (``language``),
sequence classifier and tagger (``sequence``), the memory-benchmark net (``memory``), and
sampling from language models (``sampling``)."""
