"""Log-mel filterbank and MFCC features in torch (differentiable, batched, any device).

    X[t, k]  = sum_n w[n] x[t*hop + n] e^{-2 pi i k n / n_fft}     STFT, Hann window w
    P[t, k]  = |X[t, k]|^power                                       power=2: power spectrum
    M[t, m]  = sum_k P[t, k] F[k, m]                                 triangular mel filters F
    logmel   = ln(max(M, floor))
    mfcc[t]  = DCT-II(logmel[t])[:n_mfcc]                            orthonormal DCT

Mel scale (HTK; O'Shaughnessy 1987): mel(f) = 2595 log10(1 + f / 700). Filter m is a
triangle in Hz rising from the (m)-th to the (m+1)-th and falling to the (m+2)-th of
n_mels + 2 points equally spaced in mel between f_min and f_max, with peak 1
(``norm=None``) or unit area (``norm="slaney"``: 2 / bandwidth, so a band's output does not
grow with its width). These are librosa's ``filters.mel(htk=True)`` formulas; the tests
compare against librosa where it is installed.

Defaults are the usual speech front end (Kaldi, HTK): 25 ms windows every 10 ms at
16 kHz (n_fft=400, hop=160), 40 mel bands over 0 Hz - Nyquist, 13 MFCCs. Frames are
centred (signal padded by n_fft // 2 each side, reflected) so frame t describes the
signal around t * hop. Output is time-major, (..., frames, features), what an RNN reads.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def hz_to_mel(f):
    """HTK mel of a frequency in Hz (float or tensor)."""
    if isinstance(f, Tensor):
        return 2595.0 * torch.log10(1.0 + f / 700.0)
    return 2595.0 * math.log10(1.0 + f / 700.0)


def mel_to_hz(m):
    """Inverse of ``hz_to_mel``."""
    if isinstance(m, Tensor):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0,
                   f_max: float | None = None, norm: str | None = None) -> Tensor:
    """Triangular filters F, (n_fft // 2 + 1, n_mels) float64; see the module docstring."""
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2 = {sample_rate / 2}, "
                         f"got f_min={f_min}, f_max={f_max}")
    if norm not in (None, "slaney"):
        raise ValueError(f"norm must be None or 'slaney', got {norm!r}")
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)  # (K,)
    mels = torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2, dtype=torch.float64)
    edges = mel_to_hz(mels)  # (n_mels + 2,) band edges in Hz
    width = edges.diff()  # (n_mels + 1,)
    ramps = edges[:, None] - freqs[None, :]  # (n_mels + 2, K)
    lower = -ramps[:-2] / width[:-1, None]  # rising edge, (n_mels, K)
    upper = ramps[2:] / width[1:, None]  # falling edge
    fb = torch.clamp(torch.minimum(lower, upper), min=0.0)  # (n_mels, K)
    if norm == "slaney":
        fb = fb * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    if (fb.sum(1) == 0).any():
        # Bands narrower than the FFT bin spacing catch no bin: more mels than n_fft supports.
        empty = int((fb.sum(1) == 0).sum())
        raise ValueError(f"{empty} of {n_mels} mel bands contain no FFT bin; lower n_mels "
                         f"or raise n_fft (now {n_fft})")
    return fb.T.contiguous()


def dct_matrix(n_in: int, n_out: int) -> Tensor:
    """Orthonormal DCT-II, (n_in, n_out) float64: y = x @ D equals scipy's dct(x, norm='ortho')
    truncated to n_out coefficients."""
    n = torch.arange(n_in, dtype=torch.float64)
    k = torch.arange(n_out, dtype=torch.float64)
    D = torch.cos(math.pi / n_in * (n[:, None] + 0.5) * k[None, :])  # (n_in, n_out)
    D *= math.sqrt(2.0 / n_in)
    D[:, 0] /= math.sqrt(2.0)
    return D


class Spectrogram(nn.Module):
    """|STFT|^power, (..., N) -> (..., frames, n_fft // 2 + 1)."""

    def __init__(self, n_fft: int = 400, hop_length: int = 160, win_length: int | None = None,
                 power: float = 2.0, center: bool = True, pad_mode: str = "reflect"):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        self.win_length = win_length or n_fft
        if not 0 < self.win_length <= n_fft or hop_length < 1:
            raise ValueError(f"need 0 < win_length <= n_fft and hop_length >= 1, got "
                             f"win_length={self.win_length}, n_fft={n_fft}, hop={hop_length}")
        self.power, self.center, self.pad_mode = power, center, pad_mode
        # Periodic Hann: the window of spectral analysis (its DFT has exact zeros).
        # float64 buffers (here and below) so double-precision use is exact; cast on use.
        window = torch.hann_window(self.win_length, periodic=True, dtype=torch.float64)
        self.register_buffer("window", window, persistent=False)

    def check_length(self, N: int) -> None:
        """ValueError if N samples are too few for one frame (centred: the reflection of
        n_fft // 2 samples needs n_fft // 2 + 1 of them)."""
        need = self.n_fft // 2 + 1 if self.center else self.n_fft
        if N < need:
            raise ValueError(f"signal of {N} samples is too short for n_fft={self.n_fft} "
                             f"(needs at least {need})")

    def forward(self, wave: Tensor) -> Tensor:
        self.check_length(wave.shape[-1])
        return self.power_spectrum(wave, self.center)

    def power_spectrum(self, wave: Tensor, center: bool) -> Tensor:
        """``forward`` without the length check, centred or not: ``LogMelStream`` runs it with
        center=False on signal it has padded itself."""
        N = wave.shape[-1]
        lead = wave.shape[:-1]
        X = torch.stft(wave.reshape(-1, N), self.n_fft, self.hop_length, self.win_length,
                       self.window.to(wave.dtype), center=center, pad_mode=self.pad_mode,
                       return_complex=True)  # (B, K, frames)
        P = X.abs() ** self.power
        return P.transpose(-1, -2).reshape(*lead, P.shape[-1], P.shape[-2])  # (..., T, K)


class LogMel(nn.Module):
    """Log-mel filterbank energies, (..., N) samples -> (..., frames, n_mels).

    Args:
        sample_rate: of the input, Hz.
        n_fft: FFT size (and default window length), samples. 400 = 25 ms at 16 kHz.
        hop_length: samples between frames. 160 = 10 ms at 16 kHz.
        win_length: Hann window length (<= n_fft; zero-padded to n_fft), default n_fft.
        n_mels: number of triangular mel bands.
        f_min, f_max: band range in Hz (f_max default: sample_rate / 2).
        norm: None (triangles peak at 1) or "slaney" (unit-area triangles).
        log_floor: M is clamped to at least this before the log, so silence gives a finite
            value (ln(1e-6) = -13.8) instead of -inf.
    """

    def __init__(self, sample_rate: int = 16000, n_fft: int = 400, hop_length: int = 160,
                 win_length: int | None = None, n_mels: int = 40, f_min: float = 0.0,
                 f_max: float | None = None, norm: str | None = None,
                 log_floor: float = 1e-6, center: bool = True, pad_mode: str = "reflect"):
        super().__init__()
        self.sample_rate, self.n_mels, self.log_floor = sample_rate, n_mels, log_floor
        self.spectrogram = Spectrogram(n_fft, hop_length, win_length, 2.0, center, pad_mode)
        fb = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max, norm)
        self.register_buffer("fb", fb, persistent=False)  # (K, n_mels)

    def mel_energies(self, wave: Tensor) -> Tensor:
        """M before the log, (..., frames, n_mels)."""
        return self.spectrogram(wave) @ self.fb.to(wave.dtype)

    def from_power(self, P: Tensor) -> Tensor:
        """ln(max(P F, floor)) of a power spectrum P (..., frames, K) -> (..., frames, n_mels)."""
        return torch.log(torch.clamp(P @ self.fb.to(P.dtype), min=self.log_floor))

    def forward(self, wave: Tensor) -> Tensor:
        return self.from_power(self.spectrogram(wave))


class LogMelStream:
    """``LogMel`` over audio that arrives in chunks: the frames equal those of the whole file.

    Framing. A centred LogMel pads the N samples x by p = n_fft // 2 on each side and reads
    frame t from the padded signal at [t*hop, t*hop + n_fft), i.e. from samples
    t*hop - p .. t*hop - p + n_fft - 1 (1 + (N + 2p - n_fft) // hop frames). The padding
    (``pad_mode``) is, on the left, for reflect x[p], ..., x[1] (so it is known once p + 1
    samples have arrived), for replicate x[0] repeated, for constant zeros; on the right it
    is the same built from the last samples, which only the end of the file reveals. So:

      * ``push`` returns frame t as soon as n received samples cover it without the right
        padding: t*hop - p + n_fft <= n and n >= p + 1 (the fewest samples LogMel accepts;
        the reflected left padding needs them too). Such a frame reads exactly the values
        the whole-file call reads. Frame t describes the signal around sample t*hop and
        comes n_fft - p samples later (12.5 ms at the 25 ms defaults).
      * ``flush`` appends the right padding and returns the remaining frames, those whose
        windows reach into it (about p / hop of them).

    With center=False there is no padding and ``flush`` returns nothing new (but checks the
    length). ``circular`` padding needs the end of the file for the first frame and is
    refused. Only the samples of frames not yet returned (and the last p + 1, for the right
    padding) are kept: fewer than n_fft after each push, whatever the stream's length.

    Contract: ``torch.cat([s.push(c) for c in chunks] + [s.flush()])`` equals
    ``logmel(torch.cat(chunks))`` up to floating-point rounding, for any chunking (empty
    chunks included). The frames cost one STFT of each frame, as the whole-file call.

    Args:
        logmel: the ``LogMel`` whose frames to produce (its parameters are read at each call).

    Shapes: ``push(samples (n,)) -> (t, n_mels)``, ``flush() -> (t, n_mels)``; the samples'
    dtype and device are the output's, and every chunk must share them.
    """

    _PAD_MODES = ("reflect", "replicate", "constant")

    def __init__(self, logmel: LogMel):
        spec = logmel.spectrogram
        if spec.center and spec.pad_mode not in self._PAD_MODES:
            raise ValueError(f"LogMelStream: pad_mode {spec.pad_mode!r} is not streamable (the "
                             f"first frame would need the end of the signal); use one of "
                             f"{self._PAD_MODES}")
        self.logmel = logmel
        self.n_fft, self.hop = spec.n_fft, spec.hop_length
        self.pad = spec.n_fft // 2 if spec.center else 0
        self.pad_mode = spec.pad_mode
        # Samples before the first frame: reflect needs x[0..p] for the left padding; the
        # other modes wait as well, since LogMel refuses a file shorter than that.
        self._left_needs = self.pad + 1 if self.pad else 0
        self._buf: Tensor | None = None  # raw samples, then (once started) padded signal
        self._start = 0  # padded-signal index of _buf[0] once started
        self._started = False  # the left padding is in _buf
        self._frame = 0  # the next frame to return
        self._received = 0  # samples pushed so far
        self._finished = False

    @property
    def buffered(self) -> int:
        """Samples (padding included) held now."""
        return 0 if self._buf is None else self._buf.shape[0]

    def push(self, samples: Tensor) -> Tensor:
        """Append samples (n,); return the frames that are now final, (t, n_mels)."""
        if self._finished:
            raise ValueError("LogMelStream: push after flush; start a new stream")
        if samples.dim() != 1 or not samples.is_floating_point():
            raise ValueError(f"LogMelStream: samples must be a 1-D float tensor, got "
                             f"{samples.dim()}-D {samples.dtype}")
        if samples.shape[0] == 0:  # nothing new; any dtype will do
            return (samples if self._buf is None else self._buf).new_zeros((0, self.logmel.n_mels))
        if self._buf is None:
            self._buf = samples
        else:
            if (samples.dtype, samples.device) != (self._buf.dtype, self._buf.device):
                raise ValueError(f"LogMelStream: chunk is {samples.dtype} on {samples.device}, "
                                 f"earlier ones {self._buf.dtype} on {self._buf.device}")
            self._buf = torch.cat([self._buf, samples])
        self._received += samples.shape[0]
        if not self._started:
            if self._received < self._left_needs:
                return self._no_frames()
            self._buf = torch.cat([self._edge(self._buf, left=True), self._buf])
            self._started = True
        return self._emit()

    def flush(self) -> Tensor:
        """The end of the file: append the right padding, return the remaining frames
        (t, n_mels) and finish the stream. ValueError, as ``LogMel``, if the file has fewer
        samples than one frame needs."""
        if self._finished:
            raise ValueError("LogMelStream: flush called twice; start a new stream")
        self._finished = True
        self.logmel.spectrogram.check_length(self._received)
        assert self._started and self._buf is not None  # check_length needs _left_needs
        self._buf = torch.cat([self._buf, self._edge(self._buf, left=False)])
        frames = self._emit()
        self._buf = None
        return frames

    def _edge(self, x: Tensor, left: bool) -> Tensor:
        """The p padding samples before x (left: x starts the signal) or after it (x ends
        the signal and holds at least its last p + 1 samples), as torch.stft pads."""
        p = self.pad
        if p == 0:
            return x[:0]
        if self.pad_mode == "constant":
            return x.new_zeros(p)
        if self.pad_mode == "replicate":
            return (x[:1] if left else x[-1:]).expand(p)
        return x[1:p + 1].flip(0) if left else x[-p - 1:-1].flip(0)  # reflect

    def _emit(self) -> Tensor:
        """Frames covered by the padded signal held, then drop the samples no longer needed."""
        n_fft, hop = self.n_fft, self.hop
        end = self._start + self._buf.shape[0]  # padded-signal samples known so far
        last = (end - n_fft) // hop if end >= n_fft else -1  # the last frame covered
        m = max(0, last - self._frame + 1)
        frames = self._no_frames()
        if m:
            a = self._frame * hop - self._start
            seg = self._buf[a:a + (m - 1) * hop + n_fft]  # (m-1)*hop + n_fft samples
            P = self.logmel.spectrogram.power_spectrum(seg, center=False)  # (m, K)
            frames = self.logmel.from_power(P)  # (m, n_mels)
            self._frame += m
        # Keep the next frame's samples and, for the right padding, the last p + 1 (never
        # past `end`: with hop > n_fft the next frame may start beyond the samples held).
        tail = self.pad + 1 if self.pad else 0
        keep = max(min(self._frame * hop, end - tail), self._start)
        if keep > self._start:
            self._buf = self._buf[keep - self._start:].clone()  # clone: free the old chunk
            self._start = keep
        return frames

    def _no_frames(self) -> Tensor:
        return self._buf.new_zeros((0, self.logmel.n_mels))  # (0, n_mels)


class MFCC(nn.Module):
    """Mel-frequency cepstral coefficients, (..., N) -> (..., frames, n_mfcc).

    The orthonormal DCT-II of the log-mel energies (natural log), first n_mfcc kept:
    decorrelates the bands and keeps the smooth spectral envelope (Davis & Mermelstein
    1980). Keyword arguments other than n_mfcc go to ``LogMel``.
    """

    def __init__(self, sample_rate: int = 16000, n_mfcc: int = 13, **logmel_kwargs):
        super().__init__()
        self.logmel = LogMel(sample_rate, **logmel_kwargs)
        if not 0 < n_mfcc <= self.logmel.n_mels:
            raise ValueError(f"n_mfcc must be in 1..n_mels={self.logmel.n_mels}, got {n_mfcc}")
        self.register_buffer("dct", dct_matrix(self.logmel.n_mels, n_mfcc),
                             persistent=False)  # (n_mels, n_mfcc)

    def forward(self, wave: Tensor) -> Tensor:
        return self.logmel(wave) @ self.dct.to(wave.dtype)


def normalise_per_sequence(x: Tensor, eps: float = 1e-5) -> Tensor:
    """Cepstral mean and variance normalisation over time, (T, F) -> (T, F): removes the
    channel (microphone, room) that multiplies the spectrum, i.e. adds to the log-mel."""
    return (x - x.mean(0)) / (x.std(0, unbiased=False) + eps)
