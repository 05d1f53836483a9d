"""The CAN and RV-C layers point one way: read from the sources, every import (local and type-only too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import coachiq

PACKAGE = Path(coachiq.__file__).parent
# The RV-C modules that sit on the CAN service (the rest of coachiq/rvc/ is pure protocol code).
RVC_ON_CAN = {"service.py", "receive.py", "logs.py"}


def imported_modules(path: Path, root: Path = PACKAGE.parent) -> set[str]:
    """Every module `path` (under `root`) imports, anywhere in the file, as an absolute dotted name."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def sources(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def test_imported_modules_sees_local_relative_and_type_only_imports(tmp_path: Path) -> None:
    module = tmp_path / "coachiq" / "can" / "probe.py"
    module.parent.mkdir(parents=True)
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from coachiq.rvc import codec\n"
                      "def f():\n    from ..rvc.spec import SpecDatabase\n", encoding="utf-8")
    assert {"coachiq.rvc", "coachiq.rvc.codec", "coachiq.rvc.spec"} <= imported_modules(module, tmp_path)


@pytest.mark.parametrize("path", sources("can"), ids=lambda p: p.name)
def test_the_can_layer_does_not_import_rvc(path: Path) -> None:
    above = sorted(m for m in imported_modules(path) if m == "coachiq.rvc" or m.startswith("coachiq.rvc."))
    assert not above, f"{path.name} imports {above}: the CAN layer reads and writes frames only"


@pytest.mark.parametrize("path", [p for p in sources("rvc") if p.name.startswith("spec")], ids=lambda p: p.name)
def test_the_spec_does_not_import_the_codec(path: Path) -> None:
    codec = sorted(m for m in imported_modules(path) if m.startswith("coachiq.rvc.codec"))
    assert not codec, f"{path.name} imports {codec}: the spec is data, the codec compiles it"


@pytest.mark.parametrize("path", [p for p in sources("rvc") if p.name not in RVC_ON_CAN], ids=lambda p: p.name)
def test_the_protocol_modules_do_no_io(path: Path) -> None:
    outside = sorted(m for m in imported_modules(path) if m.startswith("coachiq.")
                     and not m.startswith(("coachiq.rvc", "coachiq.can.ids")) and m != "coachiq.can")
    assert not outside, f"{path.name} imports {outside}: the RV-C protocol code stays free of services"
    assert "asyncio" not in imported_modules(path)
