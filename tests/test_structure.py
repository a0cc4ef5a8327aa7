"""The code's shape: every module imports on its own, data flows one way, the PDML schema doc follows the tap."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sipdiag_post"

# Layers from the bottom up: a module may import its own layer's bottom modules and anything below,
# never above (capture -> tap -> PDML -> model -> analysis -> rules -> report -> render).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("text", "verdict", "responses", "reasons", "model", "emodel", "workers", "output"),
    ("filters", "pdml", "tshark", "config", "inputs", "remote", "follow"),
    ("analysis",),
    ("rules",),
    ("report",),
    ("engine",),
    ("render", "metrics"),
    ("pipeline", "sink"),
    ("continuous", "watch"),
    ("cluster", "probe"),
    ("docs", "cli"),
    ("__main__",),
)


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts))
    return names


MODULES = _modules()


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    if top == "__init__":
        return 0
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    raise AssertionError(f"{module}: not placed in a layer (add it to LAYERS)")


def _imports(module: str) -> set[str]:
    """The sipdiag_post modules a module imports (absolute names)."""
    path = PACKAGE.parent / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("sipdiag_post"):
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("sipdiag_post"))
    return {m for m in found if m in MODULES and m != module}


def test_every_module_is_in_a_layer_and_no_import_runs_upward():
    upward = []
    for module in MODULES:
        for target in _imports(module):
            if target == "sipdiag_post":  # the package face: __version__ only
                continue
            if _layer(target) > _layer(module):
                upward.append(f"{module} imports {target}")
    assert not upward, "imports that run upward:\n" + "\n".join(upward)


def test_the_pdml_reader_and_the_model_load_nothing_above_them():
    code = ("import sys, sipdiag_post.pdml, sipdiag_post.model; "
            "print('\\n'.join(m for m in sys.modules if m.startswith('sipdiag_post')))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                cwd=ROOT).stdout.split())
    assert loaded <= {"sipdiag_post", "sipdiag_post.pdml", "sipdiag_post.model", "sipdiag_post.text"}, loaded


def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    def alone(module: str) -> tuple[str, str]:
        done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, cwd=ROOT)
        return module, done.stderr.strip().splitlines()[-1] if done.returncode else ""

    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [f"{m}: {err}" for m, err in pool.map(alone, MODULES) if err]
    assert len(MODULES) > 40
    assert not failures, "\n".join(failures)


# --- docs/pdml-schema.md in step with the tap ---------------------------------------------

SCHEMA_DOC = (ROOT / "docs" / "pdml-schema.md").read_text()
LUA_SOURCE = "\n".join(p.read_text() for p in sorted((ROOT / "lua").rglob("*.lua")))


def _documented_fields() -> set[str]:
    """First-column names of the field tables; `a.b.src` / `.dst` names a.b.dst too, and
    `x.rtt_mean_ms` / `_min_ms` names x.rtt_min_ms."""
    names = set()
    for cell in re.findall(r"^\| (`sipdiag\.[^|]+) \|", SCHEMA_DOC, re.M):
        first, *others = re.findall(r"`([^`]+)`", cell)
        names.add(first)
        parent, _, last = first.rpartition(".")
        for other in others:
            if other.startswith("."):
                names.add(parent + other)
            elif other.startswith("_"):
                names.add(f"{parent}.{last.rsplit('_', 2)[0]}{other}")
    return names


def _golden_fields() -> set[str]:
    names = set()
    for golden in (ROOT / "fixtures").glob("*/expected.pdml"):
        names.update(re.findall(r'<(?:field|proto) name="(sipdiag\.[a-z_.]+)"', golden.read_text()))
    return names


def test_the_schema_doc_names_the_version_the_tap_writes():
    written = re.search(r'SCHEMA_VERSION = "(\d+\.\d+)"', LUA_SOURCE)
    assert written, "the tap declares SCHEMA_VERSION"
    assert SCHEMA_DOC.startswith(f"# The sipdiag PDML schema, version {written.group(1)}\n")
    assert f'sipdiag_schema="{written.group(1)}"' in SCHEMA_DOC
    assert re.search(rf"^\| {re.escape(written.group(1))} \|", SCHEMA_DOC, re.M), "a changelog row for it"


def test_every_field_the_tap_writes_in_the_fixtures_is_documented():
    protos = {"sipdiag.capture", "sipdiag.call", "sipdiag.unlinked"}
    missing = sorted(_golden_fields() - _documented_fields() - protos)
    assert not missing, f"written by the tap but not in docs/pdml-schema.md: {missing}"


@pytest.mark.parametrize("name", sorted(_documented_fields()))
def test_every_documented_field_is_written_by_the_tap_or_the_runner(name):
    parent, _, last = name.rpartition(".")
    runner = (PACKAGE / "pdml.py").read_text()
    literal = f'"{name}"' in LUA_SOURCE or f'"{name}"' in runner or f'"{last}"' in runner
    composed = f'"{parent}' in LUA_SOURCE and f'".{last}"' in LUA_SOURCE
    assert literal or composed, f"{name} is documented but nothing writes it"
