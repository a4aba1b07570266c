"""The architecture, read off the import graph: layers import only downward, nothing cycles,
and no file grows past the size at which it starts holding two ideas.

Every import counts for the layering, including those inside functions and under
``TYPE_CHECKING``: a layer that needs a name from above it has its dependency upside down.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "runcomfy_async"
MAX_LINES = 430

# Rank of each top-level part; a module may import its own part and parts of lower rank.
# The sandbox stands beside the client: it shares data, not code, so that it can catch the
# client's mistakes.
RANKS = {
    "_constants": 0,
    "_lazy": 0,
    "_version": 0,
    "core": 1,
    "policies": 2,
    "media": 2,
    "sandbox": 2,
    "http": 3,
    "api": 4,
    "store": 4,
    "batch": 5,
    "ideogram": 5,
    "client": 6,
    "telemetry": 6,
    "cli": 7,
    "__init__": 8,
    "__main__": 8,
}


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        yield ".".join(parts), path


def part_of(module: str) -> str:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


def imports_of(module: str, path: Path, *, runtime_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    skipped: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped.update(id(child) for child in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: -(node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None:  # `from . import x`: each x is a module
                found.update(f"{target}.{alias.name}" for alias in node.names)
            else:
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "runcomfy_async"}


ALL = dict(modules())


@pytest.mark.parametrize("module", sorted(ALL))
def test_a_module_imports_only_its_own_layer_and_those_below(module: str) -> None:
    mine = part_of(module)
    assert mine in RANKS, f"{module}: a new top-level part needs a rank in RANKS"
    upward = sorted(
        target
        for target in imports_of(module, ALL[module], runtime_only=False)
        if part_of(target) != mine and RANKS.get(part_of(target), 99) >= RANKS[mine]
    )
    assert not upward, f"{module} imports from its own level or above: {upward}"


def test_no_import_cycle_between_modules() -> None:
    graph = {
        module: {t for t in imports_of(module, path, runtime_only=True) if t in ALL}
        for module, path in ALL.items()
    }
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in done:
            return
        if module in visiting:
            cycle = [*visiting[visiting.index(module):], module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        visiting.append(module)
        for target in sorted(graph[module]):
            # A package's __init__ importing its own modules is how it exports them.
            if not (ALL[module].name == "__init__.py" and target.startswith(module + ".")):
                visit(target)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


@pytest.mark.parametrize("module", sorted(ALL))
def test_no_file_holds_two_ideas_by_size(module: str) -> None:
    lines = ALL[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it by idea"


# Module-level numbers that are not tunables: a contract (exit codes), or a model's documented
# limits (data about Ideogram, not settings of ours). The sandbox keeps its own figures in
# sandbox/_constants.py, apart from the client's on purpose (it must catch its mistakes).
NOT_TUNABLES = {
    "runcomfy_async.cli._exit_codes", "runcomfy_async.cli", "runcomfy_async.cli._main",
    "runcomfy_async.ideogram._limits",
}


def _is_number(value: ast.expr | None) -> bool:
    if isinstance(value, ast.Constant):
        return type(value.value) in (int, float)
    if isinstance(value, ast.UnaryOp):
        return _is_number(value.operand)
    if isinstance(value, ast.BinOp):
        return _is_number(value.left) and _is_number(value.right)
    return False


def numbers_at_module_level(path: Path) -> list[str]:
    found = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        value: ast.expr | None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        else:
            continue
        name = target.id if isinstance(target, ast.Name) else ""
        # A file format's version is a fact about the format, not a setting.
        if name.lstrip("_").isupper() and not name.endswith("_VERSION") and _is_number(value):
            found.append(name)
    return found


# Class-level numbers that are not settings: a record's value that every instance starts from.
NOT_TUNABLE_FIELDS = {
    "runcomfy_async.batch._outcome.Outcome.attempts",  # a job's first submit is its attempt 1
}
_FIELD_CALLS = {"attrs.field", "attrs.attrib", "attr.ib", "attr.attrib", "attr.field", "field"}


def _default_of(value: ast.expr | None) -> ast.expr | None:
    """A class attribute's default: the value itself, or an attrs field's ``default=``."""
    if isinstance(value, ast.Call) and ast.unparse(value.func) in _FIELD_CALLS:
        return next((k.value for k in value.keywords if k.arg == "default"), None)
    return value


def numbers_in_class_bodies(source: str) -> list[str]:
    """``Class.attribute`` for each class-level default that is a number other than zero (a
    counter or a sum starts at zero: that is not a setting). An enum's values are names for
    numbers, not settings either."""
    found = []
    for cls in ast.walk(ast.parse(source)):
        if not isinstance(cls, ast.ClassDef) or any(
            ast.unparse(base).endswith(("Enum", "Flag")) for base in cls.bases
        ):
            continue
        for node in cls.body:
            value: ast.expr | None
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign):
                target, value = node.target, node.value
            else:
                continue
            default = _default_of(value)
            zero = isinstance(default, ast.Constant) and default.value == 0
            if isinstance(target, ast.Name) and _is_number(default) and not zero:
                found.append(f"{cls.name}.{target.id}")
    return found


def _has_own_numbers(module: str) -> bool:
    return (
        module.endswith("._constants") or module in NOT_TUNABLES or part_of(module) == "sandbox"
    )


@pytest.mark.parametrize("module", sorted(ALL))
def test_every_tunable_number_lives_in_the_constants_module(module: str) -> None:
    if _has_own_numbers(module):
        return
    assert not numbers_at_module_level(ALL[module]), (
        f"{module} defines numbers at module level: move them to runcomfy_async/_constants.py"
    )


@pytest.mark.parametrize("module", sorted(ALL))
def test_no_class_default_is_a_number_outside_the_constants_module(module: str) -> None:
    if _has_own_numbers(module):
        return
    found = [
        name for name in numbers_in_class_bodies(ALL[module].read_text(encoding="utf-8"))
        if f"{module}.{name}" not in NOT_TUNABLE_FIELDS
    ]
    assert not found, (
        f"{module}: class defaults {found} are numbers: name them in runcomfy_async/_constants.py"
    )


def test_the_class_default_check_sees_plain_and_attrs_defaults_but_not_counters() -> None:
    source = """
import enum
import attrs

@attrs.define
class Planner:
    window: int = 256
    refit_interval: float = attrs.field(default=0.5, validator=None)
    floor = -1.0
    polls: int = 0
    spent_usd: float = attrs.field(default=0.0, init=False)
    clock: object = attrs.field(factory=object)
    schedule: list[float] | None = None

class Code(enum.IntEnum):
    OK = 2
"""
    assert numbers_in_class_bodies(source) == [
        "Planner.window", "Planner.refit_interval", "Planner.floor",
    ]
