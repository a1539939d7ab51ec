"""Text to speech with no attention at synthesis: each character's encoder state is held
for as many frames as the character lasts (FastSpeech's length regulator, Ren et al. 2019,
here with recurrent layers), the durations taken from an aligner: a CTC recogniser's
forced alignment (``durations_from_starts``) or a Tacotron's attention.

    text (B, S) --Embedding--> --3 x [Conv1d k5, BatchNorm, ReLU, dropout]-->
        --bidirectional RNN, lengths=--> h (B, S, H)          (+ speaker vector, as Tacotron)
    durations: 2 x [Conv1d k3, BatchNorm, ReLU, dropout](h) --Linear--> log(1 + d) (B, S)
    length regulator: h_s repeated d_s times, with each frame's place in its character,
        (t - start_s) / d_s in [0, 1)                                    (B, T, H + 1)
    decoder: bidirectional RNN (num_layers) --Linear--> frames (B, T, M)
    post-net: y + 5 x [Conv1d k5, BatchNorm, tanh (not the last), dropout](y)

Why: free-running Tacotron feeds its own frames back, and a small model trained on an hour
of speech drifts on them (docs/RESULTS.md: the judge reads its frames under teacher forcing
far better than free-running ones). Here no output is fed back; the alignment is a
character's duration, read from the training clips by the aligner and predicted at
synthesis. Training uses the recorded durations (they sum to the clip's frames), synthesis
the predicted ones, rounded. The encoder and the post-net are Tacotron's (``TextEncoder``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from rnnkit.models.language import make_recurrent
from rnnkit.models.sequence import length_mask
from rnnkit.models.tts import (
    ConvStack,
    Synthesis,
    TextEncoder,
    as_batch,
    frames_l1,
    make_postnet,
)

DURATION_CONVS, DURATION_KERNEL = 2, 3  # FastSpeech's duration predictor: 2 convs, width 3
MIN_FRAMES = 3  # at least this long, as one Tacotron step: 2 hops of audio hold a 25 ms window


class DurationOutput(NamedTuple):
    mels: Tensor           # (B, T, M) the decoder's frames
    mels_post: Tensor      # (B, T, M) after the post-net's residual (0 past each length)
    log_durations: Tensor  # (B, S) predicted log(1 + frames) per character


class DurationTTS(TextEncoder):
    """Characters -> mel frames through durations; see the module docstring.

    Args:
        vocab_size, n_mels, embed_size, hidden_size, cell, num_layers, dropout, backend,
            postnet_channels, num_speakers: as ``Tacotron``'s (num_layers stacks the
            frame decoder).

    Inputs: text (B, S) int64, text_lengths (B,), durations (B, S) int64 (0 on padding;
    each row sums to its clip's frames), speakers (B,) with ``num_speakers``.
    Output: ``DurationOutput`` with T = the longest row's total duration.
    """

    def __init__(self, vocab_size: int, n_mels: int = 80, *, embed_size: int = 128,
                 hidden_size: int = 256, cell: str = "lstm", num_layers: int = 1,
                 dropout: float = 0.5, backend: str = "auto", postnet_channels: int = 256,
                 num_speakers: int | None = None):
        super().__init__()
        self._build_encoder(vocab_size, embed_size, hidden_size, cell, dropout, backend,
                            num_speakers)
        self.n_mels = n_mels
        self.duration_convs = ConvStack([hidden_size] * (DURATION_CONVS + 1),
                                        ["relu"] * DURATION_CONVS, dropout, DURATION_KERNEL)
        self.duration_proj = nn.Linear(hidden_size, 1)
        self.decoder_rnn = make_recurrent(cell, hidden_size + 1, hidden_size // 2, num_layers,
                                          dropout, backend, bidirectional=True,
                                          batch_first=True)
        self.frame_proj = nn.Linear(hidden_size, n_mels)
        self.postnet = make_postnet(n_mels, postnet_channels, dropout)

    def encode(self, text: Tensor, text_lengths: Tensor,
               speakers: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """(h (B, S, H), mask (B, S), predicted log(1 + d) (B, S), 0 on padding)."""
        h, mask = self.encode_text(text, text_lengths, speakers)             # (B, S, H)
        d = self.duration_convs(h.transpose(1, 2), mask).transpose(1, 2)     # (B, S, H)
        log_d = self.duration_proj(d).squeeze(-1) * mask                     # (B, S)
        return h, mask, log_d

    def frames(self, h: Tensor, durations: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Length-regulate and decode: (decoder frames (B, T, M), post-net frames, frame
        lengths (B,)) for durations (B, S) >= 0."""
        lengths = durations.sum(1)                                          # (B,)
        T = max(int(lengths.max()), 1)
        rows = []
        for b in range(h.shape[0]):
            d = durations[b]
            held = h[b].repeat_interleave(d, 0)                             # (T_b, H)
            start = (torch.cumsum(d, 0) - d).repeat_interleave(d, 0)        # (T_b,)
            place = ((torch.arange(len(held), device=h.device) - start)
                     / d.repeat_interleave(d, 0).clamp(min=1)).to(h.dtype)
            row = torch.cat([held, place[:, None]], 1)                      # (T_b, H + 1)
            rows.append(nn.functional.pad(row, (0, 0, 0, T - len(row))))
        x = torch.stack(rows)                                               # (B, T, H + 1)
        y, _ = self.decoder_rnn(x, lengths=lengths.clamp(min=1).cpu())      # (B, T, H)
        mask = length_mask(lengths.to(h.device), T)                         # (B, T)
        dec = self.frame_proj(y) * mask.unsqueeze(-1).to(y.dtype)           # (B, T, M)
        return dec, self.postnet_mels(dec, lengths), lengths

    def forward(self, text: Tensor, text_lengths: Tensor, durations: Tensor,
                speakers: Tensor | None = None) -> DurationOutput:
        """Training: the recorded durations (B, S) place the frames."""
        if durations.shape != text.shape or durations.dtype != torch.long:
            raise ValueError(f"durations must be {tuple(text.shape)} int64 (the text's "
                             f"shape), got {tuple(durations.shape)} {durations.dtype}")
        h, mask, log_d = self.encode(text, text_lengths, speakers)
        dec, post, _ = self.frames(h, durations * mask)
        return DurationOutput(dec, post, log_d)

    @torch.no_grad()
    def generate(self, text: Tensor, max_frames: int = 1000, stop_threshold: float = 0.5, *,
                 text_lengths: Tensor | None = None, generator: torch.Generator | None = None,
                 require_end: bool = False,
                 speakers: Tensor | None = None) -> Synthesis | list[Synthesis]:
        """Synthesise as ``Tacotron.generate`` does (the same arguments; ``stop_threshold``,
        ``generator`` and ``require_end`` have nothing to act on: no frame is drawn, and the
        text ends where its durations do). Each ``Synthesis.attention`` is the frames'
        one-hot alignment (T, S); ``stop_step`` is None where the durations ran past
        ``max_frames`` and were cut. A text gets at least ``MIN_FRAMES`` frames."""
        single = text.dim() == 1
        text, text_lengths, speakers = as_batch(text, text_lengths, speakers)
        B, S = text.shape
        h, mask, log_d = self.encode(text, text_lengths, speakers)
        durations = (torch.expm1(log_d).round().clamp(min=0).long() * mask)  # (B, S)
        short = (MIN_FRAMES - durations.sum(1)).clamp(min=0)                 # (B,)
        durations[:, 0] += short               # an untrained model may predict nothing
        cut = durations.sum(1) > max_frames
        for b in cut.nonzero().flatten().tolist():  # keep the first max_frames frames
            ends = torch.cumsum(durations[b], 0)
            durations[b] = (durations[b] - (ends - max_frames).clamp(min=0)).clamp(min=0)
        _, post, lengths = self.frames(h, durations)
        out = []
        for b in range(B):
            n, d = int(lengths[b]), durations[b, :text_lengths[b]]
            align = torch.zeros(n, len(d), device=post.device)
            align[torch.arange(n), torch.arange(len(d), device=d.device).repeat_interleave(d)] = 1
            out.append(Synthesis(post[b, :n], align, None if cut[b] else n))
        return out[0] if single else out


def durations_from_attention(attention: Tensor, n_frames: int, reduction: int) -> Tensor:
    """A character's frames from a Tacotron's alignment: attention (N, S) over its N
    decoder steps (r = ``reduction`` frames each) -> durations (S,) int64 summing to
    ``n_frames``. Each step's frames go to its most attended character, made monotone
    (a step never goes back before the furthest character read so far); characters no
    step settled on get 0 frames."""
    if attention.dim() != 2 or attention.shape[0] * reduction < n_frames:
        raise ValueError(f"attention must be (N, S) with N * {reduction} >= {n_frames} "
                         f"frames, got {tuple(attention.shape)}")
    p = torch.cummax(attention.argmax(-1), 0).values                      # (N,)
    per_frame = p.repeat_interleave(reduction)[:n_frames]                  # (n_frames,)
    return torch.bincount(per_frame, minlength=attention.shape[1])


def durations_from_starts(starts: list[int | None], n_frames: int) -> Tensor:
    """Durations (S,) int64 summing to ``n_frames`` from the frame where each character
    starts (a CTC forced alignment's; None: a character the aligner has no label for, such
    as punctuation, which gets 0 frames). A character lasts until the next one starts; the
    first also takes the frames before it, the last those after it."""
    known = [(k, f) for k, f in enumerate(starts) if f is not None]
    if not known:
        raise ValueError("no character has a start frame")
    frames = [min(max(f, 0), n_frames) for _, f in known]
    if any(b < a for a, b in zip(frames, frames[1:], strict=False)):
        raise ValueError(f"start frames must not decrease, got {frames}")
    edges = [0] + frames[1:] + [n_frames]
    out = torch.zeros(len(starts), dtype=torch.long)
    for (k, _), a, b in zip(known, edges, edges[1:], strict=False):
        out[k] = b - a
    return out


def duration_loss(out: DurationOutput, mels: Tensor, mel_lengths: Tensor,
                  durations: Tensor, text_lengths: Tensor) -> dict[str, Tensor]:
    """The parts of the training loss and their sum ``loss``, each a scalar: ``mel`` and
    ``post``, L1 of the decoder's and the post-net's frames against mels (B, T, M) over the
    real frames and bands (as ``tts_loss``); ``duration``, the squared error of the
    predicted log(1 + d) over the real characters."""
    char_mask = length_mask(text_lengths.to(mels.device), durations.shape[1]).to(mels.dtype)
    target = torch.log1p(durations.to(mels.dtype))
    duration = (((out.log_durations - target) ** 2) * char_mask).sum() / char_mask.sum()
    parts = {"mel": frames_l1(out.mels, mels, mel_lengths),
             "post": frames_l1(out.mels_post, mels, mel_lengths), "duration": duration}
    parts["loss"] = parts["mel"] + parts["post"] + parts["duration"]
    return parts
