"""The shape holds: imports point down, nothing imports in a circle, and nothing grows too big.

Read from the source (every import, including those inside functions and under TYPE_CHECKING), so
a new module is covered the day it is added. docs/architecture.md explains the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("flows", "bot")
MAX_CLASS_LINES = 400
MAX_MODULE_LINES = 600
# A feature may import another only if that one is lower here (supervision reads the journal;
# sessions and team read supervision's links). Everything else goes through hooks.
FEATURE_RANK = {
    "journal": 0,
    "progress": 0,
    "account": 0,
    "supervision": 1,
    "plans": 2,
    "sessions": 3,
    "team": 3,
    "admin": 4,
}
# Below the kernel's turn: what the kernel, the store and the question sets may import.
KERNEL_BASE = {
    "flows.kernel.model",
    "flows.kernel.ids",
    "flows.kernel.crypto",
    "flows.kernel.render",
    "flows.kernel.when",
    "flows.kernel.identifying",
    "flows.kernel.export",
}


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _name(p): p
        for package in PACKAGES
        for p in (ROOT / package).rglob("*.py")
        if "__pycache__" not in p.parts
    }


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `name` imports (a `from package import module` names the module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            targets = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known]
            if not targets:
                targets = [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def _feature(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if parts[:2] == ["flows", "features"] and len(parts) > 2 else None


def _breaks(importer: str, imported: str) -> str | None:
    """Why this import points the wrong way, or None."""
    if importer.startswith("flows.") and imported.startswith("bot"):
        return "flows/ never imports the bot layer"
    if imported == "flows.app" and not importer.startswith("bot"):
        return "only the bot layer imports the composition root"
    low = ("flows.kernel", "flows.store", "flows.questions")
    if importer.startswith(low) and imported.startswith("flows.features"):
        return "the kernel, the store and the question sets import no feature"
    below_store = ("flows.store", *KERNEL_BASE)
    if importer.startswith("flows.store") and not imported.startswith(below_store):
        return "the store imports only the kernel's plain modules"
    if importer in KERNEL_BASE and imported not in KERNEL_BASE:
        return "the kernel's plain modules import nothing of ours above them"
    if importer.startswith("bot") and imported.startswith("flows.features"):
        return "the bot layer knows no feature: it talks to flows.app"
    mine, theirs = _feature(importer), _feature(imported)
    if mine and theirs and mine != theirs and FEATURE_RANK[theirs] >= FEATURE_RANK[mine]:
        return f"feature {mine} may not import {theirs} (same rank or above): use a hook"
    return None


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_imports_point_down() -> None:
    wrong = [
        f"{importer} -> {imported}: {why}"
        for importer, targets in sorted(_graph().items())
        for imported in sorted(targets)
        if (why := _breaks(importer, imported))
    ]
    assert wrong == []


def test_every_feature_is_ranked() -> None:
    features = {p.name for p in (ROOT / "flows" / "features").iterdir() if p.is_dir()}
    assert features - {"__pycache__"} == set(FEATURE_RANK)


def test_the_checks_can_fail() -> None:
    """The walker sees a cycle and an upward import when there is one."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert _breaks("flows.kernel.turn", "flows.features.team.db")
    assert _breaks("flows.features.supervision.links", "flows.features.team.db")
    assert _breaks("bot.delivery", "flows.features.sessions.reminders")
    assert _breaks("flows.features.team.feature", "flows.features.supervision.extend") is None
    graph = _graph()
    assert "flows.kernel.turn" in graph["flows.kernel.feature"]  # imports are really read
    assert "flows.features.supervision.db" in graph["flows.features.team.db"]


def test_nothing_grows_too_big() -> None:
    big = []
    for name, path in sorted(_modules().items()):
        source = path.read_text(encoding="utf-8")
        if source.count("\n") > MAX_MODULE_LINES:
            big.append(f"module {name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_CLASS_LINES:
                    big.append(f"class {name}.{node.name}: {length} lines")
    assert big == []
