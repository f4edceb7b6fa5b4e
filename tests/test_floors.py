"""The package's floors: each package of deeplab_tf imports only packages below it.

The order is the fenced block under "## Floors" in WORKSPACE.md (top floor first); this test
reads it there and walks every module's imports with ``ast``, at module level and inside
functions alike (an import inside a function is a tie all the same). Imports under
``if TYPE_CHECKING:`` are annotations, not ties at run time, and are skipped."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "deeplab_tf"


def floors(workspace_text: str) -> list[str]:
    """The packages of the "## Floors" block, bottom floor first."""
    match = re.search(r"^## Floors\n.*?^```\n(.*?)^```", workspace_text, re.S | re.M)
    assert match, "WORKSPACE.md has no fenced block under '## Floors'"
    return [line.split()[0] for line in reversed(match.group(1).splitlines()) if line.strip()]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST):
    """(line, imported module) of every import, skipping ``if TYPE_CHECKING:`` bodies."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (found for stmt in node.orelse for found in _imports_of(stmt))
            continue
        yield from _imports_of(node)


def _imports_of(node: ast.AST):
    if isinstance(node, ast.Import):
        yield from ((node.lineno, alias.name) for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        # ``from deeplab_tf import training`` imports the package named by the alias
        names = [f"{node.module}.{alias.name}" for alias in node.names] if node.module == "deeplab_tf" else [node.module]
        yield from ((node.lineno, name) for name in names)
    else:
        yield from _imports(node)


def upward_imports(source: str, package: str, order: list[str]) -> list[str]:
    """``"line: module"`` of each import in ``source`` (a module of ``package``) of a
    deeplab_tf package on the same floor or above; relative imports stay in the package."""
    found = []
    for line, module in _imports(ast.parse(source)):
        parts = module.split(".")
        if parts[0] != "deeplab_tf" or len(parts) < 2 or parts[1] == package:
            continue
        target = parts[1]
        if target not in order:
            continue  # a top-level module of deeplab_tf (none imports a package)
        if order.index(target) >= order.index(package):
            found.append(f"{line}: {module}")
    return found


def test_the_check_finds_what_it_looks_for():
    order = ["artifacts", "configs", "training", "export"]
    source = (
        "from typing import TYPE_CHECKING\n"
        "from deeplab_tf.configs.base import X\n"
        "if TYPE_CHECKING:\n    from deeplab_tf.export import Y\n"
        "def f():\n    from deeplab_tf.export.export import g\n"
        "    import deeplab_tf.training.trainer\n"
        "    from deeplab_tf import export, artifacts\n"
        "from . import sibling\n"
    )
    assert upward_imports(source, "training", order) == ["6: deeplab_tf.export.export", "8: deeplab_tf.export"]
    assert upward_imports(source, "configs", order) == [
        "6: deeplab_tf.export.export",
        "7: deeplab_tf.training.trainer",
        "8: deeplab_tf.export",
    ]
    assert upward_imports(source, "export", order) == []


def test_floors_name_every_package_once():
    order = floors((ROOT / "WORKSPACE.md").read_text(encoding="utf-8"))
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert sorted(order) == packages, f"WORKSPACE.md's floors {order} must name each package of {packages} once"


def test_every_package_imports_only_packages_below_it():
    order = floors((ROOT / "WORKSPACE.md").read_text(encoding="utf-8"))
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if len(relative.parts) < 2:
            continue  # deeplab_tf/__init__.py sets up Keras and imports no package
        for found in upward_imports(path.read_text(encoding="utf-8"), relative.parts[0], order):
            problems.append(f"deeplab_tf/{relative}:{found}")
    assert not problems, "imports of a package on the same floor or above (see WORKSPACE.md, Floors):\n" + "\n".join(
        problems
    )
