"""The FreedroidRPG dialogue reader on small .mo catalogues written here, laid out as the
unpacked package under a temporary root (no network); and the partial unpack of a
Debian package that fetches it (``debian_package(paths=...)``), on a .deb built here."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from helpers import data_error_message as message
from helpers import mo_bytes
from rnnkit.data import debian, freedroid
from rnnkit.data.freedroid import load_freedroid


def write_mo(package, domain, lang, entries, **kw):
    """package/usr/share/locale/<lang>/LC_MESSAGES/<domain>.mo"""
    path = freedroid.catalogue_path(package, domain, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(mo_bytes(entries, **kw))
    return path


# Entries of the kinds the real catalogues hold, one reason to skip each but the first few.
DIALOGS_DE = {
    "Feel free to stay here. There is no danger.": "Bleiben Sie, solange Sie wollen - "
                                                   "hier ist es sicher.",
    "[b]FATAL ERROR[/b] - PC LOAD LETTER not found.": "[b]FATALER FEHLER[/b] - PC LOAD "
                                                       "LETTER nicht gefunden.",
    "Visit us [b]Fridays[/b].": "Besucht uns [b]Freitags[/ b].",
    "It's 100%% satisfaction guaranteed.": "100%% Zufriedenheit, garantiert.",
    "Select new name? [Y/N]": "Neuer Name? [J/N]",
    "No... Looks like I don't have it...": "Nö… Scheint, als hab ich keinen mehr…",
    "Go0d. H3re is th3 con7ract.": "Gvt, h13r i$t d3r V3rtr4g.",
    "Hello, my name is Colemak, %s.": "Hallo, mein Name ist Colemak, %s.",
    "Currently deployed firmware is v. 5.0.8+%swashere+gpl": "Derzeit verwendete Firmware "
                                                              "v. 5.0.8+%swarhier+gpl",
    "My rolls are %d and %02d.": "Ich habe eine %d und eine %02d.",
    "\n--- Begin Text Message (from Dvorak) ---": "\n--- Anfang der Nachricht ---",
    "[b][/b]": "[b][/b]",
    "Dvorak": "Dvorak",
    "Error code: 0x6465636c6365": "Error code: 0x6465636c6365",
}
DATA_DE = {
    "Feel free to stay here. There is no danger.": "Bleiben Sie, solange Sie wollen - "
                                                   "hier ist es sicher.",
    "A standard crew droid. Supplied with the ship.": "Ein Standard-Mannschafts-Androide.",
}


def fake_package(root):
    package = root / "freedroidrpg-data"
    write_mo(package, "freedroidrpg-dialogs", "de", DIALOGS_DE)
    write_mo(package, "freedroidrpg-data", "de", DATA_DE)
    for lang in ("fr", "pt_BR"):
        write_mo(package, "freedroidrpg-dialogs", lang, {"Take care.": "Prends soin de toi."})
    return package


def test_dialogue_pairs_groups_ids_and_skips(tmp_path):
    package = fake_package(tmp_path)
    pairs = load_freedroid("de", root=package)
    assert (pairs.src_lang, pairs.tgt_lang) == ("en", "de")
    assert list(zip(pairs.src, pairs.tgt, strict=True)) == [  # in msgid (byte) order
        ("Feel free to stay here. There is no danger.",
         "Bleiben Sie, solange Sie wollen - hier ist es sicher."),
        ("Go0d. H3re is th3 con7ract.", "Gvt, h13r i$t d3r V3rtr4g."),  # $ is leetspeak
        ("It's 100% satisfaction guaranteed.", "100% Zufriedenheit, garantiert."),
        ("No... Looks like I don't have it...", "Nö... Scheint, als hab ich keinen mehr..."),
        ("Select new name? [Y/N]", "Neuer Name? [J/N]"),
        ("Visit us Fridays.", "Besucht uns Freitags."),
        ("FATAL ERROR - PC LOAD LETTER not found.", "FATALER FEHLER - PC LOAD LETTER nicht "
                                                    "gefunden.")]
    assert set(pairs.groups) == {"freedroidrpg-dialogs"}
    assert pairs.ids[0] == "freedroidrpg-dialogs/5"  # the header is 0, "\n--- ..." 1, ...
    assert pairs.skipped == {"placeholder": 3, "multiline": 1, "markup-only": 1, "name": 1,
                             "identical": 1}
    assert sum(pairs.skipped.values()) + len(pairs) == len(DIALOGS_DE)
    assert pairs.source == f"freedroidrpg-data ({package}; locale de; freedroidrpg-dialogs)"


def test_the_data_catalogue_only_where_asked_for(tmp_path):
    package = fake_package(tmp_path)
    (package / debian.SOURCE_FILE).write_text("package: freedroidrpg-data\nversion: 1.0-1\n",
                                              encoding="utf-8")
    both = load_freedroid("de", freedroid.DOMAINS, root=package)
    assert len(both) == len(load_freedroid("de", root=package)) + 1
    assert both.ids[-1] == "freedroidrpg-data/1" and both.skipped["duplicate"] == 1
    assert both.source.startswith("freedroidrpg-data 1.0-1 (")
    only = load_freedroid("de", "freedroidrpg-data", root=package)
    assert only.src == ["A standard crew droid. Supplied with the ship.",
                        "Feel free to stay here. There is no danger."]


def test_missing_language_lists_those_there_are(tmp_path):
    package = fake_package(tmp_path)
    locale = package / "usr/share/locale"
    assert message(load_freedroid, "pt", root=package) == (
        f"no FreedroidRPG catalogue for language 'pt' in {locale} (3 languages have one, "
        "e.g. pt_BR, de, fr)")
    assert message(load_freedroid, "fr", "freedroidrpg-data", root=package) == (
        f"no FreedroidRPG catalogue for language 'fr' in {locale} (1 languages have one, "
        "e.g. de)")
    assert message(load_freedroid, "en", root=package).startswith(
        "en is the source side of the FreedroidRPG pairs; choose a target language, e.g. de")
    assert message(load_freedroid, "de", "freedroidrpg", root=package) == (
        "unknown FreedroidRPG catalogue 'freedroidrpg' (choose from: freedroidrpg-dialogs, "
        "freedroidrpg-data)")
    assert message(load_freedroid, "de", root=tmp_path).startswith(
        f"{tmp_path}: no FreedroidRPG catalogues here (expected usr/share/locale/<lang>/")


@pytest.mark.parametrize("damage, why", [
    (lambda b: b"\x00\x00\x00\x00" + b[4:], "not a gettext .mo catalogue (bad magic number"),
    (lambda b: b[:40], "corrupt .mo catalogue (3 entries, but the string table"),
    (lambda b: b[:-3], "corrupt .mo catalogue (entry 2 lies outside the file)"),
    (lambda b: b"", "empty file"),
])
def test_a_corrupt_catalogue_is_a_one_line_error_naming_the_file(tmp_path, damage, why):
    path = write_mo(tmp_path, "freedroidrpg-dialogs", "de", {"Bye now.": "Tschüss.",
                                                              "Go on.": "Los."})
    path.write_bytes(damage(path.read_bytes()))
    msg = message(load_freedroid, "de", root=tmp_path)
    assert msg.startswith(f"{path}: ") and why in msg, msg


def test_without_root_only_the_locale_folder_is_fetched(tmp_path, monkeypatch):
    package = fake_package(tmp_path)
    calls = []

    def fake_fetch(name, cache=None, *, licence=None, paths=()):
        calls.append((name, cache, licence, paths))
        return package

    monkeypatch.setattr(freedroid, "debian_package", fake_fetch)
    assert len(load_freedroid("de", cache=tmp_path / "cache")) == 7
    assert calls == [("freedroidrpg-data", tmp_path / "cache", "GPL-2+",
                      ("usr/share/locale",))]


# ---- debian_package(paths=...) on a real .deb, with a stand-in for apt-get ----------------

needs_dpkg = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("dpkg-deb", "tar", "sh")),
    reason="needs dpkg-deb and tar to build and unpack a .deb")


def fake_apt(tmp_path, monkeypatch, deb):
    """apt-get that "downloads" ``deb`` by copying it into the current folder."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text(f'#!/bin/sh\ncp "{deb}" .\n')
    (bin_dir / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def build_deb(tmp_path):
    """freedroidrpg-data_1.0-1_all.deb holding a catalogue, its copyright file and a large
    part that a partial unpack leaves out."""
    tree = tmp_path / "tree"
    write_mo(tree, "freedroidrpg-dialogs", "de", {"Take care now.": "Pass auf dich auf."})
    doc = tree / "usr/share/doc/freedroidrpg-data"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("Format: https://www.debian.org/doc/packaging-manuals/"
                                   "copyright-format/1.0/\n\nFiles: *\nLicense: GPL-2+\n")
    (tree / "usr/share/games/freedroidrpg").mkdir(parents=True)
    (tree / "usr/share/games/freedroidrpg/graphics.bin").write_bytes(b"\x00" * 1000)
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN/control").write_text(
        "Package: freedroidrpg-data\nVersion: 1.0-1\nArchitecture: all\n"
        "Maintainer: Nobody <nobody@example.org>\nDescription: test package\n")
    deb = tmp_path / "freedroidrpg-data_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "-Zgzip", "--build", str(tree), str(deb)], check=True,
                   capture_output=True)
    return deb


@needs_dpkg
def test_a_partial_unpack_has_its_own_folder_and_records_its_paths(tmp_path, monkeypatch):
    fake_apt(tmp_path, monkeypatch, build_deb(tmp_path))
    cache = tmp_path / "cache"
    pairs = load_freedroid("de", cache=cache)
    assert pairs.src == ["Take care now."]
    root = cache / debian.partial_name("freedroidrpg-data", ["./usr/share/locale/"])
    assert root.name.startswith("freedroidrpg-data@") and root.is_dir()
    assert not (root / "usr/share/games").exists()  # left in the .deb
    assert sorted(p.name for p in cache.iterdir()) == [root.name]  # no .deb, no temp folder
    info = debian.read_source(root)
    assert info["version"] == "1.0-1" and info["licence"] == "GPL-2+"
    assert info["unpacked"] == "./usr/share/doc/freedroidrpg-data ./usr/share/locale"
    assert "dpkg-deb --fsys-tarfile" in info["fetched with"]
    assert pairs.source == f"freedroidrpg-data 1.0-1 ({root}; locale de; freedroidrpg-dialogs)"
    # Another set of paths, or the whole package, is never mistaken for this one.
    assert debian.partial_name("freedroidrpg-data", ["usr/share"]) != root.name
    monkeypatch.setattr(shutil, "which", lambda name: None)  # no fetching from here on
    assert load_freedroid("de", cache=cache).src == pairs.src
    assert message(debian.debian_package, "freedroidrpg-data", cache).startswith(
        f"freedroidrpg-data is not in {cache} and apt-get is not available")


@needs_dpkg
def test_a_failed_partial_unpack_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    deb = build_deb(tmp_path)
    fake_apt(tmp_path, monkeypatch, deb)
    cache = tmp_path / "cache"
    msg = message(debian.debian_package, "freedroidrpg-data", cache, paths=["usr/share/nope"])
    assert msg.startswith("`tar -x freedroidrpg-data` failed (tar: ./usr/share/nope: Not "
                          "found in archive): run `apt-get update && "), msg
    assert list(cache.iterdir()) == []
    deb.write_bytes(b"not a debian package")
    msg = message(debian.debian_package, "freedroidrpg-data", cache, paths=["usr/share"])
    assert msg.startswith("`dpkg-deb --fsys-tarfile freedroidrpg-data` failed (dpkg-deb: "), msg
    assert list(cache.iterdir()) == []
