"""Reading the Veeam script back as PowerShell would, without PowerShell (a test helper).

Two independent readers, because neither is enough alone:

- the tree-sitter PowerShell grammar (PyPI ``tree-sitter-powershell``) gives the syntax tree:
  commands, sub-expressions, variables, string literals;
- the grammar does not know that PowerShell also ends a single-quoted string at U+2018,
  U+2019, U+201A and U+201B (the tokenizer's ``IsSingleQuote``; two in a row are one literal
  quote, the second), so :func:`read_verbatim` scans every string literal by those rules.

:func:`plan_data` evaluates the ``$Plan`` / ``$NotScheduled`` tables as data and fails on any
node that is not a hash table, an array or a verbatim string: a name that became code would
show up there as a command, a variable or a sub-expression.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import tree_sitter_powershell
from tree_sitter import Language, Node, Parser, Tree

# PowerShell's single-quote characters (its tokenizer's IsSingleQuote), written here from
# the language's rules, not imported from stagger, so the test does not check the code
# against itself.
SINGLE_QUOTES = frozenset("'\u2018\u2019\u201a\u201b")

_PARSER = Parser(Language(tree_sitter_powershell.language()))

# Expression wrappers the grammar puts around every value (each with one value inside).
_WRAPPERS = {
    "pipeline",
    "pipeline_chain",
    "logical_expression",
    "bitwise_expression",
    "comparison_expression",
    "additive_expression",
    "multiplicative_expression",
    "format_expression",
    "range_expression",
    "unary_expression",
}
DATA_NODES = _WRAPPERS | {
    "array_literal_expression",
    "array_expression",
    "statement_list",
    "hash_literal_expression",
    "hash_literal_body",
    "hash_entry",
    "key_expression",
    "simple_name",
    "string_literal",
    "verbatim_string_characters",
    "@(",
    "@{",
    ")",
    "}",
    "=",
    ";",
    ",",
}


class NotData(AssertionError):
    """A node in a data table that is not a literal: a name became code."""


def read_verbatim(text: str, start: int = 0) -> tuple[str, int]:
    """Scan the single-quoted string starting at ``text[start]`` by PowerShell's rules:
    (its value, the index just past its closing quote)."""
    if text[start] not in SINGLE_QUOTES:
        raise NotData(f"not a single-quoted string: {text[start : start + 20]!r}")
    i = start + 1
    out: list[str] = []
    while i < len(text):
        c = text[i]
        if c in SINGLE_QUOTES:
            if i + 1 < len(text) and text[i + 1] in SINGLE_QUOTES:
                out.append(text[i + 1])
                i += 2
                continue
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise NotData("unterminated single-quoted string")


def as_windows_powershell_reads(data: bytes) -> str:
    """The script's text as Windows PowerShell 5.1 decodes a file: UTF-8 with a byte-order
    mark, else the ANSI code page (Windows-1252 on western systems; bytes it leaves
    undefined map to the same code point, as Windows does)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    return "".join(
        bytes([b]).decode("cp1252") if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else chr(b)
        for b in data
    )


def parse(text: str) -> Tree:
    return _PARSER.parse(text.encode("utf-8"))


def _text(node: Node) -> str:
    assert node.text is not None
    return node.text.decode("utf-8")


def walk(node: Node) -> list[Node]:
    out = [node]
    for child in node.children:
        out.extend(walk(child))
    return out


def errors(tree: Tree) -> list[str]:
    """ERROR and MISSING nodes (empty for a script the grammar accepts)."""
    return [
        f"{n.type} at {n.start_point}: {_text(n)[:60]!r}"
        for n in walk(tree.root_node)
        if n.type == "ERROR" or n.is_missing
    ]


def code_nodes(tree: Tree) -> Counter[tuple[str, str]]:
    """Every command, sub-expression, script block and variable, as (type, text)."""
    kinds = {"command", "sub_expression", "script_block", "variable", "invokation_expression"}
    return Counter((n.type, _text(n)) for n in walk(tree.root_node) if n.type in kinds)


def _assignment(tree: Tree, var: str) -> Node:
    for n in walk(tree.root_node):
        if n.type == "assignment_expression":
            left = n.child_by_field_name("left") or n.children[0]
            if _text(left).strip() == var:
                return n
    raise AssertionError(f"no assignment to {var}")


def _value(node: Node) -> Any:
    if node.type not in DATA_NODES:
        raise NotData(f"{node.type} in a data table: {_text(node)[:80]!r}")
    if node.type == "string_literal":
        (inner,) = node.children
        if inner.type != "verbatim_string_characters":
            raise NotData(f"{inner.type} in a data table: {_text(inner)[:80]!r}")
        raw = _text(inner)
        value, end = read_verbatim(raw)
        if end != len(raw):
            raise NotData(f"string ends early by PowerShell's rules: {raw[:80]!r}")
        return value
    if node.type == "array_expression":
        items: list[Any] = []
        for stmt in node.children:
            if stmt.type == "statement_list":
                for pipe in stmt.named_children:
                    v = _value(pipe)
                    items.extend(v if isinstance(v, list) else [v])
        return items
    if node.type == "array_literal_expression":
        parts = [_value(c) for c in node.named_children]
        return parts[0] if len(parts) == 1 else parts
    if node.type == "hash_literal_expression":
        out: dict[str, Any] = {}
        for body in node.named_children:
            for entry in body.named_children:
                key_node, value_node = entry.named_children
                out[_text(key_node)] = _value(value_node)
        return out
    if node.type in _WRAPPERS:
        (child,) = node.named_children
        return _value(child)
    return None  # punctuation


def plan_data(text: str, var: str) -> Any:
    """The value assigned to ``var`` (``$Plan``, ``$NotScheduled``), read as pure data."""
    tree = parse(text)
    node = _assignment(tree, var)
    value_node = node.named_children[-1]
    for n in walk(value_node):
        if n.type not in DATA_NODES:
            raise NotData(f"{n.type} in {var}: {_text(n)[:80]!r}")
    return _value(value_node)
