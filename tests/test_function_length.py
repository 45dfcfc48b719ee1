"""No function in avb_keras/ is over 50 lines of code (issue 23).

A line of code is a line of the function's source that is not blank, not only a
comment and not part of a docstring (its own or a nested function's or class's).
Nested functions count toward the function that holds them, and are measured on
their own too.
"""

import ast
import io
import tokenize
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "avb_keras"
MAX_LINES = 50


def docstring_lines(tree):
    """The line numbers of every docstring in `tree` (module, class or function)."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return lines


def code_lines(source):
    """The line numbers that hold code: a token other than a comment, newline or indent."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER, tokenize.ENCODING}
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            lines.update(range(token.start[0], token.end[0] + 1))
    return lines


def function_lengths(path):
    """{"path:function": lines of code} for every function and method of the file."""
    source = path.read_text()
    tree = ast.parse(source)
    code = code_lines(source) - docstring_lines(tree)
    lengths = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            span = code & set(range(first, node.end_lineno + 1))
            lengths[f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}"] = len(span)
    return lengths


def all_lengths():
    lengths = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        lengths.update(function_lengths(path))
    return lengths


def test_no_function_is_over_50_lines_of_code():
    long = {name: n for name, n in all_lengths().items() if n > MAX_LINES}
    assert not long, "\n".join(f"{name}: {n} lines" for name, n in sorted(long.items()))


if __name__ == "__main__":
    for name, n in sorted(all_lengths().items(), key=lambda item: -item[1])[:25]:
        print(f"{n:4d}  {name}")
