"""Argument parsing helpers: one-line errors, and config flags generated from the config
dataclasses so every setting has exactly one flag, help text and check."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from rnnkit.train.config import SECTIONS, field_types, flag_name, set_field


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (no usage dump) with exit status 2."""

    def error(self, message: str):
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per config field; values are checked later by the config itself,
    so command line, TOML file and recipe share the same checks and messages."""
    for section, cls in SECTIONS.items():
        group = parser.add_argument_group(
            f"{section} settings (base values shown; the recipe, then --config, then these "
            "flags override them)")
        types = field_types(cls)
        for f in dataclasses.fields(cls):
            base, optional = types[f.name]
            choices = f.metadata.get("choices")
            meta = ("|".join(choices) if choices else
                    "PATH" if f.name in ("data", "valid_data") else base.__name__.upper())
            default = "none" if f.default is None else f.default
            group.add_argument(
                f"--{flag_name(f)}", dest=f"cfg.{section}.{f.name}", metavar=meta,
                default=argparse.SUPPRESS,
                help=f"{f.metadata['help']} [base {default}"
                     f"{'; none to unset' if optional else ''}]")


def config_overrides(args: argparse.Namespace) -> dict:
    """The config flags actually given, as a nested dict ``{section: {field: str}}``."""
    out: dict[str, dict] = {}
    for key, value in vars(args).items():
        if key.startswith("cfg."):
            _, section, name = key.split(".")
            out.setdefault(section, {})[name] = value
    return out


def check_overrides(overrides: dict) -> None:
    """Convert/validate the raw strings now so errors name the flag."""
    for section, values in overrides.items():
        probe = SECTIONS[section]()
        for name, value in values.items():
            f = next(f for f in dataclasses.fields(probe) if f.name == name)
            set_field(probe, name, value, source=f"--{flag_name(f)}")


def check_runs_dir(runs_dir: str, run_name: str):
    """``runs_dir/run_name`` as a Path, after checking both can be folders."""
    from pathlib import Path

    from rnnkit.errors import ConfigError

    if not run_name or "/" in run_name or run_name in (".", ".."):
        raise ConfigError(f"--name {run_name!r}: must be a plain folder name")
    parent = Path(runs_dir)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--runs-dir {parent}: cannot create folder ({e.strerror})") from None
    run_dir = parent / run_name
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: exists and is not a folder")
    return run_dir


def text_lines(path: str, what: str = "a text file of sentences"):
    """Lines of ``path`` (standard input for '-'), read through the one file triage."""
    import sys

    if path == "-":
        yield from sys.stdin
        return
    from rnnkit.data.files import open_text_lines

    yield from open_text_lines(path, what)


def add_quantize_flag(parser: argparse.ArgumentParser) -> None:
    """``--quantize int8|bfloat16``: reduced-precision recurrent weights (rnnkit.quantize)."""
    parser.add_argument("--quantize", default="float32", choices=("float32", "int8", "bfloat16"),
                        help="run the recurrent layers' weights in int8 or bfloat16 on the "
                             "native CPU kernels [float32]")
