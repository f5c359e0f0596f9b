"""The package's import layers (ARCHITECTURE.md): no import cycle between mllint's modules, and no
import running up the layers. Every import statement of every module is read with `ast`: at the
top, inside functions, and under `if TYPE_CHECKING:`. Type-only imports are never executed, so they
do not count for cycles; they do count for the layers (a layer does not even name what is above it).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import mllint

PACKAGE = Path(mllint.__file__).parent

# From the bottom up. A module may import modules of its own layer and of the layers below it.
LAYERS = [
    ("base", ("mllint", "mllint.diagnostics", "mllint.fingerprint")),  # leaf types and digests
    ("formats", ("mllint.formats",)),  # file-kind adapters: never the engine
    ("engine", ("mllint.engine",)),  # one text in, diagnostics out; the rule base and metadata
    ("analysis", ("mllint.analysis",)),  # facts that rules share
    ("rules", ("mllint.rules",)),  # the rules, by family
    ("run", ("mllint.run",)),  # one command's run: config, discovery, cache, replay, the rule classes
    ("frontends", ("mllint.frontends",)),  # the command line, the language server, output formats
    ("public", ("mllint.api", "mllint.testing", "mllint.__main__")),  # entry points and public modules
]
# __init__ files hold docstrings (and the version), never imports: importing any module of a
# package runs its __init__, and the warm path must stay light. The rules package is the
# exception: importing it registers every rule (only mllint.run.rules does, when rules are needed).
EAGER_INIT_ALLOWED = {"mllint.rules"}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module
    line: int
    where: str  # "top", "function" or "type-checking"
    path: Path

    def __str__(self) -> str:
        return f"{self.path.name}:{self.line} ({self.module}, {self.where}) imports {self.target}"


def modules(root: Path, package: str) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(root: Path, package: str = "mllint") -> list[Import]:
    """Every import of a module of `package` by a module of `package`, resolved to the module
    it loads (`from mllint.engine import packs` -> mllint.engine.packs)."""
    known = modules(root, package)
    out: list[Import] = []

    def resolve(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        if node.level:  # relative: from the module's package
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - node.level + 1]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        submodules = [f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in known]
        return submodules if len(submodules) == len(node.names) else [source, *submodules]

    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))

        def visit(node: ast.AST, where: str) -> None:
            for child in ast.iter_child_nodes(node):
                inner = where
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and where == "top":
                    inner = "function"
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    inner = "type-checking"
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for target in resolve(child, module, path.name == "__init__.py"):
                        if target.split(".")[0] != package:
                            continue
                        while target not in known and "." in target:  # `from m import name`: the module m
                            target = target.rsplit(".", 1)[0]
                        if target != module:
                            out.append(Import(module, target, child.lineno, inner, path))
                visit(child, inner)

        visit(tree, "top")
    return out


def layer_of(module: str, layers=LAYERS) -> int:
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(layers):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")
    return best


def upward_imports(found: list[Import], layers=LAYERS) -> list[str]:
    problems = []
    for imp in found:
        mine, theirs = layer_of(imp.module, layers), layer_of(imp.target, layers)
        if theirs > mine:
            allowed = ", ".join(name for name, _ in layers[: mine + 1])
            problems.append(f"{imp}: the {layers[mine][0]} layer may not import the {layers[theirs][0]} layer "
                            f"(it may import: {allowed})")
    return problems


def family_crossings(found: list[Import], package: str = "mllint") -> list[str]:
    """A rule may import helpers of its own family, never a rule of another family: what two
    families share belongs in the analysis layer."""
    prefix = f"{package}.rules."
    problems = []
    for imp in found:
        if imp.module.startswith(prefix) and imp.target.startswith(prefix):
            mine, theirs = imp.module[len(prefix):].split(".")[0], imp.target[len(prefix):].split(".")[0]
            if mine != theirs:
                problems.append(f"{imp}: rules of family {mine!r} may not import family {theirs!r}; "
                                "move what they share to mllint/analysis/")
    return problems


def cycles(found: list[Import]) -> list[str]:
    """Each import cycle between modules (imports that run: top level and inside functions), as
    the chain of imports that closes it."""
    graph: dict[str, dict[str, Import]] = {}
    for imp in found:
        if imp.where != "type-checking":
            graph.setdefault(imp.module, {}).setdefault(imp.target, imp)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    problems = []
    for component in components:
        members = set(component)
        chain, seen, v = [], [], component[0]  # follow edges inside the component until one repeats
        while v not in seen:
            seen.append(v)
            w = next(t for t in sorted(graph[v]) if t in members)
            chain.append(graph[v][w])
            v = w
        loop = chain[seen.index(v):]
        problems.append("import cycle: " + " -> ".join(str(imp) for imp in loop))
    return problems


def eager_inits(root: Path, package: str = "mllint") -> list[str]:
    problems = []
    for module, path in modules(root, package).items():
        if path.name == "__init__.py" and module not in EAGER_INIT_ALLOWED:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    problems.append(f"{path.relative_to(root.parent)}:{node.lineno}: an __init__ imports "
                                    f"{ast.unparse(node)!r}: every import of the package would pay for it")
    return problems


FOUND = imports(PACKAGE)


def test_the_reader_sees_imports_at_every_level():
    """The checks below are only as good as the import list: it holds top-level, function-level
    and type-only imports, and resolves `from package import module`."""
    kinds = {imp.where for imp in FOUND}
    assert kinds == {"top", "function", "type-checking"}
    assert any(imp.module == "mllint.run.runner" and imp.target == "mllint.engine.lint" for imp in FOUND)
    assert any(imp.module == "mllint.run.rules" and imp.target == "mllint.engine.packs" for imp in FOUND)


def test_no_import_cycles():
    problems = cycles(FOUND)
    assert not problems, "\n".join(problems)


def test_no_import_runs_up_the_layers():
    problems = upward_imports(FOUND)
    assert not problems, "\n".join(problems)


def test_rule_families_share_only_through_the_analysis_layer():
    problems = family_crossings(FOUND)
    assert not problems, "\n".join(problems)


def test_package_inits_import_nothing():
    problems = eager_inits(PACKAGE)
    assert not problems, "\n".join(problems)


def test_every_rule_lives_in_a_family_folder():
    """Rule modules are discovered in mllint/rules/<family>/ (mllint.rules walks them)."""
    stray = [p.name for p in (PACKAGE / "rules").glob("ml*.py")]
    assert not stray, f"rule modules outside a family folder: {stray}"


# ---- the checks fail, and say where ---------------------------------------------------------------

@pytest.fixture
def bad_package(tmp_path):
    """A package with an upward import, a cycle, a crossing between rule families and an eager
    __init__, laid out as mllint is."""
    root = tmp_path / "mllint"
    files = {
        "__init__.py": "",
        "diagnostics.py": "",
        "engine/__init__.py": "from mllint.engine import lint\n",
        "engine/lint.py": "def f():\n    from mllint.run import runner\n",
        "engine/context.py": "from mllint.engine import traversal\n",
        "engine/traversal.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mllint.engine import context\n",
        "run/__init__.py": "",
        "run/runner.py": "from mllint.run import cache\n",
        "run/cache.py": "def g():\n    from mllint.run.runner import Task\n",
        "rules/__init__.py": "",
        "rules/optim/__init__.py": "",
        "rules/optim/ml701_x.py": "from mllint.rules.data.ml601_y import helper\n",
        "rules/data/__init__.py": "",
        "rules/data/ml601_y.py": "from mllint.engine.lint import f\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_checks_name_each_offending_import(bad_package):
    found = imports(bad_package)
    [upward] = upward_imports(found)
    assert upward.startswith("lint.py:2 (mllint.engine.lint, function) imports mllint.run.runner: "
                             "the engine layer may not import the run layer")
    [cycle] = cycles(found)  # the type-only loop context -> traversal -> context is no cycle
    assert cycle == ("import cycle: cache.py:2 (mllint.run.cache, function) imports mllint.run.runner -> "
                     "runner.py:1 (mllint.run.runner, top) imports mllint.run.cache")
    [crossing] = family_crossings(found)
    assert "rules of family 'optim' may not import family 'data'" in crossing
    [eager] = eager_inits(bad_package)
    assert eager.startswith("mllint/engine/__init__.py:1: an __init__ imports 'from mllint.engine import lint'")
