"""The Transformer baseline is sized to the recurrent model's parameter count."""

import pytest

from rnnkit.models.language import count_parameters
from rnnkit.models.translation import model_from_spec, translation_spec
from rnnkit.train.config import ModelConfig


@pytest.mark.parametrize("hidden,embed,vocab", [(256, 128, 1000), (64, 32, 300), (32, 16, 200)])
def test_transformer_width_matches_the_rnn_parameter_count(hidden, embed, vocab):
    m = ModelConfig(hidden_size=hidden, embed_size=embed, bidirectional=True)
    rnn = count_parameters(model_from_spec(m, translation_spec(m, vocab, vocab)))
    m.arch = "transformer"
    spec = translation_spec(m, vocab, vocab)
    assert spec["transformer_width"] % 4 == 0
    transformer = count_parameters(model_from_spec(m, spec))
    assert abs(transformer - rnn) / rnn < 0.15, (transformer, rnn)
