"""What recipes train, thin over rnnkit's layers: the token language model (``language``),
sequence classifier and tagger (``sequence``), the memory-benchmark net (``memory``), and
sampling from language models (``sampling``); encoder-decoders (``seq2seq``, ``transformer``)
with ``attention`` over any memory and greedy/beam ``decoding`` over any model with their step
interface; the CTC acoustic model, loss and decoders (``ctc``); ``translation`` builds the
translation models from a config; text to speech (``tts``, a small Tacotron 2 with
location-sensitive attention)."""
