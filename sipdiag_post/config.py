"""Defaults from configuration files: the user's, and the working directory's project file.

Two places, the command line winning over both:

- the **user's file**, `$XDG_CONFIG_HOME/sipdiag/config.toml` (an absolute
  XDG_CONFIG_HOME only, as the XDG spec says), else
  `~/.config/sipdiag/config.toml`: any setting, `tshark` included;
- the **project's file** in the working directory, `sipdiag.toml`, else a
  `[tool.sipdiag]` table in `pyproject.toml`: any setting but `tshark`, and it
  wins over the user's file.

Executable paths never come from the working directory: a capture bundle
unpacked from anywhere may hold a `sipdiag.toml` saying `tshark = "./evil.sh"`,
and sipdiag would run it. A `tshark` key in the project's file is refused
with one line (exit code 2) naming the places that may set it: `--tshark`,
`$SIPDIAG_TSHARK` or the user's file. Refused rather than ignored, so that a
setting that once worked does not silently stop applying. Example:

    # sipdiag.toml (in pyproject.toml the same keys go under [tool.sipdiag])
    local = ["203.0.113.0/24"]
    fail-on = "warn"
    ignore = ["SDP005"]
    decode-as = ["tcp.port==6060,sip"]
    jobs = 2

    [thresholds]
    loss_fail_pct = 5
    jitter_fail_ms = 30
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

_LISTS = ("local", "select", "ignore", "decode_as")
_KNOWN = {*_LISTS, "thresholds", "fail_on", "tshark", "jobs"}
_EXECUTABLES = ("tshark",)  # settings that name a program to run: never from the working directory
PROJECT_FILES = ("sipdiag.toml", "pyproject.toml")


class ConfigError(Exception):
    """The configuration file cannot be used (a usage error, exit code 2)."""


@dataclass(frozen=True)
class Config:
    source: Path | None = None  # the project file in the working directory it came from, if any
    user_source: Path | None = None  # the user's file it came from, if any
    local: tuple[str, ...] = ()
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    decode_as: tuple[str, ...] = ()
    thresholds: dict[str, float] = field(default_factory=dict)
    fail_on: str | None = None
    tshark: str | None = None  # only ever from the user's file
    jobs: int | None = None

    @property
    def sources(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.user_source, self.source) if p is not None)


def user_config_path(environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where the user's file is looked for; None when there is no home to look in."""
    xdg = environ.get("XDG_CONFIG_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "sipdiag" / "config.toml"
    home = environ.get("HOME", "")
    if home and os.path.isabs(home):
        return Path(home) / ".config" / "sipdiag" / "config.toml"
    return None


def _table(path: Path) -> dict[str, object] | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        section = tool.get("sipdiag") if isinstance(tool, dict) else None
        return section if isinstance(section, dict) else None
    return data


def _parse(path: Path, table: dict[str, object], *, project: bool) -> dict[str, object]:
    values: dict[str, object] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if key not in _KNOWN:
            raise ConfigError(f"{path}: unknown setting {raw_key!r} (known: {', '.join(sorted(_KNOWN))})")
        if project and key in _EXECUTABLES:
            where = user_config_path() or "~/.config/sipdiag/config.toml"
            raise ConfigError(f"{path}: {raw_key!r} is never read from the working directory (a file there could "
                              f"make sipdiag run any program); name it with --{raw_key}, "
                              f"$SIPDIAG_{key.upper()} or in {where}")
        if key in _LISTS:
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{path}: {raw_key} must be a string or a list of strings")
            values[key] = tuple(value)
        elif key == "thresholds":
            if not isinstance(value, dict) or not all(isinstance(v, int | float) for v in value.values()):
                raise ConfigError(f"{path}: thresholds must be a table of numbers")
            values[key] = {k.replace("-", "_"): float(v) for k, v in value.items()}
        elif key == "jobs":
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{path}: jobs must be a whole number of at least 1")
            values[key] = value
        else:
            if not isinstance(value, str):
                raise ConfigError(f"{path}: {raw_key} must be a string")
            values[key] = value
    return values


def _project(directory: Path) -> tuple[Path | None, dict[str, object]]:
    for name in PROJECT_FILES:
        path = directory / name
        if path.is_file():
            table = _table(path)
            if table is not None:
                return path, _parse(path, table, project=True)
    return None, {}


def _user(environ: Mapping[str, str]) -> tuple[Path | None, dict[str, object]]:
    path = user_config_path(environ)
    if path is None or not path.is_file():
        return None, {}
    return path, _parse(path, _table(path) or {}, project=False)


def load(directory: Path, environ: Mapping[str, str] = os.environ) -> Config:
    """The configuration for a run in a working directory: its project file over the user's file
    (thresholds merged name by name); empty when there is neither."""
    user_path, user = _user(environ)
    project_path, project = _project(directory)
    merged: dict[str, object] = {}
    for f in fields(Config):
        if f.name in project:
            merged[f.name] = project[f.name]
        elif f.name in user:
            merged[f.name] = user[f.name]
    merged["thresholds"] = {**user.get("thresholds", {}), **project.get("thresholds", {})}  # type: ignore[dict-item]
    return Config(source=project_path, user_source=user_path, **merged)  # type: ignore[arg-type]
