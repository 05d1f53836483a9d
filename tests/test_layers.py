"""The package's layers point one way: no module imports a layer above its own.

Every import in every source file counts, including those made inside functions and those made only for
type checking: a type from a higher layer is a dependency on it all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import coachiq

PACKAGE = Path(coachiq.__file__).parent

# Lowest first. A module may import its own layer and any layer listed before it, never one after it.
# The top-level modules (coachiq/runtime.py, ...) are layers of their own, named by their module.
LAYERS: list[tuple[str, ...]] = [
    ("core",),                        # services, tasks, events, topics, alerts, errors, metrics: the leaf
    ("settings",),                    # configuration, validated
    ("db",),                          # the database and its migrations
    ("persistence",),                 # settings, audit log and history stored in the database
    ("can",),                         # frames in and out of the CAN interfaces
    ("rvc",),                         # the RV-C protocol: definitions and codec
    ("sim",),                         # the simulated coach on a virtual bus
    ("entities",),                    # devices of the coach, their state and commands
    ("state",),                       # the vehicle's safety state and the motion supervisor
    ("realtime",),                    # the WebSocket hub
    ("web", "api"),                   # the page's files; the HTTP API
    ("composition",),                 # the core services composed in their start order
    ("features",),                    # optional features, handed the composed core
    ("runtime",),                     # one running server: the core, the features, the health loop
    ("app", "bench"),                 # the HTTP application; the benchmarks
    ("server",),                      # the HTTP server around the app
    ("cli",),                         # the command line
]

# Imports that point the wrong way today, each with the reason it stays for now: (importer, imported).
# An entry here that no longer matches an import fails the test, so the list only shrinks.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


def _rank_of() -> dict[str, int]:
    return {name: rank for rank, names in enumerate(LAYERS) for name in names}


def layer_of(module: str) -> str:
    """The layer of a dotted module name inside the package ("coachiq.can.pipeline" -> "can")."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """The dotted name of a source file of the package in folder `package`."""
    relative = path.relative_to(package.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, package: Path = PACKAGE) -> set[str]:
    """Every coachiq module a source file imports, anywhere in it (relative imports resolved)."""
    module = module_name(path, package)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
    return {name for name in found if name == "coachiq" or name.startswith("coachiq.")}


def upward_imports(package: Path = PACKAGE) -> dict[tuple[str, str], str]:
    """(importer, imported layer's package) for every import of a higher layer, with the two layers."""
    rank = _rank_of()
    found: dict[tuple[str, str], str] = {}
    for path in sorted(package.rglob("*.py")):
        importer = module_name(path, package)
        own = layer_of(importer)
        if own == "__init__":
            continue
        for imported in imports_of(path, package):
            other = layer_of(imported)
            if other == "__init__" or other == own:
                continue
            if rank[other] > rank[own]:
                found[(importer, f"coachiq.{other}")] = f"{own} imports {other}"
    return found


def test_every_module_belongs_to_a_layer() -> None:
    rank = _rank_of()
    layers = {layer_of(module_name(path)) for path in PACKAGE.rglob("*.py")} - {"__init__"}
    assert not layers - rank.keys(), f"modules outside every layer: {sorted(layers - rank.keys())}; add them to LAYERS"


def test_no_module_imports_a_layer_above_its_own() -> None:
    wrong = {pair: why for pair, why in upward_imports().items() if pair not in KNOWN_EXCEPTIONS}
    assert not wrong, "imports that point up the layers:\n" + "\n".join(
        f"  {importer} -> {imported} ({why})" for (importer, imported), why in sorted(wrong.items()))


def test_known_exceptions_still_exist() -> None:
    stale = KNOWN_EXCEPTIONS.keys() - upward_imports().keys()
    assert not stale, f"these imports no longer point up; remove them from KNOWN_EXCEPTIONS: {sorted(stale)}"


def test_core_is_a_leaf() -> None:
    for path in (PACKAGE / "core").rglob("*.py"):
        outside = {name for name in imports_of(path) if layer_of(name) not in ("core", "__init__")}
        assert not outside, f"{module_name(path)} imports {sorted(outside)}; core imports no other layer"


def test_the_check_sees_upward_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    package = tmp_path / "coachiq"
    (package / "core").mkdir(parents=True)
    (package / "core" / "lazy.py").write_text("def f() -> None:\n    from coachiq.state.manager import StateManager\n")
    (package / "core" / "relative.py").write_text("from ..entities import manager\n")
    (package / "state").mkdir()
    (package / "state" / "fine.py").write_text("from coachiq.core import lazy\n")
    assert upward_imports(package) == {("coachiq.core.lazy", "coachiq.state"): "core imports state",
                                       ("coachiq.core.relative", "coachiq.entities"): "core imports entities"}
