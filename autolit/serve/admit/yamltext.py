"""YAML text from HTTP into a plain dict: ``yaml.safe_load`` behind caps a hostile body cannot pass.

``safe_load`` builds no Python objects, but it still expands aliases: ten nested anchors of ten
aliases each ("billion laughs") compose to a few hundred bytes and walk as 10^10 nodes, and an
anchor inside itself makes a cycle that never ends. The document is composed first and its node
graph measured as it would be walked (aliases expanded) before anything is constructed: a size
cap, a node cap, a depth cap, no cycles. Only JSON-like values pass (strings, finite numbers that
fit 64 bits, booleans, null, lists, string-keyed mappings without duplicate keys): a timestamp, a
``!!binary`` or a ``!!set`` is refused with its line, as are several documents in one body.
"""

from __future__ import annotations

import math

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from autolit.serve.admit.errors import AdmissionError

MAX_NODES = 100_000  # expanded nodes; the largest shipped config has a few hundred
MAX_DEPTH = 64
MAX_INT = 2**63 - 1
_TAG = "tag:yaml.org,2002:"
SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}
FIX = "send one plain YAML mapping (strings, numbers, true/false, null, lists and mappings)"


def parse_yaml_text(text: str, *, max_bytes: int, what: str) -> dict:
    """``text`` (one YAML mapping) as a dict; an :class:`AdmissionError` names the problem and line.

    ``what`` names the text in messages (``fit config``, ``search config``).
    """
    if not isinstance(text, str):
        raise AdmissionError(what, type(text).__name__, "is not text", FIX)
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise AdmissionError(what, f"character {exc.start}", "is not valid UTF-8 text", FIX) from None
    if size > max_bytes:
        raise AdmissionError(what, f"{size} bytes", f"is larger than the limit of {max_bytes} bytes",
                             "send a smaller config (large data belongs in files under a data root)")
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        node = _single_node(loader, what)
        _Measure(what).walk(node)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is None and isinstance(exc, yaml.reader.ReaderError):  # a control character
            line = f"line {text[:exc.position].count(chr(10)) + 1}"
        else:
            line = f"line {mark.line + 1}" if mark is not None else "the text"
        problem = getattr(exc, "problem", None) or str(exc)
        raise AdmissionError(what, line, f"is not valid YAML ({' '.join(str(problem).split())})", FIX) from None
    except RecursionError:
        raise AdmissionError(what, f"{size} bytes", f"nests deeper than {MAX_DEPTH} levels", FIX) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data


def _single_node(loader: yaml.SafeLoader, what: str) -> MappingNode:
    if not loader.check_node():
        raise AdmissionError(what, "(nothing)", "is empty", FIX)
    node = loader.get_node()
    if loader.check_node():  # another document follows (`---`)
        nxt = loader.get_node()
        raise AdmissionError(what, f"line {nxt.start_mark.line + 1}", "starts a second YAML document",
                             "send exactly one document (no second `---`)")
    if not isinstance(node, MappingNode) or node.tag != _TAG + "map":
        raise AdmissionError(what, f"line {node.start_mark.line + 1}", "is not a mapping at the top",
                             "send a mapping of sections, e.g. trainer:, model:, data:")
    return node


class _Measure:
    """Walk the composed node graph as construction and every later walk would: aliases expanded."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, depth)
        self.open: set[int] = set()
        self.total = 0

    def walk(self, node: Node, level: int = 1) -> tuple[int, int]:
        """(expanded node count, depth) of ``node``'s subtree, found at nesting ``level``."""
        known = self.sizes.get(id(node))
        if known is not None:  # an alias: its subtree counts again wherever it is used
            self._add(known[0], node)
            if level + known[1] - 1 > MAX_DEPTH:
                self._refuse(node, f"nests deeper than {MAX_DEPTH} levels", FIX)
            return known
        if id(node) in self.open:
            self._refuse(node, "refers to itself (a recursive anchor)", "write the value out instead of an alias")
        if level > MAX_DEPTH:
            self._refuse(node, f"nests deeper than {MAX_DEPTH} levels", FIX)
        self.open.add(id(node))
        count, depth = 1, 1
        self._add(1, node)
        for child in self._children(node):
            sub_count, sub_depth = self.walk(child, level + 1)
            count, depth = count + sub_count, max(depth, sub_depth + 1)
        self.open.discard(id(node))
        self.sizes[id(node)] = (count, depth)
        return count, depth

    def _add(self, count: int, node: Node) -> None:
        self.total += count
        if self.total > MAX_NODES:
            self._refuse(node, f"expands to more than {MAX_NODES} values (aliases counted where used)",
                         "write the config without nested aliases (a 'billion laughs' body is refused)")

    def _children(self, node: Node) -> list[Node]:
        if isinstance(node, ScalarNode):
            self._scalar(node)
            return []
        if isinstance(node, SequenceNode):
            if node.tag != _TAG + "seq":
                self._refuse(node, f"has the tag {node.tag}", FIX)
            return list(node.value)
        if node.tag != _TAG + "map":
            self._refuse(node, f"has the tag {node.tag}", FIX)
        seen: set[str] = set()
        for key, _ in node.value:
            if not isinstance(key, ScalarNode) or key.tag != _TAG + "str":
                kind = "a merge key (<<)" if key.tag == _TAG + "merge" else f"a {key.tag.rsplit(':', 1)[-1]} key"
                self._refuse(key, f"is {kind}; mapping keys must be plain strings", "quote the key, or write it out")
            if key.value in seen:
                self._refuse(key, f"repeats the key {key.value!r}", "give each key once")
            seen.add(key.value)
        return [n for pair in node.value for n in pair]

    def _scalar(self, node: ScalarNode) -> None:
        if node.tag not in SCALAR_TAGS:
            self._refuse(node, f"is a {node.tag.rsplit(':', 1)[-1]} value", "quote it to make it a string")
        if node.tag == _TAG + "float":
            number = yaml.SafeLoader.construct_yaml_float(_CONSTRUCTOR, node)
            if not math.isfinite(number):
                self._refuse(node, f"is {node.value} (not a finite number)", "give a finite number")
        elif node.tag == _TAG + "int":
            try:
                number = yaml.SafeLoader.construct_yaml_int(_CONSTRUCTOR, node)
            except ValueError:
                number = MAX_INT + 1
            if abs(number) > MAX_INT:
                self._refuse(node, "is an integer beyond 64 bits", "give a smaller number")

    def _refuse(self, node: Node, why: str, fix: str) -> None:
        raise AdmissionError(self.what, f"line {node.start_mark.line + 1}", why, fix)


_CONSTRUCTOR = yaml.SafeLoader("")  # construct_yaml_int/float need a loader object, never its stream
