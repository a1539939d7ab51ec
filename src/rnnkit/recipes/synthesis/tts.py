"""Recipe ``tts``: text to speech, a small Tacotron 2 (``rnnkit.models.tts``) with
Griffin-Lim, trained on a teacher voice.

Default data: the fillets-ng English dialogue (1,946 distinct sentences) spoken by flite's
``slt`` voice (Debian ``flite``, generated once into the data cache;
``rnnkit.data.teacher_voice``), 1.58 h at 16 kHz. Game levels are split whole into
train / valid / test exactly as ``rnnkit train asr --lang en`` splits them (``asr.SPLIT``,
``asr.SPLIT_SEED``), so a recogniser trained that way never heard a test sentence.
``--lang nl`` / ``--lang cs`` trains on the fillets-ng game's real recordings (Dutch: two
speakers, the small and the big fish; Czech: the fish and 24 minor characters), split by
level as ``rnnkit train asr`` splits them, with a learned vector per speaker (the dialog's
font; ``Tacotron(num_speakers=...)``); test sentences are spoken by their own speaker.
``--data list.tsv`` trains on the user's recordings (``path<TAB>text``), split by utterance.
``--arch durations --aligner RUN`` trains ``DurationTTS`` instead (no attention and no
frame fed back at synthesis): each character's frames on the training and validation clips
come from RUN, a CTC recogniser (``asr`` run: a forced alignment, ``ctc_durations``) or a
Tacotron (``tts`` run: its teacher-forced attention, ``durations_from_attention``).

    rnnkit train tts                                 # flite slt teacher
    rnnkit train tts --lang nl --recogniser runs/asr-nl   # real Dutch recordings, 2 voices
    rnnkit train asr --lang en --name judge          # the intelligibility judge
    rnnkit train tts --recogniser runs/judge         # + CER on teacher vs our audio
    rnnkit train tts --arch durations --aligner runs/judge # durations by forced alignment
    rnnkit say runs/tts "Where is the exit?" -o exit.wav

Text: characters of ``tts_text`` (lower case, numbers spelt out, ``,.?!`` kept). Frames:
80 log-mel bands, 25 ms windows every 10 ms, normalised per band with the training set's
statistics. The finish step synthesises the test sentences (free running, Griffin-Lim,
32 iterations) and reports mel-cepstral distortion and DTW-aligned mel L1 against the
teacher's audio, the fraction whose attention reaches the end of the text, the real-time
factor on one thread, and with ``--recogniser`` the judge's CER on both; it writes a few
sentences' audio (teacher and ours), spectrograms and alignments.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.data.sequences import pad_batch, split_groups
from rnnkit.data.transcribed import Utterances, normalise_transcript, read_transcript_list
from rnnkit.errors import CheckpointError, ConfigError, DataError, unknown_name
from rnnkit.models.ctc import forced_align
from rnnkit.models.duration_tts import (
    duration_loss,
    durations_from_attention,
    durations_from_starts,
)
from rnnkit.models.tts import (
    PAD,
    Tacotron,
    attention_reaches_end,
    tts_loss,
)
from rnnkit.models.tts_spec import tts_model_from_spec, tts_spec
from rnnkit.recipes.base import LoadedRun, Outcome, Setup, load_best, load_run
from rnnkit.recipes.result import Target
from rnnkit.recipes.speech.asr import LANGS, SPLIT, SPLIT_SEED
from rnnkit.recipes.synthesis.voice import Voice, mel_analysis, tts_text
from rnnkit.train.config import RunConfig
from rnnkit.train.task import BatchTask

SAMPLE_RATE, N_FFT, HOP, N_MELS = 16000, 400, 160, 80
REDUCTION = 3          # mel frames per decoder step
SCORED = 40            # test sentences synthesised in the finish step (time)
ALIGN_BATCH = 16       # clips per teacher-forced pass of an --aligner
# Longer training/validation clips are left out (counted): teacher forcing keeps every
# decoder step's attention for the backward pass, and the 45 teacher clips over 8 s
# (2% of the sentences, up to 21.6 s) made single batches take gigabytes and minutes.
MAX_SECONDS = 8.0
AUDIO_EXAMPLES = 3     # of them written as WAV, teacher and ours

# Defaults with their reasons: the model sizes of models/tts.py's recommendation (3.4M
# parameters); dropout 0.5 in the encoder and post-net convolutions as Tacotron 2; batch
# 16 of length-bucketed sentences; Adam 1e-3 with cosine decay; the guided-attention loss
# (in the model's loss) makes the alignment form within a few thousand updates.
DEFAULTS = {
    "model": {"cell": "lstm", "hidden_size": 256, "num_layers": 1, "embed_size": 128,
              "dropout": 0.5},
    "train": {"batch_size": 16, "optimizer": "adam", "lr": 1e-3, "schedule": "cosine",
              "warmup_steps": 200, "max_steps": 8000, "eval_every": 500, "early_stop": 6,
              "ckpt_every": 500, "log_every": 50, "clip_norm": 1.0, "threads": 1},
}
SMOKE = {
    "model": {"hidden_size": 16, "embed_size": 8, "dropout": 0.0},
    "train": {"batch_size": 4, "max_steps": 4, "eval_every": 2, "ckpt_every": 2,
              "log_every": 1, "warmup_steps": 1, "early_stop": None},
}
SMOKE_SIZES = {"prenet_size": 8, "attention_size": 8, "location_filters": 4,
               "location_kernel": 5, "postnet_channels": 8}
TARGET = Target("cer_ratio", "<=", 1.5, "judge's CER on our synthesis <= 1.5x on the "
                "teacher's audio of the test sentences", budget="8,000 updates", hours=4.0)


def load_voice_data(cfg: RunConfig) -> tuple[Utterances, bool]:
    """(utterances, by_level): the user's recordings, the fillets-ng recordings of
    ``--lang nl`` or ``cs``, else (``en``, the default) the teacher voice."""
    lang = cfg.data.lang or "en"
    if cfg.data.data:
        return read_transcript_list(cfg.data.data, lang), False
    if lang not in LANGS:
        raise ConfigError("tts: " + unknown_name("voice language", lang, LANGS))
    if lang != "en":
        from rnnkit.data.transcribed import load_fillets_speech

        return load_fillets_speech(lang), True
    from rnnkit.data.teacher_voice import teacher_corpus

    return teacher_corpus(), True


def speaker_names(utts: Utterances, train_i: list[int]) -> list[str] | None:
    """The training clips' speakers, most clips first (ties by name): a voice each; None
    when there is one (the teacher, a user's list)."""
    counts: dict[str, int] = {}
    for i in train_i:
        counts[utts.items[i].speaker] = counts.get(utts.items[i].speaker, 0) + 1
    names = sorted(counts, key=lambda s: (-counts[s], s))
    return names if len(names) > 1 else None


def collate(batch):
    """[(ids (S_i,), mels (T_i, M), speaker[, durations (S_i,)])] -> text (B, S),
    text_lengths, mels (B, T, M), lengths, speakers (B,)[, durations (B, S), 0-padded]."""
    ids, mels, speakers, *durations = zip(*batch, strict=True)
    text, text_lengths = pad_batch(ids, PAD)
    x, lengths = pad_batch(mels)
    out = (text.long(), text_lengths, x, lengths, torch.tensor(speakers))
    return out + (pad_batch(durations[0], 0)[0].long(),) if durations else out


def load_aligner(path: str, device) -> LoadedRun:
    """The ``--aligner`` run: a ``tts`` run (Tacotron) or an ``asr`` run (CTC)."""
    try:
        return load_run(path, ("tts", "recogniser"), device)
    except CheckpointError as e:
        raise ConfigError(f"--aligner: {e}") from None


def aligner_durations(run: LoadedRun, spec: dict, examples: list[tuple], audio: list,
                      device) -> list[Tensor]:
    """Each example's character durations (S_i,) in frames from the aligner ``run``
    (``load_aligner``): a Tacotron's teacher-forced attention, or a CTC recogniser's forced
    alignment of the audio (``audio``: the examples' files)."""
    if run.kind == "recogniser":
        return ctc_durations(run, spec, examples, audio)
    path = run.file
    voice = Voice(run.model, run.spec, device)
    if not isinstance(voice.model, Tacotron):
        raise ConfigError(f"--aligner {path}: not an attention model (train one with "
                          "`rnnkit train tts`, --arch rnn)")
    if voice.symbols != spec["symbols"] or (voice.speakers or None) != spec["speakers"]:
        raise ConfigError(f"--aligner {path}: trained on other symbols or voices than this "
                          "data (train it on the same --data / --lang)")
    mean, std = (torch.tensor(spec["features"][k]) for k in ("mean", "std"))
    out: list[Tensor | None] = [None] * len(examples)
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][1]))
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(0)  # the pre-net's dropout stays on under teacher forcing
        for k in range(0, len(order), ALIGN_BATCH):  # padding changes nothing in eval mode
            chunk = order[k:k + ALIGN_BATCH]
            text, text_lengths, x, lengths, who = collate(
                [(examples[i][0], (examples[i][1] * std + mean - voice.mean) / voice.std,
                  examples[i][2]) for i in chunk])
            attn = voice.model(text.to(device), text_lengths, x.to(device), lengths,
                               speakers=who.to(device) if voice.speakers else None).attention
            r = voice.model.reduction
            for b, i in enumerate(chunk):
                n, s = int(lengths[b]), int(text_lengths[b])
                out[i] = durations_from_attention(attn[b, :-(-n // r), :s].cpu(), n, r)
    return out


def ctc_durations(run, spec: dict, examples: list[tuple], audio: list) -> list[Tensor]:
    """Durations from a CTC recogniser's forced alignment: a character starts at the frame
    where the best path spelling the text first emits it (converted from the recogniser's
    frame rate to ours); characters it has no label for (punctuation) get 0 frames
    (``durations_from_starts``)."""
    from rnnkit.data.audio import load_audio
    from rnnkit.recipes.speech.recogniser import Recogniser

    judge = Recogniser(run.model, run.spec)
    symbols = spec["symbols"]
    if not set(judge.alphabet.chars) & set(symbols):
        raise ConfigError(f"--aligner {run.file}: its alphabet shares no character with "
                          "this data's")
    ours = spec["features"]  # our frames per recogniser output frame:
    per_frame = (run.model.subsample * judge.features.spec["hop_ms"] / 1000
                 * ours["sample_rate"] / ours["hop_length"])
    with torch.no_grad():
        log_probs = judge.log_probs([judge.features(load_audio(a, judge.sample_rate))
                                     for a in audio])
    out = []
    for (ids, mels, *_), lp, where in zip(examples, log_probs, audio, strict=True):
        chars = [symbols[int(i) - 1] for i in ids]
        labelled = [k for k, c in enumerate(chars) if c in judge.alphabet.index]
        try:
            first = forced_align(lp, [judge.alphabet.index[chars[k]] for k in labelled])
        except ValueError as e:
            raise DataError(f"{where}: cannot align its text ({e})") from None
        starts: list[int | None] = [None] * len(chars)
        for k, j in zip(labelled, first, strict=True):
            starts[k] = round(j * per_frame)
        out.append(durations_from_starts(starts, len(mels)))
    return out


def build(cfg: RunConfig) -> Setup:
    """Sentences -> split -> log-mel -> symbols -> Tacotron (or DurationTTS with the
    aligner's durations) and a bucketed BatchTask."""
    from rnnkit.data.audio import load_audio

    by_durations = check_arch(cfg)
    utts, by_level = load_voice_data(cfg)
    lang = utts.lang or "en"
    texts = [tts_text(u.text, lang) for u in utts.items]
    groups = [u.group for u in utts.items] if by_level else [u.id for u in utts.items]
    train_i, valid_i, test_i = split_groups(groups, *SPLIT, seed=SPLIT_SEED, source=utts.source)
    features = {"sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop_length": HOP,
                "n_mels": N_MELS}
    analysis = mel_analysis({"features": features})
    with torch.no_grad():
        raw = [analysis(load_audio(u.path, SAMPLE_RATE)) for u in utts.items]  # (T, M)
    limit = MAX_SECONDS * SAMPLE_RATE / HOP  # frames
    too_long = sum(len(raw[i]) > limit for i in train_i + valid_i)
    train_i = [i for i in train_i if len(raw[i]) <= limit]
    valid_i = [i for i in valid_i if len(raw[i]) <= limit]
    speakers = speaker_names(utts, train_i)
    voices = {s: k for k, s in enumerate(speakers or [""])}
    # a voice heard only in validation or test cannot be spoken: those clips are left out
    unheard = {i for i in valid_i + test_i if speakers and utts.items[i].speaker not in voices}
    valid_i, test_i = ([i for i in idx if i not in unheard] for idx in (valid_i, test_i))
    if not train_i or not valid_i or not test_i:
        raise DataError(f"{utts.source}: no training or validation clip of at most "
                        f"{MAX_SECONDS:g} s, or no test clip of a voice heard in training")
    frames = torch.cat([raw[i] for i in train_i])
    mean, std = frames.mean(0), frames.std(0, unbiased=False) + 1e-5
    mels = [(x - mean) / std for x in raw]
    symbols = sorted({c for i in train_i for c in texts[i]})
    index = {c: k + 1 for k, c in enumerate(symbols)}

    def examples(idx):  # characters unseen in training are dropped (counted below)
        return [(torch.tensor([index[c] for c in texts[i] if c in index]), mels[i],
                 voices[utts.items[i].speaker] if speakers else 0) for i in idx]

    train, valid = examples(train_i), examples(valid_i)

    unseen = sum(c not in index for i in valid_i + test_i for c in texts[i])
    features.update(mean=mean.tolist(), std=std.tolist())
    sizes = SMOKE_SIZES if cfg.model.hidden_size <= 16 else {}
    try:
        spec = {**tts_spec(cfg.model, len(symbols) + 1, N_MELS, REDUCTION, speakers,
                           **sizes),
                "symbols": symbols, "features": features, "lang": lang}
        model = tts_model_from_spec(cfg.model, spec)
    except ValueError as e:
        raise ConfigError(f"tts: {e}") from None
    if by_durations:
        cfg.data.aligner = str(Path(cfg.data.aligner).expanduser().resolve())
        spec["aligner"] = cfg.data.aligner
        aligner = load_aligner(cfg.data.aligner, "cpu")  # once, for both parts
        train, valid = ([(*e, d) for e, d in zip(part, aligner_durations(
            aligner, spec, part, [utts.items[i].path for i in idx], "cpu"), strict=True)]
            for part, idx in ((train, train_i), (valid, valid_i)))

    def parts(model, batch, sampling: float = 0.0) -> dict[str, torch.Tensor]:
        text, text_lengths, x, lengths, who, *durations = batch
        who = who if speakers else None
        if by_durations:
            return duration_loss(model(text, text_lengths, durations[0], who), x, lengths,
                                 durations[0], text_lengths)
        out = model(text, text_lengths, x, lengths, sampling, speakers=who)
        return tts_loss(out, x, lengths, text_lengths)

    def loss(model, batch) -> torch.Tensor:
        return parts(model, batch, cfg.train.scheduled_sampling if model.training else 0.0
                     )["loss"]

    def metrics(model, batches) -> dict[str, float]:
        sums: dict[str, float] = {}
        n = 0
        for batch in batches:
            lengths = batch[3]
            for k, v in parts(model, batch).items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(lengths)
            n += len(lengths)
        return {k: v / max(n, 1) for k, v in sums.items()}

    task = BatchTask(train, valid, cfg.train.batch_size, collate, loss, seed=cfg.train.seed,
                     metrics=metrics,
                     lengths=[len(mels[i]) for i in train_i])

    def finish(trainer, fit) -> Outcome:
        load_best(trainer)
        voice = Voice(trainer.model, spec, trainer.device)
        return score_test(voice, utts, texts, test_i, trainer.run_dir, cfg)

    hours = sum(len(mels[i]) for i in train_i) * HOP / SAMPLE_RATE / 3600
    describe = (f"{utts.source}: {len(train_i)} / {len(valid_i)} / {len(test_i)} train / "
                f"valid / test sentences ({hours:.2f} h of training audio)"
                + (f" from {len({groups[i] for i in train_i})} / "
                   f"{len({groups[i] for i in valid_i})} / "
                   f"{len({groups[i] for i in test_i})} levels" if by_level else "")
                + (f"; {len(speakers)} voices ({', '.join(speakers)})" if speakers else "")
                + (f"; {len(unheard)} validation/test clips of voices not in training left "
                   "out" if unheard else "")
                + f"; {len(symbols)} symbols; {N_MELS} log-mel bands / 10 ms, "
                + (f"characters held for durations from {cfg.data.aligner}" if by_durations
                   else f"{REDUCTION} frames per decoder step")
                + (f"; {unseen} valid/test characters unseen in training dropped"
                   if unseen else "")
                + (f"; {too_long} training/validation clips over {MAX_SECONDS:g} s left out"
                   if too_long else ""))
    return Setup(model, task, meta={"tts": spec}, describe=describe, finish=finish)


def check_arch(cfg: RunConfig) -> bool:
    """Whether the run trains ``DurationTTS`` (``--arch durations``); ConfigError for an
    arch of another recipe, or options that do not go together."""
    if cfg.model.arch not in ("rnn", "durations"):
        raise ConfigError(f"tts: --arch {cfg.model.arch} is for translation (tts: rnn or "
                          "durations)")
    if cfg.model.arch == "rnn":
        if cfg.data.aligner:
            raise ConfigError("--aligner gives durations to --arch durations")
        return False
    if not cfg.data.aligner:
        raise ConfigError("tts --arch durations needs --aligner RUN: a trained asr run "
                          "(CTC: a forced alignment) or tts run (Tacotron: its attention) "
                          "that gives each character's duration")
    if cfg.train.scheduled_sampling:
        raise ConfigError("--scheduled-sampling is for the attention decoder (--arch rnn): "
                          "--arch durations feeds no frame back")
    return True


def score_test(voice: Voice, utts: Utterances, texts, test_i, run_dir: Path,
               cfg: RunConfig) -> Outcome:
    """Synthesise up to ``SCORED`` test sentences; MCD, mel L1, alignment, speed, and the
    judge's CER; example audio and plots."""
    from rnnkit.data.audio import load_audio, write_wav
    from rnnkit.data.speech_quality import mel_cepstral_distortion, mel_l1
    from rnnkit.recipes.synthesis.plots import plot_synthesis

    chosen = test_i[:SCORED]
    rows, ours, theirs = [], [], []
    for k, i in enumerate(chosen):
        u = utts.items[i]
        try:  # characters unseen in training are left out, as in validation
            spoken = voice.say(u.text, seed=cfg.train.seed, where=u.id, drop_unknown=True,
                               speaker=voice.clip_speaker(u.speaker))
        except DataError:  # nothing left to say
            continue
        ref = load_audio(u.path, voice.sample_rate)
        ref_mels = voice.frames(ref)
        audio_s = len(spoken.wave) / voice.sample_rate
        rows.append({"id": u.id, "text": texts[i], "said": u.text,
                     "mcd": mel_cepstral_distortion(ref, spoken.wave, voice.sample_rate),
                     "mel_l1": mel_l1(ref_mels, spoken.mels, align=True),
                     "aligned": bool(attention_reaches_end(spoken.attention,
                                                           spoken.attention.shape[1])),
                     "stopped": spoken.stopped, "seconds": spoken.seconds,
                     "audio_s": audio_s})
        ours.append(spoken.wave)
        theirs.append(ref)
        if k < AUDIO_EXAMPLES:
            write_wav(run_dir / f"test-{k + 1}-ours.wav", spoken.wave, voice.sample_rate)
            write_wav(run_dir / f"test-{k + 1}-teacher.wav", ref, voice.sample_rate)
            plot_synthesis(ref_mels, spoken.mels, spoken.attention,
                           run_dir / f"test-{k + 1}.png", title=texts[i])
    if not rows:
        raise DataError("tts: no test sentence could be synthesised")
    metrics = {
        "test_mcd": statistics.mean(r["mcd"] for r in rows),
        "test_mel_l1": statistics.mean(r["mel_l1"] for r in rows),
        "aligned_fraction": sum(r["aligned"] for r in rows) / len(rows),
        "stopped_fraction": sum(r["stopped"] for r in rows) / len(rows),
        "real_time_factor": sum(r["seconds"] for r in rows) / sum(r["audio_s"] for r in rows),
        "test_n": len(rows)}
    lines = [f"- test MCD **{metrics['test_mcd']:.2f} dB**, DTW-aligned mel L1 "
             f"{metrics['test_mel_l1']:.3f} (normalised bands; {len(rows)} test sentences, "
             "free running, Griffin-Lim 32 iterations)",
             (f"- attention reaches the end of the text in {metrics['aligned_fraction']:.0%}; "
              f"the stop token ended {metrics['stopped_fraction']:.0%}"
              if isinstance(voice.model, Tacotron) else
              f"- the predicted durations read the text in order to its end (no 3 characters "
              f"in a row left without a frame) in {metrics['aligned_fraction']:.0%}; "
              f"{metrics['stopped_fraction']:.0%} ended within the length limit"),
             f"- real-time factor {metrics['real_time_factor']:.3f} (model + vocoder, "
             f"{torch.get_num_threads()} thread(s))"]
    if cfg.data.recogniser:
        from rnnkit.recipes.speech.recogniser import Recogniser, error_rates

        judge = Recogniser.load(cfg.data.recogniser)
        refs = [normalise_transcript(r["said"], voice.spec["lang"]) for r in rows]

        metrics["cer_teacher"], metrics["cer_ours"] = (
            error_rates(judge.transcribe(waves), refs)["cer"] for waves in (theirs, ours))
        metrics["cer_ratio"] = metrics["cer_ours"] / max(metrics["cer_teacher"], 1e-9)
        lines.append(f"- intelligibility: the judge `{cfg.data.recogniser}` reads the "
                     f"teacher's audio at CER {metrics['cer_teacher']:.1%} and ours at "
                     f"**{metrics['cer_ours']:.1%}** ({metrics['cer_ratio']:.2f}x)")
    (run_dir / "test_synthesis.json").write_text(json.dumps(
        {"metrics": metrics, "rows": rows}, indent=1))
    lines += ["", "## Examples", ""]
    for k in range(min(AUDIO_EXAMPLES, len(rows))):
        lines += [f"- `{rows[k]['text']}`: [ours](test-{k + 1}-ours.wav), "
                  f"[teacher](test-{k + 1}-teacher.wav); MCD {rows[k]['mcd']:.2f} dB", "",
                  f"![synthesis](test-{k + 1}.png)", ""]
    return Outcome(lines, metrics)
