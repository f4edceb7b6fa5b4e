"""The suite's own assertions: none compares the contents of a file or an array's bytes with
``==``. On failure pytest explains such a comparison with difflib over every byte (with CI set,
in full), which on a model file runs for longer than CI's time limit; tests compare digests or
use deeplab_tf.export.compare.bytes_difference and numpy.testing, which name the first difference."""

import ast
import pathlib

TESTS = pathlib.Path(__file__).resolve().parent
BYTES_CALLS = {"read_bytes", "tobytes", "getvalue"}


def _bytes_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in BYTES_CALLS


def _short_literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, bytes) and len(node.value) <= 64


def offending_asserts(source: str) -> list[int]:
    """Line numbers of asserts comparing a read_bytes()/tobytes()/getvalue() call with ``==`` or
    ``!=`` against anything but a short bytes literal."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assert):
            continue
        for compare in (n for n in ast.walk(node.test) if isinstance(n, ast.Compare)):
            operands = [compare.left, *compare.comparators]
            for op, left, right in zip(compare.ops, operands[:-1], operands[1:], strict=True):
                if isinstance(op, (ast.Eq, ast.NotEq)) and (_bytes_call(left) or _bytes_call(right)):
                    if not (_short_literal(left) or _short_literal(right)):
                        found.append(node.lineno)
    return found


def test_the_check_finds_what_it_looks_for():
    assert offending_asserts("assert a.read_bytes() == b.read_bytes()\n") == [1]
    assert offending_asserts("x = 1\nassert ok and x.tobytes() != y\n") == [2]
    assert offending_asserts("assert path.read_bytes() == b'short'\nassert f(a) is None\n") == []


def test_no_test_compares_bytes_with_equality():
    found = {
        f"{path.relative_to(TESTS)}:{line}"
        for path in sorted(TESTS.rglob("*.py"))
        for line in offending_asserts(path.read_text())
    }
    assert not found, f"compare with bytes_difference or a digest instead: {sorted(found)}"
