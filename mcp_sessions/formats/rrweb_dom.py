"""The page as rrweb saw it: a node map that names what a click or an input landed on.

An rrweb interaction never repeats the DOM: a click is `{"source": 2, "type": 2, "id": 57}`.
The id is a node of the last full snapshot (event type 2, a serialized tree) or of a later
mutation (incremental source 0). So the map is rebuilt as the replayer does it:

    full snapshot ──► reset, load the tree (node: id, type 2=Element/3=Text, tagName,
                      attributes, childNodes)
    mutation      ──► removes (the node and its subtree) ──► adds (parentId, nextId, node)
                      ──► texts (id, value) ──► attributes (id, {name: value | null})

`removes` come before `adds` within one mutation, so an id removed and re-added (select2
rebuilds its dropdown that way) ends up present. `nextId` is the sibling to insert before;
when that sibling is not known yet the node is appended (only child order, hence text order,
can suffer). An element is then named the way a person, or an accessible-name algorithm,
would: see `Dom.describe`.

Only attributes that help to name an element (and `autocomplete`, which says what a field is
for, for the input allow-list) are kept. Never `value`: rrweb stores the live
value of every input, textarea and select there (a typed password included), except on
submit/button/reset inputs, whose `value` is their caption. `style` may arrive as an object
(a style diff) and is dropped with the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mcp_sessions.formats.coerce import expect_dict, expect_list
from mcp_sessions.numbers import whole_number

TEXT_LIMIT = 40  # characters of an element's text used as its name
_ATTR_LIMIT = 200
_SCAN_LIMIT = 2_000  # nodes visited when gathering one element's text
_ANCESTORS = 6  # levels climbed from a clicked <span> to the <button> around it
_KEPT = frozenset(
    {
        "id",
        "class",
        "role",
        "aria-label",
        "aria-labelledby",
        "name",
        "placeholder",
        "type",
        "for",
        "href",
        "title",
        "alt",
        "autocomplete",
    }
    | {"data-testid", "data-test-id", "data-test", "data-cy", "data-qa"}
)
_TESTIDS = ("data-testid", "data-test-id", "data-test", "data-cy", "data-qa")
_CAPTION_INPUTS = frozenset({"submit", "button", "reset"})
_NO_TEXT = frozenset({"script", "style", "noscript", "template", "textarea", "select", "input", "head", "svg"})
_LABELABLE = frozenset({"input", "select", "textarea", "button", "meter", "output", "progress"})
_INTERACTIVE_TAGS = frozenset({"a", "button", "input", "select", "textarea", "label", "summary", "option"})
_INTERACTIVE_ROLES = frozenset(
    {"button", "link", "checkbox", "radio", "tab", "switch", "option", "combobox", "textbox", "searchbox"}
    | {"menuitem", "menuitemcheckbox", "menuitemradio", "treeitem", "gridcell", "slider", "spinbutton"}
)
# Roles whose accessible name is their own text (WAI-ARIA "name from content"): for these the
# visible text beats an id, so a person reads `click button "Place order"`, not `button#btn-3`.
_NAMED_BY_CONTENT = frozenset(
    {"button", "link", "option", "tab", "menuitem", "menuitemcheckbox", "menuitemradio", "treeitem"}
    | {"heading", "cell", "gridcell", "columnheader", "rowheader", "switch", "summary", "label", "tooltip"}
)
_CSS_IDENT = re.compile(r"\A-?[A-Za-z_][\w-]*\Z")


@dataclass(slots=True)
class _Node:
    tag: str  # lowercase tag name; "#text", "#document", "#other" for the rest
    parent: int | None
    attrs: dict[str, str] = field(default_factory=dict)
    text: str = ""
    children: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Target:
    """What an interaction landed on: a phrase for the summary, a selector, the facts found."""

    phrase: str  # 'button "Place order"', 'input#email', 'checkbox'
    selector: str  # 'button:has-text("Place order")', '#email', '[data-testid="pay"]'
    role: str  # explicit `role`, else implied by the tag (link, button, checkbox, ...)
    detail: dict[str, str]  # tag, id, role, text, testid, name, label, placeholder, input_type
    autocomplete: str | None = None  # the field's purpose (`search`, `cc-number`), judged by the input allow-list

    def input_facts(self) -> dict[str, str | None]:
        """What an input allow-list may match (and must check for secrets): names, type, purpose."""
        return {**self.detail, "autocomplete": self.autocomplete}


class Dom:
    """Node id → node, for the page currently recorded (reset by every full snapshot)."""

    def __init__(self) -> None:
        self._nodes: dict[int, _Node] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def load(self, root: Any, where: str) -> None:
        """Replace the map with a full snapshot's tree (`data.node`)."""
        self._nodes = {}
        self._add(root, None, None, where)

    def mutate(self, data: dict[str, Any], where: str) -> None:
        """Apply one mutation in the replayer's order: removes, adds, texts, attributes."""
        for i, raw in enumerate(expect_list(data.get("removes"), f"{where}.removes")):
            node_id = _int(expect_dict(raw, f"{where}.removes[{i}]").get("id"))
            if node_id is not None:
                self._remove(node_id)
        for i, raw in enumerate(expect_list(data.get("adds"), f"{where}.adds")):
            add = expect_dict(raw, f"{where}.adds[{i}]")
            self._add(add.get("node"), _int(add.get("parentId")), _int(add.get("nextId")), f"{where}.adds[{i}].node")
        for i, raw in enumerate(expect_list(data.get("texts"), f"{where}.texts")):
            change = expect_dict(raw, f"{where}.texts[{i}]")
            node = self._node(change.get("id"))
            if node is not None and node.tag == "#text":
                node.text = str(change.get("value") or "")[:_ATTR_LIMIT]
        for i, raw in enumerate(expect_list(data.get("attributes"), f"{where}.attributes")):
            change = expect_dict(raw, f"{where}.attributes[{i}]")
            node = self._node(change.get("id"))
            changed = expect_dict(change.get("attributes"), f"{where}.attributes[{i}].attributes")
            if node is not None:
                for name in changed:
                    node.attrs.pop(name, None)
                node.attrs.update(_kept(node.tag, {**node.attrs, **changed}, only=changed))

    def _node(self, node_id: Any) -> _Node | None:
        key = _int(node_id)
        return self._nodes.get(key) if key is not None else None

    def is_document(self, node_id: int | None) -> bool:
        node = self._node(node_id)
        return node is not None and node.tag in ("#document", "html", "body")

    def _add(self, raw: Any, parent: int | None, before: int | None, where: str) -> None:
        # Iterative: a hostile or very deep tree must not exhaust Python's recursion limit.
        stack: list[tuple[Any, int | None, int | None, str]] = [(raw, parent, before, where)]
        while stack:
            raw, parent, before, where = stack.pop()
            node = expect_dict(raw, where)
            node_id = _int(node.get("id"))
            if node_id is None:
                continue
            kept_children: list[int] = []
            if node_id in self._nodes:  # an id added again was moved: its subtree moves with it
                self._detach(node_id)
                kept_children = self._nodes[node_id].children
            kind = _int(node.get("type"))
            tag = str(node.get("tagName") or "").lower() if kind == 2 else _NODE_TAGS.get(kind, "#other")
            attrs = expect_dict(node.get("attributes"), f"{where}.attributes") if kind == 2 else {}
            text = "" if kind != 3 or node.get("isStyle") else str(node.get("textContent") or "")[:_ATTR_LIMIT]
            self._nodes[node_id] = _Node(tag, parent, _kept(tag, attrs), text, kept_children)
            siblings = self._nodes[parent].children if parent in self._nodes else None
            if siblings is not None:
                siblings.insert(siblings.index(before) if before in siblings else len(siblings), node_id)
            children = expect_list(node.get("childNodes"), f"{where}.childNodes")
            for i in range(len(children) - 1, -1, -1):
                stack.append((children[i], node_id, None, f"{where}.childNodes[{i}]"))

    def _detach(self, node_id: int) -> None:
        node = self._nodes[node_id]
        parent = self._nodes.get(node.parent) if node.parent is not None else None
        if parent is not None and node_id in parent.children:
            parent.children.remove(node_id)

    def _remove(self, node_id: int) -> None:
        if node_id not in self._nodes:
            return
        self._detach(node_id)
        stack = [node_id]
        while stack:
            node = self._nodes.pop(stack.pop(), None)
            if node is not None:
                stack.extend(node.children)

    # ---- naming -------------------------------------------------------------------------

    def describe(self, node_id: int | None) -> Target | None:
        """Name the element behind `node_id`, or None when the map does not hold it.

        The clicked node may be a text node or a <span> inside a <button>: the nearest
        interactive ancestor (a few levels up) is named instead. The name is chosen as
        aria-label, aria-labelledby, <label> (`for=id` or around the control), the element's
        own text when its role is named by content (button, link, option, ...), then the
        identity a developer searches for: id, data-testid, name; then own text, placeholder,
        title, alt; then the bare tag.
        """
        node_id = self._interactive(node_id)
        node = self._nodes.get(node_id) if node_id is not None else None
        if node_id is None or node is None or node.tag.startswith("#"):
            return None
        attrs, tag = node.attrs, node.tag
        role = _role(tag, attrs)
        input_type = attrs.get("type", "text").lower() if tag == "input" else None
        label = self._label(node_id, node)
        text = self.text(node_id) if tag not in _NO_TEXT else ""
        if input_type in _CAPTION_INPUTS:
            text = attrs.get("value", "")[:TEXT_LIMIT]
        testid = next((attrs[k] for k in _TESTIDS if attrs.get(k)), None)
        found = {
            "tag": tag,
            "id": attrs.get("id"),
            "role": role if role != tag else None,
            "text": text or None,
            "testid": testid,
            "name": attrs.get("name"),
            "label": label or attrs.get("aria-label"),
            "placeholder": attrs.get("placeholder"),
            "input_type": input_type,
        }
        detail = {k: v for k, v in found.items() if v}
        return Target(
            phrase=self._phrase(role, attrs, label, text, testid),
            selector=_selector(tag, attrs, text, testid),
            role=role,
            detail=detail,
            autocomplete=attrs.get("autocomplete"),
        )

    def _phrase(self, role: str, attrs: dict[str, str], label: str, text: str, testid: str | None) -> str:
        name = attrs.get("aria-label") or label or (text if role in _NAMED_BY_CONTENT else "")
        if name:
            return f"{role} {_quote(name)}"
        if attrs.get("id"):
            return f"{role}#{attrs['id']}"
        if testid:
            return f"{role}[data-testid={_quote(testid)}]"
        if attrs.get("name"):
            return f"{role}[name={_quote(attrs['name'])}]"
        fallback = text or attrs.get("placeholder") or attrs.get("title") or attrs.get("alt")
        if fallback:
            return f"{role} {_quote(fallback)}"
        first_class = attrs.get("class", "").split()
        return f"{role}.{first_class[0]}" if first_class else role

    def _interactive(self, node_id: int | None) -> int | None:
        node = self._nodes.get(node_id) if node_id is not None else None
        if node is not None and node.tag == "#text":
            node_id, node = node.parent, self._nodes.get(node.parent) if node.parent is not None else None
        current, climbed = node_id, 0
        while current is not None and climbed <= _ANCESTORS:
            here = self._nodes.get(current)
            if here is None or here.tag in ("body", "html", "#document"):
                break
            if here.tag in _INTERACTIVE_TAGS or here.attrs.get("role") in _INTERACTIVE_ROLES:
                return current
            current, climbed = here.parent, climbed + 1
        return node_id

    def text(self, node_id: int, limit: int = TEXT_LIMIT, skip: int | None = None) -> str:
        """The visible text under a node, whitespace collapsed, cut at `limit` characters."""
        parts: list[str] = []
        total, visited, stack = 0, 0, [node_id]
        while stack and total <= limit * 4 and visited < _SCAN_LIMIT:
            current = stack.pop()
            visited += 1
            node = self._nodes.get(current)
            if node is None or current == skip:
                continue
            if node.tag == "#text":
                parts.append(node.text)
                total += len(node.text)
            elif node.tag not in _NO_TEXT:
                stack.extend(reversed(node.children))
        return _clip(" ".join("".join(parts).split()), limit)

    def _label(self, node_id: int, node: _Node) -> str:
        """aria-labelledby text, else a <label for=id>, else a <label> wrapped around the control."""
        ids = node.attrs.get("aria-labelledby", "").split()
        if ids:
            found = [n for n, other in self._nodes.items() if other.attrs.get("id") in ids]
            text = " ".join(t for t in (self.text(n) for n in found) if t)
            if text:
                return _clip(text, TEXT_LIMIT)
        if node.tag not in _LABELABLE:
            return ""
        own_id = node.attrs.get("id")
        if own_id:
            for other_id, other in self._nodes.items():
                if other.tag == "label" and other.attrs.get("for") == own_id:
                    text = self.text(other_id, skip=node_id)
                    if text:
                        return text
        current, climbed = node.parent, 0
        while current is not None and climbed < _ANCESTORS:
            ancestor = self._nodes.get(current)
            if ancestor is None:
                break
            if ancestor.tag == "label":
                return self.text(current, skip=node_id)
            current, climbed = ancestor.parent, climbed + 1
        return ""


_NODE_TAGS: dict[int | None, str] = {0: "#document", 1: "#doctype", 3: "#text", 4: "#cdata", 5: "#comment"}


def _kept(tag: str, attrs: dict[str, Any], only: dict[str, Any] | None = None) -> dict[str, str]:
    """The naming attributes of `attrs` (those in `only`, if given), as bounded strings."""
    keep_value = tag == "input" and str(attrs.get("type", "")).lower() in _CAPTION_INPUTS
    source = attrs if only is None else only
    return {
        name: str(value)[:_ATTR_LIMIT]
        for name, value in source.items()
        if (name in _KEPT or (keep_value and name == "value")) and isinstance(value, str | int | float)
    }


def _role(tag: str, attrs: dict[str, str]) -> str:
    explicit = attrs.get("role", "").split()
    if explicit and explicit[0] not in ("presentation", "none"):
        return explicit[0]
    if tag == "a":
        return "link"
    if tag == "input":
        kind = attrs.get("type", "text").lower()
        return "button" if kind in _CAPTION_INPUTS | {"image"} else kind if kind in ("checkbox", "radio") else "input"
    if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
        return "heading"
    return tag


def _selector(tag: str, attrs: dict[str, str], text: str, testid: str | None) -> str:
    """A selector that survives restyling: test id, id, aria-label, name, text, placeholder, class."""
    if testid:
        key = next(k for k in _TESTIDS if attrs.get(k) == testid)
        return f"[{key}={_quote(testid)}]"
    if attrs.get("id"):
        return f"#{attrs['id']}" if _CSS_IDENT.match(attrs["id"]) else f"[id={_quote(attrs['id'])}]"
    for name in ("aria-label", "name"):
        if attrs.get(name):
            return f"{tag}[{name}={_quote(attrs[name])}]"
    if text:
        return f"{tag}:has-text({_quote(text)})"
    if attrs.get("placeholder"):
        return f"{tag}[placeholder={_quote(attrs['placeholder'])}]"
    classes = attrs.get("class", "").split()[:2]
    return tag + "".join(f".{c}" for c in classes if _CSS_IDENT.match(c))


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _int(value: Any) -> int | None:
    """A node id: an integer (or a float or digit string, as hand-edited files carry)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return whole_number(value, signed=True)
    return None
