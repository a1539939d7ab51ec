"""What one request may ask of the server, and how requests are gathered into batches.

Every limit has a reason: a served model runs on a CPU shared by every client, so one
request must not hold it for long, and a body the server will refuse anyway is cut off
before it is read whole. ``rnnkit serve`` sets a few of these from its options.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Limits:
    # Bodies. JSON requests hold a prime, a few sentences or a FASTA text; 256 KiB is 4x the
    # largest FASTA below. Audio: 8 MiB is 4 min of 16-bit 16 kHz mono WAV, above
    # max_audio_s as any common format encodes it.
    max_body_bytes: int = 256 * 1024
    max_audio_bytes: int = 8 * 1024 * 1024
    # Language models: a prime is read in one forward pass and each generated token is one
    # more step, so both bound the work (2,000 steps of a 2x384 LSTM: about 2 s on one core).
    max_prime_chars: int = 2000
    max_generate: int = 2000
    # Translation: the model also refuses sentences longer than it was trained on.
    max_sentences: int = 32
    max_sentence_chars: int = 1000
    max_beam: int = 16
    # Classifiers and taggers: sequences per request and positions per sequence; a FASTA
    # scan reads every window of its records (50,000 bases: 50,000 60-nt windows for
    # splice, about 2 s for its 64-unit BiLSTM on one core).
    max_sequences: int = 64
    max_sequence_length: int = 10_000
    max_fasta_bases: int = 50_000
    # Speech: the length of one upload after decoding.
    max_audio_s: float = 60.0
    # Text to speech: synthesis stops at 0.25 s of audio per character (the voice's
    # MAX_SECONDS_PER_CHAR), so 500 characters (a paragraph) is at most 125 s of audio, a
    # 4 MB WAV. A default-size voice that never stops (the worst case) took 11 s for that,
    # model and vocoder on one shared core: within timeout_s.
    max_say_chars: int = 500
    # A request still running after this is answered 504 (generation stops at the next
    # token, a FASTA scan at the next batch; a synthesis runs on to its end, which
    # max_say_chars bounds).
    timeout_s: float = 30.0
    # Batching: a batch waits this long for more requests after its first, then runs with
    # at most max_batch sequences; requests beyond max_pending per model are refused (503)
    # rather than queued without end.
    batch_window_ms: float = 5.0
    max_batch: int = 64
    max_pending: int = 256

    def to_dict(self) -> dict:
        return asdict(self)
