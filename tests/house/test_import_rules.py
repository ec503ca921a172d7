"""House rules about imports, checked on every test run (the architecture issue "No
function-level imports of faxcore modules unless a comment says why"):

1. a faxcore module imports faxcore modules at its top; an import inside a function is
   allowed only with a ``#`` comment on its line (or the line directly above) saying why
   (start-up time of the CLI, a module that must import without the compiled core or on
   a platform without ptys, an optional dependency, a cycle the layering allows);
2. a test module imports no other module of the test tree (shared fixtures and helpers
   live in a ``conftest.py`` or in ``faxcore.testing``);
3. there are no ``tests/**/test_audit_*.py`` files (the audit tests were merged into the
   test modules of the code they check);
4. ``lint-imports`` (the layering contract in ``.importlinter``) passes.
"""

from __future__ import annotations

import ast
import io
import subprocess
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "faxcore"
TESTS = ROOT / "tests"


def _python_files(top: Path) -> Iterator[Path]:
    yield from sorted(p for p in top.rglob("*.py") if "__pycache__" not in p.parts)


def _comment_lines(source: str) -> set[int]:
    """Line numbers holding a real ``#`` comment (not a ``#`` inside a string)."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {tok.start[0] for tok in tokens if tok.type == tokenize.COMMENT}


def _imported_modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return ["." * node.level + (node.module or "")]


def _function_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements anywhere inside a function body (nested blocks, classes and
    functions included)."""
    def walk(node: ast.AST, in_function: bool) -> Iterator[ast.Import | ast.ImportFrom]:
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child
            yield from walk(child, in_function
                            or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))
    yield from walk(tree, False)


def uncommented_function_imports(package: Path) -> list[str]:
    """``path:line: statement`` for every function-level import of a faxcore module
    (absolute ``faxcore...`` or relative) with no comment on its lines or directly above."""
    found = []
    for path in _python_files(package):
        source = path.read_text(encoding="utf-8")
        comments = _comment_lines(source)
        lines = source.splitlines()
        for node in _function_imports(ast.parse(source, str(path))):
            modules = _imported_modules(node)
            if not any(m == "faxcore" or m.startswith(("faxcore.", ".")) for m in modules):
                continue
            end = node.end_lineno or node.lineno
            if comments & set(range(node.lineno - 1, end + 1)):
                continue
            found.append(f"{path.relative_to(package.parent)}:{node.lineno}: "
                         f"{lines[node.lineno - 1].strip()}")
    return found


def test_function_level_faxcore_imports_say_why() -> None:
    found = uncommented_function_imports(PACKAGE)
    assert not found, (
        f"{len(found)} function-level import(s) of faxcore modules without a comment: "
        "move each to the top of its module, or say on its line (or the line above) why "
        "it must stay in the function:\n  " + "\n  ".join(found))


def _module_files(base: Path, dotted: str) -> list[Path]:
    """The files ``dotted`` (``a.b.c``) can be, relative to the import root ``base``."""
    parts = [p for p in dotted.split(".") if p]
    if not parts:
        return [base / "__init__.py"]
    target = base.joinpath(*parts)
    return [target.with_name(target.name + ".py"), target / "__init__.py"]


def _import_roots(path: Path) -> list[Path]:
    """Where an absolute import in a test may be found: pytest's ``prepend`` import mode
    puts the test's own folder (no ``__init__.py`` in tests/) on sys.path, conftest.py
    folders too; the repository root is on it when pytest runs from there. Every folder
    from the test's up to the root is taken, which errs on the side of flagging."""
    roots = []
    folder = path.parent
    while True:
        roots.append(folder)
        if folder == ROOT or folder == folder.parent:
            break
        folder = folder.parent
    return roots


def _imported_files(path: Path, node: ast.Import | ast.ImportFrom) -> Iterator[Path]:
    """Every file an import statement of the test ``path`` may load."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            for root in _import_roots(path):
                yield from _module_files(root, alias.name)
        return
    if node.level:
        base = path.parent
        for _ in range(node.level - 1):
            base = base.parent
        bases = [base]
    else:
        bases = _import_roots(path)
    for base in bases:
        yield from _module_files(base, node.module or "")
        for alias in node.names:        # ``from pkg import module``
            yield from _module_files(base, f"{node.module or ''}.{alias.name}")


def _test_tree_imports(path: Path) -> list[str]:
    """``path:line: file`` for each import in ``path`` that loads a file of the test
    tree other than a conftest.py."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        for file in _imported_files(path, node):
            if (file.is_file() and file.resolve().is_relative_to(TESTS)
                    and file.name != "conftest.py"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports "
                             f"{file.relative_to(ROOT)}")
    return sorted(set(found))


def test_no_test_module_imports_another() -> None:
    found = [hit for path in _python_files(TESTS) for hit in _test_tree_imports(path)]
    assert not found, ("test modules import other files of the test tree (share code "
                       "through a conftest.py or faxcore.testing):\n  " + "\n  ".join(found))


def test_no_test_module_imports_conftest() -> None:
    """With several conftest.py files in the tree, ``from conftest import`` gets whichever
    one pytest loaded first (tests/sipfax failed to collect beside tests/server): shared
    helpers come from faxcore.testing (e.g. faxcore.testing.peers), fixtures by name."""
    found = []
    for path in _python_files(TESTS):
        if path.name == "conftest.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and "conftest" in _imported_modules(node):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, "test modules import conftest:\n  " + "\n  ".join(found)


def test_no_audit_test_modules() -> None:
    found = sorted(str(p.relative_to(ROOT)) for p in TESTS.rglob("test_audit_*.py"))
    assert not found, f"test_audit_*.py modules are not allowed: {found}"


def test_lint_imports_keeps_the_layering_contract() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    assert lint.is_file(), f"{lint} is missing: install the test extras (pip install -e '.[test]')"
    run = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, f"lint-imports failed:\n{run.stdout}{run.stderr}"
