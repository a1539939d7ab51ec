"""Audio reading (formats, downmix, resampling, bad files), the folder-per-class loader,
and the torch log-mel / MFCC features against librosa and against analytic facts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnkit.data import audio, features
from rnnkit.errors import DataError

sf = pytest.importorskip("soundfile")


def tone(freq: float, sr: int, seconds: float = 0.5, channels: int = 1) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    x = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return x if channels == 1 else np.stack([x, 0.5 * x], axis=1)  # (N, C)


@pytest.mark.parametrize("ext, kwargs", [
    (".wav", {}), (".flac", {}), (".ogg", {}),
    (".opus", {"format": "OGG", "subtype": "OPUS"}),
])
def test_formats_downmix_and_resample(tmp_path, ext, kwargs):
    # Opus only runs at 8/12/16/24/48 kHz; 48 kHz stereo -> 16 kHz mono for all.
    path = tmp_path / f"clip{ext}"
    sf.write(path, tone(440, 48000, channels=2), 48000, **kwargs)
    wave, sr = audio.read_audio(path)
    assert sr == 48000 and wave.shape[0] == 2 and wave.dtype == torch.float32
    x = audio.load_audio(path, sample_rate=16000)
    assert x.dim() == 1 and abs(len(x) - 8000) <= 2  # opus adds no length change here
    # Mean of channels 1 and 0.5 -> amplitude 0.75 * 0.5; lossy codecs allow some slack.
    rms = x[1000:-1000].pow(2).mean().sqrt().item()
    assert rms == pytest.approx(0.375 / math.sqrt(2), rel=0.05)


def test_resample_keeps_frequency():
    x = torch.from_numpy(tone(1000, 44100, seconds=1.0))
    y = audio.resample(x, 44100, 16000)
    assert len(y) == 16000
    spec = torch.fft.rfft(y).abs()
    assert int(spec.argmax()) == 1000  # 1 Hz per bin for a 1 s signal
    assert audio.resample(x, 16000, 16000) is x
    with pytest.raises(ValueError, match="positive"):
        audio.resample(x, 0, 16000)


def test_bad_audio_files_name_the_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        audio.read_audio(tmp_path / "missing.wav")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.wav: empty file, expected an audio file"):
        audio.read_audio(empty)
    junk = tmp_path / "junk.ogg"
    junk.write_bytes(b"OggS" + bytes(range(256)) * 4)
    with pytest.raises(DataError, match=r"junk\.ogg: cannot decode audio"):
        audio.read_audio(junk)
    good = tmp_path / "good.wav"
    sf.write(good, tone(440, 8000), 8000)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(DataError, match=r"cut\.wav: truncated WAV"):
        audio.read_audio(cut)
    silent = tmp_path / "nosamples.wav"
    sf.write(silent, np.zeros(0, np.float32), 8000)
    with pytest.raises(DataError, match="no samples"):
        audio.read_audio(silent)


def test_folder_per_class(tmp_path):
    for label, freq in (("high", 2000), ("low", 300)):
        (tmp_path / label / "take2").mkdir(parents=True)
        sf.write(tmp_path / label / "a.wav", tone(freq, 8000), 8000)
        sf.write(tmp_path / label / "take2" / "b.ogg", tone(freq, 22050), 22050)
    (tmp_path / "low" / "notes.txt").write_text("ignored: not audio")
    ds = audio.load_audio_folder(tmp_path, sample_rate=8000,
                                 transform=features.LogMel(8000, n_fft=256, hop_length=80,
                                                           n_mels=20))
    assert ds.classes == ["high", "low"] and ds.labels.tolist() == [0, 0, 1, 1]
    assert ds.ids[1] == "high/take2/b.ogg"
    assert ds.inputs[0].shape == (51, 20)  # 4000 samples / hop 80 + 1 centred frames
    # The high tone's energy sits in a higher mel band than the low tone's.
    assert ds.inputs[0].mean(0).argmax() > ds.inputs[2].mean(0).argmax()
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(DataError, match="class folder 'empty_class' has no"):
        audio.load_audio_folder(tmp_path)
    with pytest.raises(DataError, match="no class folders"):
        audio.load_audio_folder(tmp_path / "empty_class")
    with pytest.raises(DataError, match="no such folder"):
        audio.load_audio_folder(tmp_path / "nope")


# ---- features -------------------------------------------------------------------------------


def test_pure_tone_lands_in_its_mel_band():
    sr, f0 = 16000, 1234.0
    x = torch.from_numpy(tone(f0, sr, seconds=0.3))
    lm = features.LogMel(sr, n_mels=40)
    band = int(lm(x)[5:-5].mean(0).argmax())
    edges = features.mel_to_hz(torch.linspace(0, features.hz_to_mel(sr / 2), 42))
    assert edges[band] < f0 < edges[band + 2]  # the band's triangle covers f0
    centre = edges[band + 1]
    assert abs(centre - f0) < (edges[band + 2] - edges[band]) / 2


def test_parseval_on_the_power_spectrum():
    # sum_n |w x|^2 = (1/N) sum_k |X_k|^2 over the full spectrum; rfft bins 1..N/2-1
    # stand for two bins each.
    n_fft = 512
    x = torch.randn(4 * n_fft, dtype=torch.float64)
    spec = features.Spectrogram(n_fft=n_fft, hop_length=n_fft, center=False)
    P = spec(x)  # (frames, K)
    w = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    frames = x.unfold(0, n_fft, n_fft)  # (frames, n_fft)
    time_energy = ((frames * w) ** 2).sum(1)
    freq_energy = (P[:, 0] + P[:, -1] + 2 * P[:, 1:-1].sum(1)) / n_fft
    assert torch.allclose(time_energy, freq_energy, rtol=1e-10)


def test_dct_is_orthonormal_and_filterbank_covers_the_band():
    D = features.dct_matrix(40, 40)
    assert torch.allclose(D.T @ D, torch.eye(40, dtype=torch.float64), atol=1e-12)
    fb = features.mel_filterbank(16000, 512, 40)  # (257, 40)
    assert fb.shape == (257, 40) and fb.max() <= 1.0
    # Between the first and last band centres, neighbouring triangles sum to one.
    edges = features.mel_to_hz(torch.linspace(0, features.hz_to_mel(8000), 42))
    freqs = torch.linspace(0, 8000, 257)
    inside = (freqs > edges[1]) & (freqs < edges[-2])
    assert torch.allclose(fb[inside].sum(1), torch.ones(int(inside.sum()), dtype=torch.float64))


def test_feature_argument_errors():
    with pytest.raises(ValueError, match="f_min < f_max"):
        features.LogMel(16000, f_max=9000)
    with pytest.raises(ValueError, match="contain no FFT bin"):
        features.LogMel(16000, n_fft=64, n_mels=80)
    with pytest.raises(ValueError, match="too short"):
        features.LogMel(16000)(torch.zeros(100))
    with pytest.raises(ValueError, match="n_mfcc"):
        features.MFCC(16000, n_mfcc=41)


def test_batched_and_silence_are_finite():
    lm = features.MFCC(8000, n_fft=256, hop_length=80, n_mels=24)
    x = torch.zeros(2, 3, 800)
    y = lm(x)
    assert y.shape == (2, 3, 11, 13) and torch.isfinite(y).all()
    z = features.normalise_per_sequence(torch.randn(50, 13) * 3 + 7)
    assert torch.allclose(z.mean(0), torch.zeros(13), atol=1e-5)


def test_matches_librosa_on_a_chirp():
    librosa = pytest.importorskip("librosa")
    sr, n_fft, hop = 16000, 512, 160
    t = np.arange(sr) / sr
    x = (0.3 * np.sin(2 * np.pi * (200 * t + 1500 * t**2)) + 0.01 * np.cos(2 * np.pi * 60 * t))
    for norm in (None, "slaney"):
        ref_fb = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=40, fmin=50, fmax=7000,
                                     htk=True, norm=norm)  # (n_mels, K)
        fb = features.mel_filterbank(sr, n_fft, 40, 50, 7000, norm=norm)
        np.testing.assert_allclose(fb.T.numpy(), ref_fb, rtol=1e-5, atol=1e-8)
    ref_mel = librosa.feature.melspectrogram(
        y=x, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=40, fmin=50, fmax=7000, htk=True,
        norm=None, center=True, pad_mode="reflect", power=2.0, dtype=np.float64)  # (40, T)
    lm = features.LogMel(sr, n_fft=n_fft, hop_length=hop, n_mels=40, f_min=50, f_max=7000)
    ours = lm.double().mel_energies(torch.from_numpy(x))  # (T, 40)
    np.testing.assert_allclose(ours.T.numpy(), ref_mel, rtol=1e-6, atol=1e-9)
    ref_mfcc = librosa.feature.mfcc(S=np.log(np.maximum(ref_mel, 1e-6)), n_mfcc=13)
    mf = features.MFCC(sr, n_mfcc=13, n_fft=n_fft, hop_length=hop, n_mels=40, f_min=50,
                       f_max=7000).double()
    np.testing.assert_allclose(mf(torch.from_numpy(x)).T.numpy(), ref_mfcc, rtol=1e-6,
                               atol=1e-6)


def test_sound_lists_klettres_and_ktuberling_style(tmp_path):
    (tmp_path / "en" / "alpha").mkdir(parents=True)
    sf.write(tmp_path / "en" / "alpha" / "A.ogg", tone(500, 8000), 8000)
    sf.write(tmp_path / "en" / "ball.wav", tone(900, 8000), 8000)
    xml = tmp_path / "en" / "sounds.xml"
    xml.write_text("""<!-- comment first, as in klettres -->
<klettres><language code="en"><menuitem><label>&amp;English</label></menuitem>
<alphabet><sound name="A" file="en/alpha/A.ogg" /><sound name="B" file="en/alpha/B.ogg" />
</alphabet><syllables><sound name="ball" file="en/ball.wav" /></syllables>
</language></klettres>""")
    with pytest.raises(DataError, match=r"sound 'B' names .*B\.ogg, which does not exist"):
        audio.read_sound_list(xml, root=tmp_path)
    items = audio.read_sound_list(xml, root=tmp_path, missing="skip")
    assert [(p.name, n, g) for p, n, g in items] == [("A.ogg", "A", "alphabet"),
                                                     ("ball.wav", "ball", "syllables")]
    ds = audio.load_audio_list([(p, n) for p, n, _ in items], sample_rate=8000)
    assert ds.classes == ["A", "ball"] and ds.inputs[1].shape == (4000,)
    theme = tmp_path / "en.soundtheme"  # ktuberling: files relative to the list's folder
    theme.write_text('<language code="en"><sound name="ball" file="en/ball.wav"/></language>')
    assert audio.read_sound_list(theme)[0][1] == "ball"
    bad = tmp_path / "bad.soundtheme"
    bad.write_text('<language><sound name="x"/></language>')
    with pytest.raises(DataError, match="lacks its name or file"):
        audio.read_sound_list(bad)
    bad.write_text("<language><sound")
    with pytest.raises(DataError, match="not well-formed XML"):
        audio.read_sound_list(bad)
    bad.write_text("<language/>")
    with pytest.raises(DataError, match="no <sound name"):
        audio.read_sound_list(bad)
