"""Where a voice loses intelligibility: the judge's CER on the same test sentences at each
rung from the teacher's recording to our free-running synthesis.

1. the teacher's audio;
2. the teacher's own log-mel frames through Griffin-Lim (what the vocoder alone costs);
3. our model's frames under teacher forcing (each step reads the recorded previous frame),
   through Griffin-Lim (what the acoustic model costs when it never sees its own output);
4. our free-running synthesis (``Voice.say``, as the recipe scores it).

A large step from 3 to 4 says the decoder drifts on its own output (exposure bias), not
that it cannot model the frames or that the vocoder is poor. Writes
docs/results/tts-ladder/<run>.json, which ``make docs-tables`` renders.

    python -m rnnkit.experiments.tts_ladder runs/tts-s1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from rnnkit.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def ladder(run: Path, seed: int = 1) -> dict:
    """The four CERs (fractions) over the run's scored test sentences
    (``test_synthesis.json``), with the judge named in the run's config."""
    from rnnkit.data.audio import load_audio
    from rnnkit.data.vocoder import griffin_lim
    from rnnkit.models.tts import Tacotron
    from rnnkit.recipes.speech.recogniser import Recogniser, error_rates
    from rnnkit.recipes.synthesis import tts
    from rnnkit.recipes.synthesis.voice import Voice
    from rnnkit.train.config import RunConfig, read_toml

    cfg = RunConfig.from_dict(read_toml(run / "config.toml"), source=str(run / "config.toml"))
    if not cfg.data.recogniser:
        raise ConfigError(f"{run}: trained without --recogniser, so there is no judge")
    rows = json.loads((run / "test_synthesis.json").read_text())["rows"]
    voice, judge = Voice.load(run / "best.pt"), Recogniser.load(cfg.data.recogniser)
    if not isinstance(voice.model, Tacotron):
        raise ConfigError(f"{run}: the ladder's teacher-forced rung needs an attention model "
                          "(--arch rnn)")
    utts, _ = tts.load_voice_data(cfg)
    by_id = {u.id: u for u in utts.items}
    refs = [tts.normalise_transcript(r["said"], voice.spec["lang"]) for r in rows]
    teacher = [load_audio(by_id[r["id"]].path, voice.sample_rate) for r in rows]

    def cer(waves) -> float:
        return error_rates(judge.transcribe(waves), refs)["cer"]

    def vocode(log_mel):
        return griffin_lim(log_mel, voice.analysis, 32, seed=seed)

    forced, free = [], []
    voice.model.eval()
    torch.manual_seed(seed)  # the pre-net's dropout stays on under teacher forcing too
    with torch.no_grad():
        for r, wave in zip(rows, teacher, strict=True):
            ids = voice.encode(r["said"], where=r["id"], drop_unknown=True)
            frames = voice.frames(wave)                                      # (T, M)
            speaker = voice.clip_speaker(by_id[r["id"]].speaker)
            who = voice.speaker_index(speaker)
            out = voice.model(ids[None], torch.tensor([len(ids)]), frames[None],
                              torch.tensor([len(frames)]),
                              speakers=None if who is None else who[None])
            forced.append(vocode(out.mels_post[0, :len(frames)] * voice.std + voice.mean))
            free.append(voice.say(r["said"], seed=cfg.train.seed, where=r["id"],
                                  drop_unknown=True, speaker=speaker).wave)
        return {"teacher": cer(teacher),
                "teacher_frames_griffin_lim": cer([vocode(voice.analysis(w)) for w in teacher]),
                "model_teacher_forced": cer(forced), "model_free_running": cer(free),
                "sentences": len(rows), "judge": cfg.data.recogniser,
                "updates": json.loads((run / "result.json").read_text())["steps"]}


def main(argv: list[str] | None = None) -> int:
    """Command line: the run folder; writes the record."""
    from rnnkit.recipes.result import clock, measurement_fields

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a tts run folder scored with --recogniser")
    ap.add_argument("--seed", type=int, default=1, help="Griffin-Lim's initial phase")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "docs/results/tts-ladder",
                    help="where <run>.json goes [docs/results/tts-ladder]")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    started = clock()
    values = ladder(args.run, args.seed)
    rec = {"measurement": "tts: the judge's CER from the teacher's audio to our synthesis",
           "values": values,
           "text": "Judge CER on {sentences} test sentences ({judge}, run after {updates:,} "
                   "updates): the teacher's audio {teacher:.1%}; the teacher's own frames "
                   "through Griffin-Lim {teacher_frames_griffin_lim:.1%}; our model's frames "
                   "under teacher forcing, through Griffin-Lim {model_teacher_forced:.1%}; "
                   "our free-running synthesis {model_free_running:.1%}.",
           **measurement_fields("python -m rnnkit.experiments.tts_ladder " + " ".join(
               argv if argv is not None else sys.argv[1:]),
               seed=args.seed, threads=1, since=started)}
    out = args.out_dir / f"{args.run.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rec, indent=1) + "\n")
    print(rec["text"].format(**values))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
