"""Parse checks for the app sources with tree-sitter grammars from PyPI (tests/mobile/test_android.py, test_ios.py)."""

import pathlib

import pytest


def parser_for(language: str):
    """A tree-sitter parser for "kotlin" or "swift" (skips the test when the [test] extra is not installed)."""
    tree_sitter = pytest.importorskip("tree_sitter")
    grammar = pytest.importorskip(f"tree_sitter_{language}")
    return tree_sitter.Parser(tree_sitter.Language(grammar.language()))


def syntax_errors(parser, source: bytes) -> list[str]:
    """``line:column: ERROR|MISSING <text>`` for every error or missing node of the parse."""
    problems = []
    stack = [parser.parse(source).root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            row, col = node.start_point
            kind = "MISSING" if node.is_missing else "ERROR"
            text = source[node.start_byte : node.end_byte][:60].decode("utf-8", "replace")
            problems.append(f"{row + 1}:{col + 1}: {kind} {node.type} {text!r}")
        elif node.has_error:
            stack.extend(node.children)
    return sorted(problems)


def files_with_errors(parser, files: list[pathlib.Path], root: pathlib.Path) -> dict[str, list[str]]:
    """Relative path -> its syntax errors, for the files that have any."""
    found = {}
    for path in files:
        errors = syntax_errors(parser, path.read_bytes())
        if errors:
            found[str(path.relative_to(root))] = errors
    return found
