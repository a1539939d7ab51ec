"""Debian data packages, fetched once into a cache folder and unpacked there.

Several recipes read data that Debian packages and the repository cannot ship (the
fillets-ng dialogue and speech are GPL, tens of MB). ``debian_package(name)`` returns the
folder a package was unpacked into, ``<cache>/<name>/`` (holding its ``usr/...`` tree and
a ``SOURCE.txt``), and on first use fills it with

    apt-get download NAME && dpkg -x NAME_*.deb <cache>/<name>

without installing anything system-wide (no root needed where apt's package lists are
current). Where only part of a large package is read (the game catalogues of 200-400 MB
data packages), ``paths=`` unpacks just those folders (and the package's
``usr/share/doc/<name>``, for its copyright file) into ``<cache>/<name>@<key>/``,

    apt-get download NAME && dpkg-deb --fsys-tarfile NAME_*.deb | tar -x -C DIR -- PATHS

where the key is a hash of the paths: a partial unpack is never found where a full one
is looked for, nor one of other paths (``SOURCE.txt`` lists them). The version is not
pinned: whichever the machine's apt sources hold is used, and ``SOURCE.txt`` records it
with the licence and the .deb's sha256, so a result can say what it was computed from.
The .deb is unpacked into a hidden temporary folder beside the target and renamed into
place, so a killed run leaves no half-written package behind (at most a ``.NAME-*``
folder that is never read and may be deleted).

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
from collections.abc import Sequence
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
                   licence: str | None = None, paths: Sequence[str] = ()) -> Path:
    """The folder holding the unpacked Debian package ``name`` (its ``usr/`` tree and
    ``SOURCE.txt``), downloaded with apt-get and unpacked with ``dpkg -x`` on first use.

    Args:
        name: the Debian package, e.g. ``"fillets-ng-data"``.
        cache: the folder packages are kept in (default ``cache_dir()``).
        licence: written to SOURCE.txt where the package's copyright file is not in the
            machine-readable (DEP-5) format that names it.
        paths: folders of the package to unpack, e.g. ``("usr/share/locale",)``, with
            ``usr/share/doc/<name>`` always added; empty (the default) unpacks it all.
            A partial unpack has its own folder, ``partial_name(name, paths)``.

    DataError (one line, with the commands to run by hand) where apt-get, dpkg (or tar, for
    paths) is missing, the download fails (no network, package lists not updated) or
    unpacking fails (also where a path is not in the package).
    """
    cache = cache_dir() if cache is None else Path(cache).expanduser()
    members = _members(name, paths)
    dest = cache / (partial_name(name, paths) if members else name)
    if dest.is_dir():  # only ever created complete, by the rename below
        return dest
    for tool in ("apt-get", *(("dpkg-deb", "tar") if members else ("dpkg",))):
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
        if members:
            _unpack_members(deb, root, members, work, name)
        else:
            _run(["dpkg", "-x", str(deb), str(root)], work, name)
        (root / SOURCE_FILE).write_text(_source_text(name, deb, root, licence, members),
                                        encoding="utf-8")
        files.publish_folder(root, dest)
    except OSError as e:
        raise DataError(f"{name}: cannot unpack into {cache} ({e.strerror or e}): "
                        f"{manual_steps(name)}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the .deb and any leftover
    return dest


def partial_name(name: str, paths: Sequence[str]) -> str:
    """The cache folder of a partial unpack: ``<name>@<key>``, the key a hash of the
    unpacked paths ('@' is not in Debian package names, so it is never a package's own)."""
    key = hashlib.sha256("\n".join(_members(name, paths)).encode()).hexdigest()[:10]
    return f"{name}@{key}"


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


def _members(name: str, paths: Sequence[str]) -> list[str]:
    """The tar member names of ``paths`` in a .deb's data (``./usr/...``), sorted, with the
    package's doc folder; [] for no paths (a full unpack)."""
    if not paths:
        return []
    wanted = {"./" + p.strip().removeprefix("./").strip("/") for p in paths}
    wanted.add(f"./usr/share/doc/{name}")
    return sorted(wanted)


def _unpack_members(deb: Path, root: Path, members: list[str], work: Path,
                    name: str) -> None:
    """dpkg-deb --fsys-tarfile DEB | tar -x -C ROOT -- MEMBERS (DataError where either
    fails, naming dpkg-deb where the .deb could not be read)."""
    root.mkdir()
    with open(work / "dpkg-deb.err", "w+", encoding="utf-8", errors="replace") as err:
        try:
            dump = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)],
                                    stdout=subprocess.PIPE, stderr=err)
        except OSError as e:
            raise DataError(f"`dpkg-deb --fsys-tarfile` could not start ({e.strerror or e}): "
                            f"{manual_steps(name)}") from None
        tar_error = None
        try:
            _run(["tar", "-x", "-C", str(root), "--", *members], work, name,
                 stdin=dump.stdout)
        except DataError as e:
            tar_error = e
        finally:
            dump.stdout.close()  # so dpkg-deb stops if tar stopped reading
            dump.wait()
        if dump.returncode != 0:  # a damaged .deb: its error says more than tar's
            err.seek(0)
            _fail(["dpkg-deb", "--fsys-tarfile"], dump.returncode, err.read(), name)
    if tar_error is not None:
        raise tar_error


def _run(cmd: list[str], cwd: Path, name: str, stdin=None) -> None:
    try:
        done = subprocess.run(cmd, cwd=cwd, stdin=stdin, capture_output=True, text=True)
    except OSError as e:
        raise DataError(f"`{' '.join(cmd[:2])}` could not start ({e.strerror or e}): "
                        f"{manual_steps(name)}") from None
    if done.returncode != 0:
        _fail(cmd, done.returncode, done.stderr or done.stdout, name)


def _fail(cmd: list[str], code: int, output: str, name: str) -> None:
    # Not apt's sandbox warnings ("W: ..."), nor tar's closing summary of earlier errors.
    lines = [ln for ln in output.splitlines() if ln.strip() and not ln.startswith("W:")
             and "Exiting with failure status" not in ln]
    why = lines[-1].strip() if lines else f"exit status {code}"
    raise DataError(f"`{' '.join(cmd[:2])} {name}` failed ({why}): {manual_steps(name)}")


def _source_text(name: str, deb: Path, root: Path, licence: str | None,
                 members: list[str]) -> str:
    # A .deb is named NAME_VERSION_ARCH.deb, with an epoch's ':' written as %3a.
    parts = unquote(deb.name.removesuffix(".deb")).split("_")
    version = parts[1] if len(parts) == 3 else "unknown"
    with open(deb, "rb") as fh:  # in chunks: game data packages are hundreds of MB
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    copyright_file = f"usr/share/doc/{name}/copyright"
    found = _dep5_licences(root / copyright_file)
    lic = licence or (", ".join(found) if found else f"see {copyright_file}")
    text = (f"package: {name}\nversion: {version}\nlicence: {lic}\n"
            f"copyright: {copyright_file}\nfile: {deb.name}\nsha256: {digest}\n")
    if not members:
        return text + f"fetched with: apt-get download {name} && dpkg -x {deb.name} .\n"
    listed = " ".join(members)
    return text + (f"unpacked: {listed}\nfetched with: apt-get download {name} && "
                   f"dpkg-deb --fsys-tarfile {deb.name} | tar -x -- {listed}\n")


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
