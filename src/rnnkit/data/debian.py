"""Debian data packages, fetched once into a cache folder and unpacked there.

Several recipes read data that Debian packages and the repository cannot ship (the
fillets-ng dialogue and speech are GPL, tens of MB). ``debian_package(name)`` returns the
folder a package was unpacked into, ``<cache>/<name>/`` (holding its ``usr/...`` tree and
a ``SOURCE.txt``), and on first use fills it with

    apt-get download NAME && dpkg -x NAME_*.deb <cache>/<name>

without installing anything system-wide (no root needed where apt's package lists are
current). The version is not pinned: whichever the machine's apt sources hold is used,
and ``SOURCE.txt`` records it with the licence and the .deb's sha256, so a result can say
what it was computed from. The .deb is unpacked into a hidden temporary folder beside the
target and renamed into place, so a killed run leaves no half-written package behind (at
most a ``.NAME-*`` folder that is never read and may be deleted).

The cache is ``$RNNKIT_DATA``, else ``$XDG_CACHE_HOME/rnnkit/data``, else
``~/.cache/rnnkit/data``. Where apt-get or dpkg is missing or fails, the DataError says
what to run by hand and how to pass the folder (``--data DIR``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote

from rnnkit.data import files
from rnnkit.errors import DataError

SOURCE_FILE = "SOURCE.txt"


def cache_dir() -> Path:
    """$RNNKIT_DATA, else $XDG_CACHE_HOME/rnnkit/data, else ~/.cache/rnnkit/data."""
    root = os.environ.get("RNNKIT_DATA")
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg or Path.home() / ".cache") / "rnnkit" / "data"


def manual_steps(name: str) -> str:
    """The commands that do by hand what ``debian_package`` does."""
    return (f"run `apt-get update && apt-get download {name} && dpkg -x {name}_*.deb DIR` "
            f"on a Debian/Ubuntu machine, then pass --data DIR (the folder holding usr/)")


def debian_package(name: str, cache: str | Path | None = None, *,
                   licence: str | None = None) -> Path:
    """The folder holding the unpacked Debian package ``name`` (its ``usr/`` tree and
    ``SOURCE.txt``), downloaded with apt-get and unpacked with ``dpkg -x`` on first use.

    Args:
        name: the Debian package, e.g. ``"fillets-ng-data"``.
        cache: the folder packages are kept in (default ``cache_dir()``).
        licence: written to SOURCE.txt where the package's copyright file is not in the
            machine-readable (DEP-5) format that names it.

    DataError (one line, with the commands to run by hand) where apt-get or dpkg is
    missing, the download fails (no network, package lists not updated) or unpacking fails.
    """
    cache = cache_dir() if cache is None else Path(cache).expanduser()
    dest = cache / name
    if dest.is_dir():  # only ever created complete, by the rename below
        return dest
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise DataError(f"{name} is not in {cache} and {tool} is not available to fetch "
                            f"it: {manual_steps(name)}")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache))  # same file system
    except OSError as e:
        raise DataError(f"{cache}: cannot create the data cache ({e.strerror or e}); set "
                        "RNNKIT_DATA to a writable folder or " + manual_steps(name)) from None
    try:
        _run(["apt-get", "download", name], work, name)
        debs = sorted(work.glob(f"{name}_*.deb"))
        if len(debs) != 1:
            raise DataError(f"apt-get download {name} left {len(debs)} .deb files in {work}, "
                            f"expected 1: {manual_steps(name)}")
        deb = debs[0]
        root = work / "root"
        _run(["dpkg", "-x", str(deb), str(root)], work, name)
        (root / SOURCE_FILE).write_text(_source_text(name, deb, root, licence),
                                        encoding="utf-8")
        files.publish_folder(root, dest)
    except OSError as e:
        raise DataError(f"{name}: cannot unpack into {cache} ({e.strerror or e}): "
                        f"{manual_steps(name)}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the .deb and any leftover
    return dest


def read_source(root: str | Path) -> dict[str, str]:
    """The ``key: value`` lines of an unpacked package's SOURCE.txt ({} if it has none,
    as for a folder the user unpacked by hand)."""
    path = Path(root) / SOURCE_FILE
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


# ---- helpers -----------------------------------------------------------------------------


def _run(cmd: list[str], cwd: Path, name: str) -> None:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except OSError as e:
        raise DataError(f"`{' '.join(cmd[:2])}` could not start ({e.strerror or e}): "
                        f"{manual_steps(name)}") from None
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines()
                 if ln.strip() and not ln.startswith("W:")]  # apt's sandbox warnings
        why = lines[-1].strip() if lines else f"exit status {done.returncode}"
        raise DataError(f"`{' '.join(cmd[:2])} {name}` failed ({why}): {manual_steps(name)}")


def _source_text(name: str, deb: Path, root: Path, licence: str | None) -> str:
    # A .deb is named NAME_VERSION_ARCH.deb, with an epoch's ':' written as %3a.
    parts = unquote(deb.name.removesuffix(".deb")).split("_")
    version = parts[1] if len(parts) == 3 else "unknown"
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    copyright_file = f"usr/share/doc/{name}/copyright"
    found = _dep5_licences(root / copyright_file)
    lic = licence or (", ".join(found) if found else f"see {copyright_file}")
    return (f"package: {name}\nversion: {version}\nlicence: {lic}\n"
            f"copyright: {copyright_file}\nfile: {deb.name}\nsha256: {digest}\n"
            f"fetched with: apt-get download {name} && dpkg -x {deb.name} .\n")


def _dep5_licences(path: Path) -> list[str]:
    """The ``License:`` names of a machine-readable copyright file, in order of first use."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    if not text.startswith("Format:"):
        return []
    names = re.findall(r"^License:[ \t]*(\S[^\n]*)", text, flags=re.M)
    return list(dict.fromkeys(n.strip() for n in names))
