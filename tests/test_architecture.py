"""The library's folders are its layers: no import circle, no import from a lower layer to a
higher one, no UI in the library, and no module longer than one screen can explain without a
reason in its docstring."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "seqrev"

# lowest first; a module may import from its own layer and the layers before it
LAYERS = ("i18n", "base", "tasks", "models", "decoding", "training", "checkpoints", "inspection",
          "runs", "sweeps", "charts", "teaching", "cli")
LONG = 400  # lines
LONG_REASON = "Longer than one screen because"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    if module == "seqrev.__main__":
        return "cli"  # the entry point runs the CLI
    return "base"  # seqrev itself and its top-level modules


def imports_of(path: Path) -> set[str]:
    """Every seqrev module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("seqrev")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("seqrev"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = any((PACKAGE.parent / (candidate.replace(".", "/") + suffix)).exists()
                                for suffix in (".py", "/__init__.py"))
                found.add(candidate if is_module else node.module)
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def test_the_layers_are_the_folders() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(LAYERS) - {"base"}


def test_no_import_reaches_up_a_layer() -> None:
    upward = [f"{name} ({layer_of(name)}) imports {target} ({layer_of(target)})"
              for name, targets in GRAPH.items() for target in targets
              if LAYERS.index(layer_of(target)) > LAYERS.index(layer_of(name))]
    assert upward == []


def test_there_is_no_import_circle() -> None:
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise AssertionError(" -> ".join(path[path.index(name):] + (name,)))
        if name in done:
            return
        for target in GRAPH.get(name, ()):
            if target != name and not name.startswith(target + "."):  # a package's own __init__
                visit(target, path + (name,))
        done.add(name)

    for module in GRAPH:
        visit(module, ())


def test_the_library_never_imports_streamlit() -> None:
    def uses_streamlit(path: Path) -> bool:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n.split(".")[0] == "streamlit" for n in names):
                return True
        return False

    assert [name for name, path in MODULES.items() if uses_streamlit(path)] == []


@pytest.mark.parametrize("path", sorted([*PACKAGE.rglob("*.py"), *(ROOT / "pages").glob("*.py")]),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_a_long_module_says_why(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    if lines > LONG:
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert LONG_REASON in docstring, f"{lines} lines, no '{LONG_REASON} ...' in its docstring"


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The graph is read from the source, so a lazy import inside a function counts too."""
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def f():\n    from seqrev.cli.main import main\n"
                    "    import seqrev.runs.store\n")
    assert imports_of(lazy) == {"seqrev.cli.main", "seqrev.runs.store"}
    assert layer_of("seqrev.cli.main") == "cli" and layer_of("seqrev.errors") == "base"
