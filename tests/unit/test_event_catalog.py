"""The event catalog against the code: every event type the services emit is catalogued, every
catalogued type is emitted, and docs/events.md shows the catalog as generated.

The emitted types are found by reading the source with ``ast``, not by importing it: the type
argument of every ``change_event(scope, type_, ...)`` and ``DomainEvent(type, ...)`` is followed
back to its string literals, through

- helpers whose parameter ends up as that argument (``self._event(scope, "x.y", ...)``,
  ``invoice_event``, ``_change(..., event_type="x.y")``, nested ``write`` functions), to their
  callers and the parameter's default, as far as it goes;
- local and module-level variables, conditional expressions and ``or``;
- maps: ``{...}.get(key, default)`` and ``{...}[key]`` take every value (and the default);
- dataclass fields (``StepOutcome(after, "x.y")`` read back as ``outcome.event_type``).

Anything else in a type position (an f-string, a call, a value from elsewhere) is reported
rather than skipped, so a new way of building types cannot slip past the test unseen.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from billow.domain.event_catalog import CATALOG, catalog_markdown
from billow.event_catalog import current_block, rendered_block

REPOSITORY = Path(__file__).resolve().parents[2]
PACKAGE = REPOSITORY / "shared" / "billow"
DOC = REPOSITORY / "docs" / "events.md"

TYPE = re.compile(r"^[a-z_]+\.[a-z_]+$")
AGGREGATE = re.compile(r"^[a-z_]+$")
# Where a type enters an event: the callable and the name of its type parameter (or field).
SINKS = (("change_event", "type_"), ("DomainEvent", "type"))
# Literals that look like event types (an event prefix, a dot) but are not; none so far.
NOT_EVENT_TYPES: frozenset[str] = frozenset()

Function = ast.FunctionDef | ast.AsyncFunctionDef
Scope = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


@dataclass
class Module:
    path: Path
    name: str  # for messages: the path inside the package root's parent
    tree: ast.Module
    parents: dict[ast.AST, ast.AST]
    defined: set[str]  # every function and class name defined in it, at any depth


def load(root: Path) -> list[Module]:
    modules = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        defined = {node.name for node in ast.walk(tree) if isinstance(node, Function | ast.ClassDef)}
        name = str(path.relative_to(root.parent))
        modules.append(Module(path, name, tree, parents, defined))
    return modules


def enclosing(module: Module, node: ast.AST) -> list[Scope]:
    """The functions around ``node``, innermost first (``node`` itself excluded)."""
    return [scope for scope in ancestors(module, node) if isinstance(scope, Function | ast.Lambda)]


def is_method(module: Module, node: Function) -> bool:
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)
    return isinstance(module.parents.get(node), ast.ClassDef) and not static


def fields(node: ast.ClassDef) -> list[ast.AnnAssign]:
    """A dataclass's fields, in order (ClassVars are not fields)."""
    return [
        stmt
        for stmt in node.body
        if isinstance(stmt, ast.AnnAssign)
        and isinstance(stmt.target, ast.Name)
        and "ClassVar" not in ast.unparse(stmt.annotation)
    ]


def field_name(stmt: ast.AnnAssign) -> str:
    assert isinstance(stmt.target, ast.Name)
    return stmt.target.id


def positional(module: Module, node: Definition) -> list[str]:
    """The names a call fills by position."""
    if isinstance(node, ast.ClassDef):
        return [field_name(stmt) for stmt in fields(node)]
    names = [arg.arg for arg in (*node.args.posonlyargs, *node.args.args)]
    return names[1:] if is_method(module, node) else names


def parameters(scope: Scope) -> set[str]:
    arguments = scope.args
    return {arg.arg for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)}


def default(node: Definition, name: str) -> ast.expr | None:
    if isinstance(node, ast.ClassDef):
        return next((stmt.value for stmt in fields(node) if field_name(stmt) == name), None)
    arguments = node.args
    ordered = [*arguments.posonlyargs, *arguments.args]
    defaults: dict[str, ast.expr | None] = dict(
        zip(
            [arg.arg for arg in ordered[len(ordered) - len(arguments.defaults) :]],
            arguments.defaults,
            strict=True,
        )
    )
    defaults.update(zip([arg.arg for arg in arguments.kwonlyargs], arguments.kw_defaults, strict=True))
    return defaults.get(name)


def own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a scope's own body, without those of functions and classes inside it."""
    for child in ast.iter_child_nodes(scope):
        yield child
        if not isinstance(child, Function | ast.Lambda | ast.ClassDef):
            yield from own_nodes(child)


def assigned(scope: ast.AST, name: str) -> tuple[list[ast.expr], list[ast.AST]]:
    """What ``name`` is bound to in ``scope``'s own body, and the bindings the test cannot pair
    with a value (unpacking, ``+=``, a loop over something other than a literal)."""
    values: list[ast.expr] = []
    opaque: list[ast.AST] = []
    for node in own_nodes(scope):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == name:
                    values.append(node.value)
                elif any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(target)):
                    opaque.append(target)
        elif isinstance(node, ast.AnnAssign | ast.NamedExpr):
            if isinstance(node.target, ast.Name) and node.target.id == name and node.value is not None:
                values.append(node.value)
        elif isinstance(node, ast.AugAssign):
            if isinstance(node.target, ast.Name) and node.target.id == name:
                opaque.append(node)
        elif isinstance(node, ast.For | ast.comprehension) and any(
            isinstance(n, ast.Name) and n.id == name for n in ast.walk(node.target)
        ):
            if isinstance(node.target, ast.Name) and isinstance(node.iter, ast.Tuple | ast.List | ast.Set):
                values.extend(node.iter.elts)
            else:
                opaque.append(node.iter)
    return values, opaque


class Discovery:
    """Every event type the code under ``root`` can emit (``types``: where each literal is), and
    what could not be followed (``problems``)."""

    def __init__(self, root: Path) -> None:
        self.types: dict[str, list[str]] = defaultdict(list)
        self.problems: list[str] = []
        self.modules = load(root)
        self.definitions: dict[str, list[tuple[Module, Definition]]] = defaultdict(list)
        self.calls: dict[str, list[tuple[Module, ast.Call]]] = defaultdict(list)
        for module in self.modules:
            for node in ast.walk(module.tree):
                if isinstance(node, Function | ast.ClassDef):
                    self.definitions[node.name].append((module, node))
                elif isinstance(node, ast.Call) and (callee := callee_name(node)) is not None:
                    self.calls[callee].append((module, node))
        self.seen: set[tuple[int, str]] = set()
        self.resolving: set[tuple[int, str]] = set()  # names being followed: `kind = kind or "x.y"`
        self.queue: list[tuple[Module, Definition, str]] = []
        for name, parameter in SINKS:
            sinks = self.definitions.get(name, [])
            if not sinks:
                self.problems.append(f"no definition of {name} found: was it renamed? (update SINKS)")
            for module, node in sinks:
                self.sink(module, node, parameter)
        while self.queue:
            self.follow(*self.queue.pop())

    def sink(self, module: Module, node: Definition, parameter: str) -> None:
        """``parameter`` of ``node`` carries an event type: follow its callers and default."""
        if (id(node), parameter) in self.seen:
            return
        self.seen.add((id(node), parameter))
        self.queue.append((module, node, parameter))
        value = default(node, parameter)
        if value is not None:
            self.resolve(value, module, enclosing(module, node))

    def follow(self, module: Module, node: Definition, parameter: str) -> None:
        names = positional(module, node)
        for caller, call in self.calls.get(node.name, []):
            if not self.may_call(caller, call, module, node):
                continue
            argument = self.argument(caller, call, names, parameter)
            if argument is not None:
                self.resolve(argument, caller, enclosing(caller, call))

    @staticmethod
    def may_call(caller: Module, call: ast.Call, defining: Module, node: Definition) -> bool:
        """Whether ``call`` can mean ``node``, judged by Python's scoping so that a common name
        (``write``, ``save``) does not tie unrelated code together."""
        around = list(ancestors(caller, call))
        owner = defining.parents.get(node)
        func = call.func
        if isinstance(owner, ast.ClassDef):  # a method
            if not isinstance(func, ast.Attribute):
                return False
            if isinstance(func.value, ast.Name) and func.value.id in ("self", "cls"):
                # Its own class's method when that class has one by the name, else inherited.
                cls = next((n for n in around if isinstance(n, ast.ClassDef)), None)
                if cls is not None and any(isinstance(n, Function) and n.name == node.name for n in cls.body):
                    return owner is cls
                return True
            return True  # a method of another object (payments.invoice_event(...))
        if not isinstance(owner, ast.Module):  # a nested function: called by name around it
            return isinstance(func, ast.Name) and caller is defining and owner in around
        if isinstance(func, ast.Name):  # a module's function or class, here or imported
            return caller is defining or func.id not in caller.defined
        return not (isinstance(func.value, ast.Name) and func.value.id in ("self", "cls"))

    def argument(self, module: Module, call: ast.Call, names: list[str], parameter: str) -> ast.expr | None:
        """The expression a call passes as ``parameter``; None when it leaves the default."""
        for keyword in call.keywords:
            if keyword.arg == parameter:
                return keyword.value
        if parameter in names:
            index = names.index(parameter)
            before = call.args[: index + 1]
            if any(isinstance(arg, ast.Starred) for arg in before):
                self.problem(module, call, "passes the event type through *args")
                return None
            if index < len(call.args):
                return call.args[index]
        if any(keyword.arg is None for keyword in call.keywords):
            self.problem(module, call, "may pass the event type through **kwargs")
        return None

    def resolve(self, expr: ast.expr, module: Module, scopes: list[Scope], *, mapping: bool = False) -> None:
        """Record the literals ``expr`` can evaluate to; ``mapping``: ``expr`` is a map whose
        values are the types."""
        if mapping:
            if isinstance(expr, ast.Dict):
                for key, value in zip(expr.keys, expr.values, strict=True):
                    self.resolve(value, module, scopes, mapping=key is None)  # None: a ** spread
            elif isinstance(expr, ast.Name):
                self.resolve_name(expr, module, scopes, mapping=True)
            else:
                self.problem(module, expr, f"cannot read the event types of the map `{ast.unparse(expr)}`")
            return
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            self.types[expr.value].append(f"{module.name}:{expr.lineno}")
        elif isinstance(expr, ast.Constant) and expr.value is None:
            pass  # "no event" (test clocks' write(..., None))
        elif isinstance(expr, ast.IfExp):
            self.resolve(expr.body, module, scopes)
            self.resolve(expr.orelse, module, scopes)
        elif isinstance(expr, ast.BoolOp):
            for value in expr.values:
                self.resolve(value, module, scopes)
        elif isinstance(expr, ast.NamedExpr):
            self.resolve(expr.value, module, scopes)
        elif (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Attribute)
            and expr.func.attr == "get"
            and 1 <= len(expr.args) <= 2
        ):
            self.resolve(expr.func.value, module, scopes, mapping=True)
            if len(expr.args) == 2:
                self.resolve(expr.args[1], module, scopes)
            else:
                self.problem(module, expr, "a map's .get() without a default may give None")
        elif isinstance(expr, ast.Subscript):
            self.resolve(expr.value, module, scopes, mapping=True)
        elif isinstance(expr, ast.Name):
            self.resolve_name(expr, module, scopes, mapping=False)
        elif isinstance(expr, ast.Attribute):
            self.resolve_field(expr, module, scopes)
        else:
            self.problem(module, expr, f"cannot tell which event types `{ast.unparse(expr)}` gives")

    def resolve_name(self, expr: ast.Name, module: Module, scopes: list[Scope], *, mapping: bool) -> None:
        key = (id(scopes[0] if scopes else module.tree), expr.id)
        if key in self.resolving:
            return
        self.resolving.add(key)
        try:
            self.resolve_binding(expr, module, scopes, mapping=mapping)
        finally:
            self.resolving.discard(key)

    def resolve_binding(self, expr: ast.Name, module: Module, scopes: list[Scope], *, mapping: bool) -> None:
        for depth, scope in enumerate(scopes):
            values, opaque = assigned(scope, expr.id)
            parameter = expr.id in parameters(scope)
            for node in opaque:
                self.problem(module, node, f"cannot tell which event types `{expr.id}` is bound to here")
            if parameter:
                if isinstance(scope, ast.Lambda) or mapping:
                    self.problem(module, expr, f"`{expr.id}` comes from a caller the test cannot follow")
                    return
                self.sink(module, scope, expr.id)
            for value in values:
                self.resolve(value, module, scopes[depth:], mapping=mapping)
            if parameter or values or opaque:
                return
        values, opaque = assigned(module.tree, expr.id)
        for node in opaque:
            self.problem(module, node, f"cannot tell which event types `{expr.id}` is bound to here")
        for value in values:
            self.resolve(value, module, [], mapping=mapping)
        if not values and not opaque:
            self.problem(module, expr, f"cannot find where `{expr.id}` gets its event type")

    def resolve_field(self, expr: ast.Attribute, module: Module, scopes: list[Scope]) -> None:
        """``x.field``: whatever is stored in that field of the dataclass ``x`` is annotated
        with; every dataclass with such a field when ``x`` has no annotation."""
        classes = annotated_classes(expr.value, scopes)
        owners = [
            (owner, node)
            for definitions in self.definitions.values()
            for owner, node in definitions
            if isinstance(node, ast.ClassDef)
            and (classes is None or node.name in classes)
            and expr.attr in {field_name(stmt) for stmt in fields(node)}
        ]
        if not owners:
            self.problem(module, expr, f"no dataclass has a field `{expr.attr}` to take event types from")
        for owner, node in owners:
            self.sink(owner, node, expr.attr)

    def problem(self, module: Module, node: ast.AST, what: str) -> None:
        self.problems.append(f"{module.name}:{getattr(node, 'lineno', '?')}: {what}")


def ancestors(module: Module, node: ast.AST) -> Iterator[ast.AST]:
    current = module.parents.get(node)
    while current is not None:
        yield current
        current = module.parents.get(current)


def annotated_classes(value: ast.expr, scopes: list[Scope]) -> set[str] | None:
    """The names in the annotation of the parameter or variable ``value``, if it has one."""
    if not isinstance(value, ast.Name):
        return None
    for scope in scopes:
        arguments = scope.args
        for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
            if arg.arg == value.id:
                return names_in(arg.annotation) if arg.annotation is not None else None
        for node in own_nodes(scope):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and node.target.id == value.id
            ):
                return names_in(node.annotation)
    return None


def names_in(annotation: ast.expr) -> set[str]:
    return {node.id for node in ast.walk(annotation) if isinstance(node, ast.Name)} | {
        node.attr for node in ast.walk(annotation) if isinstance(node, ast.Attribute)
    }


def callee_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def event_like_literals(root: Path, prefixes: set[str]) -> dict[str, list[str]]:
    """Literals of the services and the domain shaped like event types of a known aggregate:
    each one should be an emitted type, or the discovery missed a way of emitting."""
    found: dict[str, list[str]] = defaultdict(list)
    for folder in ("services", "domain"):
        for path in sorted((root / folder).rglob("*.py")):
            if path == root / "domain" / "event_catalog.py":
                continue  # the registry names every type
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and TYPE.match(node.value)
                    and node.value.split(".")[0] in prefixes
                ):
                    found[node.value].append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return found


@pytest.fixture(scope="module")
def emitted() -> Discovery:
    return Discovery(PACKAGE)


CATALOGUED = {event.type for event in CATALOG}


def test_every_type_position_in_the_code_can_be_followed(emitted: Discovery) -> None:
    assert emitted.problems == [], (
        "the event catalog test cannot tell which types these emit; pass a string literal, a "
        "parameter, or a map of literals:\n" + "\n".join(emitted.problems)
    )


def test_every_emitted_type_is_catalogued(emitted: Discovery) -> None:
    missing = {kind: where for kind, where in emitted.types.items() if kind not in CATALOGUED}
    assert missing == {}, (
        "emitted but not in CATALOG (add them to shared/billow/domain/event_catalog.py, then run "
        f"`make catalog`): {missing}"
    )


def test_every_catalogued_type_is_emitted(emitted: Discovery) -> None:
    stale = sorted(CATALOGUED - set(emitted.types))
    assert stale == [], f"in CATALOG but emitted nowhere in shared/billow (remove them): {stale}"


def test_no_event_type_literal_escapes_the_discovery(emitted: Discovery) -> None:
    prefixes = {kind.split(".")[0] for kind in CATALOGUED | set(emitted.types)}
    unseen = {
        kind: where
        for kind, where in event_like_literals(PACKAGE, prefixes).items()
        if kind not in emitted.types and kind not in NOT_EVENT_TYPES
    }
    assert unseen == {}, (
        "these look like event types but never reach change_event or DomainEvent as far as the "
        f"test can follow (teach the discovery the new path, or list them in NOT_EVENT_TYPES): {unseen}"
    )


def test_the_discovery_finds_the_known_shapes(emitted: Discovery) -> None:
    # Guards the guard: the real code has all of these shapes, so none may go unnoticed.
    for kind in (
        "customer.created",  # self._event(scope, "…", …)
        "customer.updated",  # a parameter's default (_change(..., event_type="customer.updated"))
        "refund.updated",  # the default of a map's .get()
        "refund.failed",  # a value of a map
        "subscription.renewed",  # StepOutcome's field, through _open_period and _with_invoice
        "test_clock.advancing",  # a nested function's parameter
        "usage.threshold_reached",  # DomainEvent("…", …) in envelope(...)
    ):
        assert kind in emitted.types, kind


def test_the_discovery_follows_helpers_maps_and_fields_and_reports_the_rest(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "events.py").write_text(
        "def change_event(scope, type_, aggregate_type, data, *, new_id): ...\n"
        "class DomainEvent:\n    type: str\n    aggregate_type: str\n",
        encoding="utf-8",
    )
    (package / "service.py").write_text(
        "from pkg.events import change_event\n"
        "KINDS = {'a': 'thing.done', 'b': 'thing.undone'}\n"
        "class Outcome:\n"
        "    after: object\n"
        "    event_type: str\n"
        "class Service:\n"
        "    def _event(self, scope, type_, thing):\n"
        "        return change_event(scope, type_, 'thing', thing, new_id=None)\n"
        "    def _save(self, scope, outcome: Outcome):\n"
        "        self._event(scope, outcome.event_type, outcome.after)\n"
        "    def create(self, scope, thing):\n"
        "        self._event(scope, 'thing.created', thing)\n"
        "        kind = KINDS.get(thing.status, 'thing.updated')\n"
        "        kind = kind or 'thing.touched'\n"
        "        self._event(scope, kind, thing)\n"
        "        self._save(scope, Outcome(thing, 'thing.saved'))\n"
        "        self._event(scope, f'thing.{thing.status}', thing)\n",
        encoding="utf-8",
    )
    found = Discovery(package)
    assert set(found.types) == {
        "thing.created",
        "thing.done",
        "thing.undone",
        "thing.updated",
        "thing.touched",
        "thing.saved",
    }
    assert len(found.problems) == 1
    assert "pkg/service.py:17" in found.problems[0]
    assert "f'thing.{thing.status}'" in found.problems[0]


def test_event_types_are_well_formed_and_unique() -> None:
    types = [event.type for event in CATALOG]
    assert [kind for kind in types if not TYPE.match(kind)] == []
    assert sorted(kind for kind in set(types) if types.count(kind) > 1) == []
    for event in CATALOG:
        assert AGGREGATE.match(event.aggregate), event
        for text in (event.when, event.payload):
            # A pipe or a line break would break the Markdown table.
            assert text.strip(), event
            assert "|" not in text, event
            assert "\n" not in text, event


def test_the_doc_shows_the_catalog_of_the_code() -> None:
    block = current_block(DOC.read_text(encoding="utf-8"))
    assert catalog_markdown() in rendered_block()
    assert block == rendered_block(), (
        "docs/events.md's event table differs from shared/billow/domain/event_catalog.py; run `make catalog`"
    )
