"""The engine's shape: one-way imports (no cycle among tm_core's modules, counting the imports inside
functions too, so none can hide a cycle) and Streamlit only in tm_core/ui/."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "tm_core"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imported(module: str, path: Path, known: dict[str, Path] | None = None) -> set[str]:
    """Every module name ``module`` imports, anywhere in the file (top level or inside functions).

    ``from pkg import name`` imports ``pkg.name`` when that is a module (``known``), else ``pkg``
    itself (its ``__init__``)."""
    known = modules() if known is None else known
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for a in node.names:
                names.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
    return names


def graph() -> dict[str, set[str]]:
    """tm_core module -> the tm_core modules it imports."""
    mods = modules()
    edges = {}
    for module, path in mods.items():
        targets = set()
        for name in imported(module, path, mods):
            if name in mods and name != module:
                targets.add(name)
        edges[module] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), and self-loops."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_a_cycle_through_a_function_level_import():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    source = "def f():\n    from tm_core.ui import state\n"
    path = REPO / "tests" / "_probe_imports.py"
    try:
        path.write_text(source, encoding="utf-8")
        assert "tm_core.ui.state" in imported("tests._probe_imports", path)
        path.write_text("from tm_core import media, errors\nfrom tm_core.ui.state import Session\n", encoding="utf-8")
        assert {"tm_core.media", "tm_core.errors", "tm_core.ui.state"} <= imported("tests._probe_imports", path)
    finally:
        path.unlink()


def test_tm_core_has_no_import_cycle():
    edges = graph()
    assert len(edges) > 30 and "tm_core.ui.webrtc" in edges and "tm_core.live.video" in edges
    assert cycles(edges) == []


def test_only_tm_core_ui_imports_streamlit():
    offenders, mods = [], modules()
    for module, path in mods.items():
        if module.startswith("tm_core.ui"):
            continue
        names = imported(module, path, mods)
        if any(n == "streamlit" or n.startswith(("streamlit.", "streamlit_webrtc")) for n in names):
            offenders.append(module)
    assert offenders == []


def test_ui_modules_import_each_other_one_way_and_the_engine_never_imports_ui():
    edges = graph()
    engine_to_ui = [(m, t) for m, targets in edges.items() if not m.startswith("tm_core.ui")
                    for t in targets if t.startswith("tm_core.ui")]
    assert engine_to_ui == []
