"""Text to speech: Tacotron 2 (Shen et al. 2018), made small enough to train on a CPU.

    text (B, S) --Embedding--> (B, S, E) --3 x [Conv1d k5, BatchNorm, ReLU, dropout]-->
        --bidirectional RNN, lengths=--> memory (B, S, Dm)        Dm = 2 * (hidden_size // 2)
        (several speakers: memory + speaker embedding (B, 1, Dm), so every context holds it)
    decoder step n (one step = r mel frames; the go frame y_{-1} = 0):
        p_n      = prenet(y_{nr-1})   2 x [Linear, ReLU, dropout 0.5, ALWAYS on]   (B, P)
        h_n      = attention RNN([p_n; c_{n-1}])                                   (B, H)
        c_n, a_n = location-sensitive attention(h_n, memory, [a_{n-1}; sum a_<n])   (B, Dm), (B, S)
        d_n      = decoder RNN([h_n; c_n])      (num_layers stacked)               (B, H)
        frames   = Linear([d_n; c_n]) -> y_{nr} .. y_{nr+r-1}                      (B, r, M)
        stop_n   = Linear([d_n; c_n]) -> logit of "this step holds the last frame" (B,)
    post-net: y + 5 x [Conv1d k5, BatchNorm, tanh (not the last), dropout](y)       (B, N r, M)

Choices, with reasons:
- Batch norm as Tacotron 2 has it, with statistics over the real positions only
  (``MaskedBatchNorm1d``), so padding a batch changes nothing for its real items.
- The pre-net's dropout stays on at inference (Tacotron 2 sec. 2.2: it gives the output
  variation; a noisy view of the last frame also keeps the decoder from leaning on it
  instead of on the attention, which would stall alignment). ``generate`` takes a
  ``torch.Generator`` for it (None: torch's global RNG, so ``torch.manual_seed`` fixes it).
- Several speakers (``num_speakers``): a learned vector per speaker added to every memory
  position. The attention weights sum to 1, so each context c_n carries the speaker's
  vector whole into the decoder and the frame projection, at the cost of one table
  (Jia et al. 2018 and multi-speaker Tacotrons concatenate it to the encoder outputs
  instead; adding keeps every other size as the one-speaker model has it).
- Reduction factor r (Tacotron, Wang et al. 2017 sec. 3.3): r frames per step make the
  decoder r times shorter, which speeds training and lets alignment form on little data.
- L1 on the mels (Tacotron 1's loss; the issue's "mel L1" measure) before and after the
  post-net, BCE on the stop token with a positive weight (one stop step per utterance),
  and the guided-attention loss (Tachibana et al. 2017) that pulls the attention towards
  the diagonal: small-data Tacotrons often never align without it.

Every recurrent layer comes from ``make_recurrent`` (rnnkit's layers, any cell of
ModelConfig); decoding steps them one time step at a time. Mel targets should be normalised
(e.g. per band to mean 0, standard deviation 1) so the L1 terms are of order 1.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models.attention import LocationSensitiveAttention
from rnnkit.models.language import make_recurrent
from rnnkit.models.sequence import length_mask

PAD = 0              # text id 0 pads; the front end starts its symbols at 1
ENCODER_CONVS = 3    # Tacotron 2 sec. 2.2: 3 convolutions of width 5 before the BiLSTM
POSTNET_CONVS = 5    # Tacotron 2 sec. 2.2: 5 convolutions of width 5
CONV_KERNEL = 5
END_MARGIN = 3       # attention "at the end": on one of the last 3 characters


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d over (B, C, T) whose batch statistics count only the real positions
    (mask (B, T) True), and whose output is 0 elsewhere. Running statistics as torch's
    (momentum 0.1, unbiased variance), used in eval mode."""

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        m = mask.unsqueeze(1).to(x.dtype)                           # (B, 1, T)
        if self.training:
            n = m.sum()
            mean = (x * m).sum((0, 2)) / n                          # (C,)
            var = ((x - mean[:, None]) ** 2 * m).sum((0, 2)) / n    # (C,) biased, as torch
            with torch.no_grad():
                self.num_batches_tracked += 1
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var * n / (n - 1).clamp(min=1), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        y = (x - mean[:, None]) * torch.rsqrt(var[:, None] + self.eps)
        return (y * self.weight[:, None] + self.bias[:, None]) * m  # (B, C, T)


class ConvStack(nn.Module):
    """[Conv1d(k, same padding), MaskedBatchNorm1d, activation, dropout] per layer over
    x (B, C_in, T) with mask (B, T); zeros past each length after every layer, so a real
    position never reads padding (the convolution sees the zeros of an unpadded sequence)."""

    def __init__(self, sizes: list[int], activations: list[str], dropout: float,
                 kernel_size: int = CONV_KERNEL):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(i, o, kernel_size, padding=kernel_size // 2)
                                   for i, o in zip(sizes[:-1], sizes[1:], strict=True))
        self.norms = nn.ModuleList(MaskedBatchNorm1d(o) for o in sizes[1:])
        self.activations = activations
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        m = mask.unsqueeze(1).to(x.dtype)                           # (B, 1, T)
        x = x * m
        for conv, norm, act in zip(self.convs, self.norms, self.activations, strict=True):
            x = norm(conv(x), mask)                                 # (B, C, T)
            x = torch.relu(x) if act == "relu" else torch.tanh(x) if act == "tanh" else x
            x = self.drop(x) * m
        return x


class Prenet(nn.Module):
    """2 x [Linear, ReLU, dropout p] on the previous frame (B, M) -> (B, P), dropout in
    train and eval mode alike. Set ``p = 0`` to turn it off (tests do, to compare loops)."""

    def __init__(self, n_mels: int, size: int, p: float = 0.5):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(n_mels, size), nn.Linear(size, size)])
        self.p = p

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        for layer in self.layers:
            x = torch.relu(layer(x))
            if self.p > 0:
                keep = torch.empty_like(x).bernoulli_(1 - self.p, generator=generator)
                x = x * keep / (1 - self.p)
        return x


class TTSState(NamedTuple):
    """What a decoder step reads and carries (batch dim 0; RNN states as the layers give)."""

    memory: Tensor       # (B, S, Dm) encoder outputs
    mask: Tensor         # (B, S) bool, True on real characters
    keys: Tensor         # (B, S, A) attention.precompute(memory)
    att_hidden: object   # the attention RNN's state (None: zeros)
    dec_hidden: object   # the decoder RNN's state (None: zeros)
    context: Tensor      # (B, Dm) c_{n-1}
    weights: Tensor      # (B, S) a_{n-1}
    cumulative: Tensor   # (B, S) sum of a_u, u < n


class TTSOutput(NamedTuple):
    mels: Tensor         # (B, N r, M) the decoder's frames
    mels_post: Tensor    # (B, N r, M) after the post-net's residual (0 past each length)
    stop_logits: Tensor  # (B, N) one per decoder step
    attention: Tensor    # (B, N, S)


class Synthesis(NamedTuple):
    mels: Tensor            # (T, M) post-net frames, T <= max_frames
    attention: Tensor       # (T / r rounded up, S) for this text's S characters
    stop_step: int | None   # the decoder step whose stop token fired; None: ran to max


class TextEncoder(nn.Module):
    """What both text-to-speech models share (``Tacotron``, ``duration_tts.DurationTTS``):
    the text encoder (embedding, ``ENCODER_CONVS`` convolutions, a bidirectional RNN of
    hidden_size // 2 per direction, a learned vector per speaker added to its output) and
    the post-net's residual. Subclasses call ``_build_encoder`` first in ``__init__`` and
    set ``self.postnet`` (``make_postnet``)."""

    def _build_encoder(self, vocab_size: int, embed_size: int, hidden_size: int, cell: str,
                       dropout: float, backend: str, num_speakers: int | None) -> None:
        if hidden_size % 2:
            raise ValueError(f"hidden_size must be even (the encoder has hidden_size // 2 "
                             f"per direction), got {hidden_size}")
        self.hidden_size, self.num_speakers = hidden_size, num_speakers
        self.embed = nn.Embedding(vocab_size, embed_size, padding_idx=PAD)
        self.encoder_convs = ConvStack([embed_size] * (ENCODER_CONVS + 1),
                                       ["relu"] * ENCODER_CONVS, dropout)
        self.encoder_rnn = make_recurrent(cell, embed_size, hidden_size // 2, 1, 0.0, backend,
                                          bidirectional=True, batch_first=True)
        if num_speakers is not None:
            self.speaker_embed = nn.Embedding(num_speakers, hidden_size)

    def encode_text(self, text: Tensor, text_lengths: Tensor,
                    speakers: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(memory (B, S, H) with the speakers' vectors added, mask (B, S) True on real
        characters)."""
        check_text(text, text_lengths)
        check_speakers(self.num_speakers, speakers, text.shape[0])
        mask = length_mask(text_lengths.to(text.device), text.shape[1])      # (B, S)
        x = self.encoder_convs(self.embed(text).transpose(1, 2), mask)       # (B, E, S)
        memory, _ = self.encoder_rnn(x.transpose(1, 2), lengths=text_lengths.cpu())  # (B, S, H)
        if speakers is not None:
            memory = memory + self.speaker_embed(speakers.to(text.device)).unsqueeze(1)
        return memory, mask

    def postnet_mels(self, mels: Tensor, lengths: Tensor) -> Tensor:
        """Decoder frames (B, T, M) -> post-net frames (B, T, M), 0 past each length."""
        mask = length_mask(lengths.to(mels.device), mels.shape[1])          # (B, T)
        residual = self.postnet(mels.transpose(1, 2), mask).transpose(1, 2)
        return (mels + residual) * mask.unsqueeze(-1).to(mels.dtype)


def make_postnet(n_mels: int, channels: int, dropout: float) -> ConvStack:
    """Tacotron 2's post-net: ``POSTNET_CONVS`` convolutions, tanh but on the last."""
    return ConvStack([n_mels] + [channels] * (POSTNET_CONVS - 1) + [n_mels],
                     ["tanh"] * (POSTNET_CONVS - 1) + ["none"], dropout)


def frames_l1(pred: Tensor, mels: Tensor, mel_lengths: Tensor) -> Tensor:
    """L1 of predicted frames (B, >= T, M) against mels (B, T, M), the mean over the real
    frames (t < mel_lengths) and bands."""
    B, T, M = mels.shape
    frame_mask = length_mask(mel_lengths.to(mels.device), T).unsqueeze(-1).to(mels.dtype)
    return ((pred[:, :T] - mels).abs() * frame_mask).sum() / (frame_mask.sum() * M)


class Tacotron(TextEncoder):
    """Characters (or phonemes) -> mel frames; see the module docstring for the equations.

    Args:
        vocab_size: text ids, ``PAD`` (0) included.
        n_mels: M, mel bands per frame.
        reduction: r, mel frames per decoder step.
        embed_size: E, the embedding and encoder-convolution width.
        hidden_size: H, the attention and decoder RNNs; the encoder RNN has H // 2 units
            per direction (the memory is then H wide, as in ``seq2seq.Seq2Seq``).
        cell, num_layers, backend: rnnkit recurrent layers (``make_recurrent``); num_layers
            stacks the decoder RNN (Tacotron 2: 1); the others have one layer.
        dropout: on the encoder and post-net convolutions (Tacotron 2: 0.5) and between
            stacked decoder layers.
        prenet_size, prenet_dropout: P and the always-on dropout (Tacotron 2: 256, 0.5).
        attention_size, location_filters, location_kernel: ``LocationSensitiveAttention``.
        postnet_channels: the post-net's inner width (Tacotron 2: 512).
        num_speakers: several voices, one learned vector each (None: one voice).

    Inputs: text (B, S) int64, text_lengths (B,) in [1, S], mels (B, T, M), mel_lengths (B,),
    and with ``num_speakers`` speakers (B,) int64 in [0, num_speakers).
    Output: ``TTSOutput`` with N = ceil(T / r) steps; ``tts_loss`` scores it.
    """

    def __init__(self, vocab_size: int, n_mels: int = 80, reduction: int = 3, *,
                 embed_size: int = 128, hidden_size: int = 256, cell: str = "lstm",
                 num_layers: int = 1, dropout: float = 0.5, backend: str = "auto",
                 prenet_size: int = 128, prenet_dropout: float = 0.5,
                 attention_size: int = 128, location_filters: int = 32,
                 location_kernel: int = 31, postnet_channels: int = 256,
                 num_speakers: int | None = None):
        super().__init__()
        if reduction < 1:
            raise ValueError(f"reduction must be >= 1, got {reduction}")
        self._build_encoder(vocab_size, embed_size, hidden_size, cell, dropout, backend,
                            num_speakers)
        self.n_mels, self.reduction = n_mels, reduction
        self.prenet = Prenet(n_mels, prenet_size, prenet_dropout)
        self.attention_rnn = make_recurrent(cell, prenet_size + hidden_size, hidden_size, 1,
                                            0.0, backend, batch_first=True)
        self.attention = LocationSensitiveAttention(hidden_size, hidden_size, attention_size,
                                                    location_filters, location_kernel)
        self.decoder_rnn = make_recurrent(cell, 2 * hidden_size, hidden_size, num_layers,
                                          dropout, backend, batch_first=True)
        self.frame_proj = nn.Linear(2 * hidden_size, reduction * n_mels)
        self.stop_proj = nn.Linear(2 * hidden_size, 1)
        self.postnet = make_postnet(n_mels, postnet_channels, dropout)

    def encode(self, text: Tensor, text_lengths: Tensor,
               speakers: Tensor | None = None) -> TTSState:
        """Read the text once: memory, mask, attention keys and the decoder's zero start."""
        memory, mask = self.encode_text(text, text_lengths, speakers)       # (B, S, H)
        B, S = text.shape
        zeros = memory.new_zeros(B, S)
        return TTSState(memory, mask, self.attention.precompute(memory), None, None,
                        memory.new_zeros(B, self.hidden_size), zeros, zeros)

    def _step(self, p: Tensor, state: TTSState) -> tuple[Tensor, Tensor, TTSState, Tensor]:
        """One decoder step from the pre-net output p (B, P)."""
        B = p.shape[0]
        x = torch.cat([p, state.context], -1).unsqueeze(1)                  # (B, 1, P + H)
        h, att_hidden = self.attention_rnn(x, state.att_hidden)             # (B, 1, H)
        h = h[:, 0]
        previous = torch.stack([state.weights, state.cumulative], 1)        # (B, 2, S)
        c, a = self.attention(h, state.memory, state.mask, state.keys, previous)  # (B, H), (B, S)
        d, dec_hidden = self.decoder_rnn(torch.cat([h, c], -1).unsqueeze(1), state.dec_hidden)
        out = torch.cat([d[:, 0], c], -1)                                   # (B, 2H)
        frames = self.frame_proj(out).view(B, self.reduction, self.n_mels)  # (B, r, M)
        stop = self.stop_proj(out).squeeze(-1)                              # (B,)
        state = state._replace(att_hidden=att_hidden, dec_hidden=dec_hidden, context=c,
                               weights=a, cumulative=state.cumulative + a)
        return frames, stop, state, a

    def decode_step(self, prev_frame: Tensor, state: TTSState,
                    generator: torch.Generator | None = None
                    ) -> tuple[Tensor, Tensor, TTSState, Tensor]:
        """prev_frame (B, M) (the go frame: zeros) -> frames (B, r, M), stop logits (B,),
        the new state and this step's attention weights (B, S)."""
        return self._step(self.prenet(prev_frame, generator), state)

    def forward(self, text: Tensor, text_lengths: Tensor, mels: Tensor,
                mel_lengths: Tensor, sampling: float = 0.0,
                generator: torch.Generator | None = None,
                speakers: Tensor | None = None) -> TTSOutput:
        """Teacher forcing: step n reads the target frame nr - 1 (the go frame for n = 0).

        ``sampling``: scheduled sampling (Bengio et al. 2015): each step of each sentence
        reads, with this probability, the model's own previous frame (detached) instead of
        the recorded one, so training sees what free-running synthesis feeds back (drawn
        with ``generator``)."""
        if mels.dim() != 3 or mels.shape[-1] != self.n_mels:
            raise ValueError(f"mels must be (B, T, {self.n_mels}), got {tuple(mels.shape)}")
        if not 0.0 <= sampling <= 1.0:
            raise ValueError(f"sampling must be in [0, 1], got {sampling}")
        r = self.reduction
        N = -(-mels.shape[1] // r)                                          # ceil(T / r)
        state = self.encode(text, text_lengths, speakers)
        # step n's input, frame nr - 1, is a real frame whenever step n is (nr - 1 < T_b)
        inputs = torch.cat([mels.new_zeros(mels.shape[0], 1, self.n_mels),
                            mels[:, r - 1:(N - 1) * r:r]], 1)               # (B, N, M)
        p = own = None
        if sampling == 0:  # (no draw: the same random stream as without the option)
            p = self.prenet(inputs)                                         # (B, N, P)
        else:
            own = (torch.rand(inputs.shape[:2], generator=generator) < sampling
                   ).to(inputs.device)                                      # (B, N)
        frames, stops, attns = [], [], []
        for n in range(N):
            if p is not None:
                pn = p[:, n]
            else:  # the previous step's last frame where drawn, else the recorded one
                x = inputs[:, n]
                if n > 0:
                    x = torch.where(own[:, n, None], frames[-1][:, -1].detach(), x)
                pn = self.prenet(x)
            f, s, state, a = self._step(pn, state)
            frames.append(f)
            stops.append(s)
            attns.append(a)
        dec = torch.cat(frames, 1)                                          # (B, N r, M)
        return TTSOutput(dec, self.postnet_mels(dec, mel_lengths), torch.stack(stops, 1),
                         torch.stack(attns, 1))

    @torch.no_grad()
    def generate(self, text: Tensor, max_frames: int = 1000, stop_threshold: float = 0.5, *,
                 text_lengths: Tensor | None = None, generator: torch.Generator | None = None,
                 require_end: bool = False,
                 speakers: Tensor | None = None) -> Synthesis | list[Synthesis]:
        """Synthesise text (S,) -> one ``Synthesis``, or (B, S) (``text_lengths``, default
        all S) -> one per row. Steps until every row's stop probability exceeds
        ``stop_threshold`` (with ``require_end``, only once its attention's argmax is on one
        of the last ``END_MARGIN`` characters) or ``max_frames`` frames are made. Call
        ``eval()`` first (batch-norm statistics, no convolution dropout); the pre-net
        dropout draws from ``generator`` (None: torch's global RNG). ``speakers``: as
        ``forward``'s, (B,), or a 0-d index with a single text (S,)."""
        single = text.dim() == 1
        text, text_lengths, speakers = as_batch(text, text_lengths, speakers)
        B, S = text.shape
        state = self.encode(text, text_lengths, speakers)
        frame = state.memory.new_zeros(B, self.n_mels)                     # the go frame
        stop_at: list[int | None] = [None] * B
        frames, attns = [], []
        for n in range(-(-max_frames // self.reduction)):
            f, s, state, a = self.decode_step(frame, state, generator)
            frames.append(f)
            attns.append(a)
            fired = torch.sigmoid(s) > stop_threshold                      # (B,)
            if require_end:
                fired &= a.argmax(-1) >= (text_lengths - END_MARGIN).to(a.device)
            for b in fired.nonzero().flatten().tolist():
                stop_at[b] = n if stop_at[b] is None else stop_at[b]
            if all(k is not None for k in stop_at):
                break
            frame = f[:, -1]
        dec = torch.cat(frames, 1)                                          # (B, N r, M)
        steps = [len(frames) if k is None else k + 1 for k in stop_at]
        lengths = torch.tensor([min(k * self.reduction, max_frames) for k in steps])
        post = self.postnet_mels(dec, lengths)
        attn = torch.stack(attns, 1)                                        # (B, N, S)
        out = [Synthesis(post[b, :lengths[b]], attn[b, :steps[b], :text_lengths[b]], stop_at[b])
               for b in range(B)]
        return out[0] if single else out


def check_text(text: Tensor, lengths: Tensor) -> None:
    if text.dim() != 2 or text.dtype != torch.long:
        raise ValueError(f"text must be (B, S) int64, got {tuple(text.shape)} {text.dtype}")
    if lengths.shape != text.shape[:1]:
        raise ValueError(f"text_lengths must be ({text.shape[0]},), got {tuple(lengths.shape)}")
    if len(lengths) and not 1 <= int(lengths.min()) <= int(lengths.max()) <= text.shape[1]:
        raise ValueError(f"text_lengths must be in [1, {text.shape[1]}] (an empty text has "
                         f"nothing to attend to), got {lengths.tolist()}")


def as_batch(text: Tensor, text_lengths: Tensor | None, speakers: Tensor | None
             ) -> tuple[Tensor, Tensor, Tensor | None]:
    """A ``generate`` call's text (S,) or (B, S) as a batch: (text (B, S), text_lengths (B,)
    (default: all S), speakers (B,) (a 0-d index with one text becomes (1,)))."""
    if text.dim() == 1:
        text = text.unsqueeze(0)
        if speakers is not None and speakers.dim() == 0:
            speakers = speakers.unsqueeze(0)
    if text_lengths is None:
        text_lengths = torch.full((text.shape[0],), text.shape[1], dtype=torch.long)
    return text, text_lengths, speakers


def check_speakers(num_speakers: int | None, speakers: Tensor | None, batch: int) -> None:
    """ValueError unless ``speakers`` suits a model of ``num_speakers`` voices (None: one)
    and a batch of ``batch`` texts."""
    if num_speakers is None:
        if speakers is not None:
            raise ValueError("this model has one voice: speakers must be None")
        return
    if speakers is None:
        raise ValueError(f"this model speaks with {num_speakers} voices: pass speakers "
                         "(B,), one index per text")
    if (speakers.shape != (batch,) or speakers.dtype != torch.long
            or not 0 <= int(speakers.min()) <= int(speakers.max()) < num_speakers):
        raise ValueError(f"speakers must be ({batch},) int64 in [0, {num_speakers}), got "
                         f"{tuple(speakers.shape)} {speakers.dtype}")


def guided_attention_loss(attention: Tensor, step_lengths: Tensor, text_lengths: Tensor,
                          g: float = 0.2) -> Tensor:
    """Tachibana et al. 2017: penalise attention far from the diagonal.

        W_{tn} = 1 - exp(-(n / N_b - t / T_b)^2 / (2 g^2))     step t < T_b, character n < N_b
        loss   = (1 / sum_b T_b) sum_b sum_{t < T_b} sum_{n < N_b} a_{tn} W_{tn}

    i.e. the expected penalty of a step's attention, averaged over the real decoder steps
    (in [0, 1); 0 when all weight sits on the diagonal). attention (B, T, S), step_lengths
    T_b and text_lengths N_b (B,)."""
    B, T, S = attention.shape
    dev, dt = attention.device, attention.dtype
    Tb = step_lengths.to(dev, dt)[:, None, None]                       # (B, 1, 1)
    Nb = text_lengths.to(dev, dt)[:, None, None]
    t = torch.arange(T, device=dev, dtype=dt)[None, :, None] / Tb       # (B, T, 1)
    n = torch.arange(S, device=dev, dtype=dt)[None, None, :] / Nb       # (B, 1, S)
    W = 1 - torch.exp(-(n - t) ** 2 / (2 * g * g))                      # (B, T, S)
    mask = (length_mask(step_lengths.to(dev), T)[:, :, None]
            & length_mask(text_lengths.to(dev), S)[:, None, :])         # (B, T, S)
    return (attention * W * mask).sum() / step_lengths.sum().to(dt)


def tts_loss(out: TTSOutput, mels: Tensor, mel_lengths: Tensor, text_lengths: Tensor, *,
             stop_pos_weight: float = 5.0, guided_sigma: float = 0.2,
             guided_weight: float = 1.0) -> dict[str, Tensor]:
    """The parts of the training loss and their sum ``loss``, each a scalar:

    - ``mel``, ``post``: L1 of the decoder's and the post-net's frames against mels
      (B, T, M), mean over the real frames (t < mel_lengths) and bands;
    - ``stop``: BCE of the stop logits, target 1 at step ceil(T_b / r) - 1 (the step that
      holds the last frame), 0 before it, none after; the positive term weighs
      ``stop_pos_weight`` (one stop among ~100 steps per utterance);
    - ``guided``: ``guided_attention_loss`` with g = ``guided_sigma``;
    - ``loss`` = mel + post + stop + guided_weight * guided.
    """
    r = out.mels.shape[1] // out.stop_logits.shape[1]
    steps = (mel_lengths.to(mels.device) + r - 1) // r                 # (B,) N_b
    N = out.stop_logits.shape[1]
    step_mask = length_mask(steps, N)                                   # (B, N)
    target = (torch.arange(N, device=mels.device)[None] == steps[:, None] - 1).to(mels.dtype)
    stop = F.binary_cross_entropy_with_logits(
        out.stop_logits[step_mask], target[step_mask],
        pos_weight=torch.tensor(stop_pos_weight, dtype=mels.dtype, device=mels.device))
    parts = {"mel": frames_l1(out.mels, mels, mel_lengths),
             "post": frames_l1(out.mels_post, mels, mel_lengths), "stop": stop,
             "guided": guided_attention_loss(out.attention, steps, text_lengths, guided_sigma)}
    parts["loss"] = parts["mel"] + parts["post"] + parts["stop"] + guided_weight * parts["guided"]
    return parts


def attention_reaches_end(weights: Tensor, text_length: int, max_back: int = 1,
                          max_skip: int = 3, end_margin: int = END_MARGIN) -> bool:
    """Whether an alignment reads the whole text once, in order.

    With p_t = argmax_n weights[t, n] over the real characters n < text_length and
    m_t = max(p_0 .. p_t) (the furthest character read so far), True when all hold:

    - start: p_0 <= max_skip;
    - no repeat: p_t >= m_{t-1} - max_back for every t (never back more than max_back);
    - no skip: p_t - m_{t-1} <= max_skip for every t (never more than max_skip - 1
      characters passed over in one step);
    - end: the last step's p >= text_length - end_margin (on one of the last end_margin).

    weights (T, S) with S >= text_length (a ``Synthesis.attention``, or a row of
    ``TTSOutput.attention`` cut to its steps)."""
    if weights.dim() != 2 or weights.shape[0] == 0 or weights.shape[1] < text_length:
        raise ValueError(f"weights must be (T, S) with T >= 1 and S >= text_length = "
                         f"{text_length}, got {tuple(weights.shape)}")
    p = weights[:, :text_length].argmax(-1).tolist()
    furthest = p[0]
    if p[0] > max_skip:
        return False
    for pt in p[1:]:
        if pt < furthest - max_back or pt - furthest > max_skip:
            return False
        furthest = max(furthest, pt)
    return p[-1] >= text_length - end_margin
