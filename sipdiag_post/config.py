"""Defaults from a project's configuration: sipdiag.toml, or [tool.sipdiag] in pyproject.toml.

Both are read from the working directory; sipdiag.toml wins over
pyproject.toml, and the command line wins over both. Example:

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

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

_LISTS = ("local", "select", "ignore", "decode_as")
_KNOWN = {*_LISTS, "thresholds", "fail_on", "tshark", "jobs"}


class ConfigError(Exception):
    """The configuration file cannot be used (a usage error, exit code 2)."""


@dataclass(frozen=True)
class Config:
    source: Path | None = None  # the file it came from
    local: tuple[str, ...] = ()
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    decode_as: tuple[str, ...] = ()
    thresholds: dict[str, float] = field(default_factory=dict)
    fail_on: str | None = None
    tshark: str | None = None
    jobs: int | None = None


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


def _parse(path: Path, table: dict[str, object]) -> Config:
    values: dict[str, object] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if key not in _KNOWN:
            raise ConfigError(f"{path}: unknown setting {raw_key!r} (known: {', '.join(sorted(_KNOWN))})")
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
    return Config(source=path, **values)  # type: ignore[arg-type]


def load(directory: Path) -> Config:
    """The configuration of a working directory (empty when it has none)."""
    for name in ("sipdiag.toml", "pyproject.toml"):
        path = directory / name
        if path.is_file():
            table = _table(path)
            if table is not None:
                return _parse(path, table)
    return Config()
