"""The fillets-ng dialogue reader on a small fake package tree written in the real files'
format, and the Debian fetch-and-unpack cache (with fake apt-get/dpkg; no network)."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from helpers import data_error_message as message
from rnnkit.data import debian, fillets
from rnnkit.data.parallel import split_by_group

SCRIPT = fillets.SCRIPT_DIR

# Entries as the package writes them: a call spanning two lines (nowall), escaped quotes
# and backslashes, a trailing comment, an id redefined in one file (es), an empty entry
# (ending), an untranslated one, a dialogStr given three arguments (rush/dialogs_bg.lua).
AIRPLANE_FR = r'''
dialogId("let-m-divna", "font_small", "What kind of strange ship is that?")
dialogStr("Quel est ce drôle de navire ?")


dialogId("m-uvedomit", "font_small",
"You’re in the \"cylinder\" at C:\\WINDOWS.")
dialogStr("Tu es dans le \"cylindre\" à C:\\WINDOWS.") -- FIXME "cylindre"

-- Random text
dialogId("rand-0", "font_big", "Look, a fish.")
dialogStr("Regarde, un poisson.")

dialogId("rand-0", "font_big", "Look, a fish!")
dialogStr("Regarde, un poisson !")

dialogId("laser", "", "")
dialogStr("")

dialogId("let-v-nic", "font_big", "Nothing here.")

dialogId("let-v-fotka", "font_big", "What are you doing?")
dialogStr("let-v-fotka", "font_big", "Que fais-tu ?")
'''
AIRPLANE_DE = '''dialogId("let-m-divna", "font_small", "What kind of strange ship is that?")
dialogStr("Was für ein seltsames Schiff ist das denn?")
'''
AIRPLANE_EN = '''dialogId("let-m-divna", "font_small", "What kind of strange ship is that?")
'''
BARREL_FR = '''dialogId("rand-0", "font_small", "This barrel stinks.")
dialogStr("Ce baril pue.")
dialogId("bar-x-\\/etc", "font_small", "It’s \\/etc.")
dialogStr('C\\'est /etc.')
'''
SHARE_FR = '''dialogId("smrt-v-1", "font_big", "Darn.")
dialogStr("Malheur.")
'''


def fake_package(root):
    """root/usr/share/games/fillets-ng/script/... as in fillets-ng-data, in miniature."""
    files = {"airplane/dialogs_fr.lua": AIRPLANE_FR, "airplane/dialogs_de.lua": AIRPLANE_DE,
             "airplane/dialogs_de_CH.lua": AIRPLANE_DE, "airplane/dialogs_en.lua": AIRPLANE_EN,
             "airplane/dialogs.lua": 'dialogLoad("script/"..codename.."/")\n',
             "barrel/demo_dialogs_fr.lua": BARREL_FR, "rotate/dialogs_fr.lua": "",
             "share/black_dialogs_fr.lua": SHARE_FR}
    for name, text in files.items():
        path = root / SCRIPT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_read_dialogs_resolves_escapes_and_multiline_calls(tmp_path):
    root = fake_package(tmp_path)
    dialogs, skipped = fillets.read_dialogs(root / SCRIPT / "airplane/dialogs_fr.lua")
    assert [(d.id, d.line) for d in dialogs][:3] == [("let-m-divna", 2), ("m-uvedomit", 6),
                                                     ("rand-0", 11)]
    assert dialogs[1].english == 'You’re in the "cylinder" at C:\\WINDOWS.'
    assert dialogs[1].translation == 'Tu es dans le "cylindre" à C:\\WINDOWS.'
    assert dialogs[-1].translation is None and skipped == {"malformed": 1, "no dialogId": 0}
    barrel, _ = fillets.read_dialogs(root / SCRIPT / "barrel/demo_dialogs_fr.lua")
    assert (barrel[1].id, barrel[1].translation) == ("bar-x-/etc", "C'est /etc.")


def test_load_fillets_pairs_groups_ids_and_skips(tmp_path):
    root = fake_package(tmp_path)
    assert fillets.languages(root) == ["de", "de_CH", "fr"]
    p = fillets.load_fillets("fr", root)
    assert p.ids == ["airplane/let-m-divna", "airplane/m-uvedomit", "airplane/rand-0",
                     "barrel/rand-0", "barrel/bar-x-/etc", "share/smrt-v-1"]
    assert p.groups == ["airplane"] * 3 + ["barrel"] * 2 + ["share"]
    # the same id in two levels with different text; in one file, the last one counts
    assert p.src[2:4] == ["Look, a fish!", "This barrel stinks."]
    assert p.src[1] == 'You\'re in the "cylinder" at C:\\WINDOWS.'  # straight quotes
    assert p.skipped == {"empty": 1, "untranslated": 2, "redefined": 1, "malformed": 1}
    assert (p.src_lang, p.tgt_lang) == ("en", "fr")
    curly = fillets.load_fillets("fr", root / SCRIPT, quotes=False)  # the script folder
    assert curly.src[1].startswith("You’re")
    de = fillets.load_fillets("de_CH", root)
    assert de.tgt == ["Was für ein seltsames Schiff ist das denn?"] and de.skipped == {}
    train, valid, test = split_by_group(p, 0.2, 0.2, seed=0)
    assert sorted(train.group_names + valid.group_names + test.group_names) == [
        "airplane", "barrel", "share"]


def test_load_fillets_bad_language_and_folder(tmp_path):
    root = fake_package(tmp_path)
    assert message(fillets.load_fillets, "xx", root) == (
        "unknown fillets-ng language 'xx' (choose from: de, de_CH, fr)")
    assert message(fillets.load_fillets, "en", root).startswith("en is the source side")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert message(fillets.load_fillets, "fr", empty).startswith(
        f"{empty}: no fillets-ng dialogue here (expected {SCRIPT}/<level>/dialogs_<lang>.lua")
    assert message(fillets.load_fillets, "fr", tmp_path / "nope").startswith(
        f"{tmp_path / 'nope'}: no such folder, expected the unpacked fillets-ng-data package: "
        "run `apt-get update && ")
    bad = root / SCRIPT / "barrel/dialogs_fr.lua"
    bad.write_text('dialogId("a", "font_big", "Open\ndialogStr("x")\n', encoding="utf-8")
    assert message(fillets.load_fillets, "fr", root) == f"{bad}: line 1: unterminated string"


def test_the_cache_is_found_without_fetching(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path / "cache"))
    fake_package(tmp_path / "cache" / fillets.PACKAGE)
    (tmp_path / "cache" / fillets.PACKAGE / "SOURCE.txt").write_text("version: 9.9-1\n")
    monkeypatch.setattr(shutil, "which", lambda name: pytest.fail("tried to fetch"))
    p = fillets.load_fillets("fr")
    assert len(p) == 6 and p.source.startswith("fillets-ng-data 9.9-1 (")


def test_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("RNNKIT_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert debian.cache_dir() == tmp_path / "rnnkit" / "data"
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path / "d"))
    assert debian.cache_dir() == tmp_path / "d"


def test_missing_apt_get_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert message(fillets.load_fillets, "fr") == (
        f"fillets-ng-data is not in {tmp_path / 'cache'} and apt-get is not available to fetch "
        "it: run `apt-get update && apt-get download fillets-ng-data && dpkg -x "
        "fillets-ng-data_*.deb DIR` on a Debian/Ubuntu machine, then pass --data DIR (the "
        "folder holding usr/)")


# ---- the fetch itself, with stand-ins for apt-get and dpkg --------------------------------

needs_posix = pytest.mark.skipif(sys.platform == "win32", reason="shell-script stand-ins")


def fake_tools(tmp_path, monkeypatch, dpkg_fails=False, apt_fails=False):
    """apt-get that writes a .deb named as Debian does (epoch ':' as %3a), and dpkg -x that
    copies a fake package tree, or fails half-way."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tree = fake_package(tmp_path / "tree")
    apt = ('echo "E: Unable to locate package $2" >&2; exit 100' if apt_fails else
           'printf "debian package" > "${2}_1%3a1.0.1-1.1_all.deb"')
    dpkg = ('mkdir -p "$3/usr"; exit 2' if dpkg_fails
            else f'mkdir -p "$3" && cp -r "{tree}/usr" "$3/"')
    for name, body in (("apt-get", apt), ("dpkg", dpkg)):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


@needs_posix
def test_fetch_unpacks_atomically_and_records_the_source(tmp_path, monkeypatch):
    fake_tools(tmp_path, monkeypatch)
    cache = tmp_path / "cache"
    root = debian.debian_package("fillets-ng-data", cache, licence="GPL-2")
    assert root == cache / "fillets-ng-data" and (root / SCRIPT / "airplane").is_dir()
    info = debian.read_source(root)
    assert info["package"] == "fillets-ng-data" and info["version"] == "1:1.0.1-1.1"
    assert info["licence"] == "GPL-2" and len(info["sha256"]) == 64
    assert sorted(p.name for p in cache.iterdir()) == ["fillets-ng-data"]  # no .deb, no temp
    assert len(fillets.load_fillets("fr", cache=cache)) == 6


@needs_posix
@pytest.mark.parametrize("failing", ["apt", "dpkg"])
def test_a_failed_fetch_leaves_nothing_behind(tmp_path, monkeypatch, failing):
    fake_tools(tmp_path, monkeypatch, dpkg_fails=failing == "dpkg",
               apt_fails=failing == "apt")
    cache = tmp_path / "cache"
    msg = message(debian.debian_package, "fillets-ng-data", cache)
    if failing == "apt":
        assert msg.startswith("`apt-get download fillets-ng-data` failed (E: Unable to locate "
                              "package fillets-ng-data): run `apt-get update && ")
    else:
        assert msg.startswith("`dpkg -x fillets-ng-data` failed (exit status 2): run")
    assert list(cache.iterdir()) == []
