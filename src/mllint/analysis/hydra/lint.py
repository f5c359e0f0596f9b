"""The shared analysis behind ML501-ML503: find the commands in a file, link each to its Hydra
app, check it; the three rules each report their own code. Computed once per file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import libcst as cst

from mllint.analysis.astutil import find_arg
from mllint.engine.candidates import Calls, Words, leaves
from mllint.engine.context import FileContext
from mllint.diagnostics import Location
from mllint.analysis.hydra.apps import CONFIG_SOURCES, App, find_app
from mllint.analysis.hydra.check import PLACEHOLDER, Arg, Finding, check_command
from mllint.analysis.hydra.commands import Command, shell_commands, shell_words, split_command
from mllint.engine.reads import note_link
from mllint.engine.traversal import walk

SUBPROCESS = {"subprocess.run", "subprocess.Popen", "subprocess.call", "subprocess.check_call",
              "subprocess.check_output"}
SHELL_STRING = {"os.system", "os.popen"}
COMPOSE = {"hydra.compose", "hydra.experimental.compose"}
INITIALIZE = {"hydra.initialize", "hydra.experimental.initialize"}
INITIALIZE_DIR = {"hydra.initialize_config_dir", "hydra.experimental.initialize_config_dir"}
# Cheap prescreens. Shell scripts run python/torchrun/... (".py" alone would let most files
# through: docstrings name other modules). Python launchers import and call subprocess, os.system /
# os.popen or Hydra's compose: the text names the module or function, the AST has the call.
SHELL_EVIDENCE = (re.compile("python", re.I), "torchrun", "accelerate launch", "deepspeed ", re.compile(r"\.py\b"))
PYTHON_EVIDENCE = ("subprocess", "compose", "os.system", "os.popen", re.compile(r"from\s+os\s+import"))
PYTHON_CANDIDATES = (Calls(*leaves(SUBPROCESS)) & Words({"subprocess"})
                     | Calls("system", "popen") & Words({"os"}) | Calls("compose") & Words({"hydra"}))

_KEY = "_mllint_hydra"


def _settings(ctx: FileContext) -> tuple[Path, dict, Path]:
    project = ctx.project
    root = Path(getattr(project, "root", None) or Path.cwd()).resolve()
    hydra = dict(getattr(project, "hydra", None) or {})
    return root, hydra, Path(ctx.path).resolve()


def shell_findings(ctx: FileContext) -> list[Finding]:
    memo = ctx.__dict__.get(_KEY)
    if memo is None:
        memo = [f for app, args in shell_apps(ctx) for f in check_command(app, args, ctx.warn)]
        ctx.__dict__[_KEY] = memo
    return memo


def call_findings(ctx: FileContext, call: cst.Call) -> list[Finding]:
    """Findings for one call that launches (or composes) a Hydra app; memoised per call."""
    memo = ctx.__dict__.setdefault(_KEY, {})
    if id(call) not in memo:
        memo[id(call)] = _analyse_call(ctx, call)
    return memo[id(call)]


def _analyse_call(ctx: FileContext, call: cst.Call) -> list[Finding]:
    out: list[Finding] = []
    seen = set()
    for app, args in call_commands(ctx, call):
        for f in check_command(app, args, ctx.warn):
            # one loop's jobs may share a word: report it once
            key = (f.code, f.message, id(f.arg.anchor) if not isinstance(f.arg.anchor, tuple) else f.arg.anchor)
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


def call_commands(ctx: FileContext, call: cst.Call) -> list[tuple[App, list[Arg]]]:
    """The Hydra apps a call runs, each with the words after the app (ctx.stack must hold the call).
    Inside `for job in JOBS:` over a literal list or dict, once per element (bounded)."""
    name = ctx.call_name(call)
    if name not in COMPOSE and name not in SUBPROCESS and name not in SHELL_STRING:
        return []
    out: list[tuple[App, list[Arg]]] = []
    try:
        for env in _loop_envs(ctx):
            ctx.__dict__[_ENV] = env
            out.extend(_call_commands(ctx, call, name))
    finally:
        ctx.__dict__.pop(_ENV, None)
    return out


def _call_commands(ctx: FileContext, call: cst.Call, name: str | None) -> list[tuple[App, list[Arg]]]:
    root, hydra, path = _settings(ctx)
    if name in COMPOSE:
        found = _compose(ctx, call, path)
        return [found] if found is not None else []
    commands: list[Command] = []
    if name in SUBPROCESS:
        arg = find_arg(call, "args", 0)
        if arg is None:
            return []
        words = _words(ctx, arg.value, 0)
        if words is not None:
            cmd = split_command(words)
            commands = [cmd] if cmd is not None else []
        else:
            commands = _string_commands(ctx, arg.value)
    elif name in SHELL_STRING:
        arg = find_arg(call, "command", 0) or find_arg(call, "cmd", 0)
        if arg is None:
            return []
        commands = _string_commands(ctx, arg.value)
    out = []
    for cmd in commands:
        app = find_app(hydra, root, path, cmd.script, cmd.module)
        if app is not None:
            out.append((app, cmd.args))
    return out


def shell_apps(ctx: FileContext) -> list[tuple[App, list[Arg]]]:
    root, hydra, path = _settings(ctx)
    out = []
    for cmd in shell_commands(ctx.source):
        app = find_app(hydra, root, path, cmd.script, cmd.module)
        if app is not None:
            out.append((app, cmd.args))
    return out


# ---- Python values -> command words ------------------------------------------------------------

def _string_arg(ctx: FileContext, node: cst.BaseExpression) -> Arg:
    if isinstance(node, cst.SimpleString):
        try:
            text = node.evaluated_value
        except Exception:
            return Arg(None, node)
        if not isinstance(text, str):
            return Arg(None, node)
        return Arg(text, node, _plus(ctx, node, len(node.prefix) + len(node.quote)))
    if isinstance(node, cst.FormattedString):
        pieces = []
        scalar = True
        for part in node.parts:
            if isinstance(part, cst.FormattedStringText):
                if "\\" in part.value or "{{" in part.value:
                    return Arg(None, node)
                pieces.append(part.value)
            else:
                pieces.append(PLACEHOLDER)
                scalar = scalar and (part.format_spec is not None or _renders_scalar(ctx, part.expression, 0))
        quote = node.start
        return Arg("".join(pieces), node, _plus(ctx, node, len(quote)), scalar=scalar)
    if isinstance(node, cst.Attribute) and ctx.qualified_name(node) == "sys.executable":
        return Arg("python", node)
    if isinstance(node, (cst.Name, cst.Subscript)):
        value = _resolve(ctx, node, 0)
        if isinstance(value, (cst.SimpleString, cst.FormattedString)):
            return _string_arg(ctx, value)
    return Arg(None, node)


_SCALAR_CALLS = {"int", "float", "round", "len", "os.path.join", "os.path.basename", "os.path.dirname",
                 "os.path.abspath", "os.path.expanduser", "os.path.realpath", "pathlib.Path", "os.getcwd"}
_SCALAR_TYPES = {"str", "int", "float", "bool", "Path", "pathlib.Path", "os.PathLike"}


def _renders_scalar(ctx: FileContext, expr: cst.BaseExpression, depth: int) -> bool:
    """Does `{expr}` in an f-string render as one scalar (not a list or dict Hydra would merge)?
    Literals, numbers and paths, a parameter annotated `str`/`int`/`Path`, a name assigned one."""
    if depth > 4:
        return False
    if isinstance(expr, (cst.Integer, cst.Float, cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)):
        return True
    if isinstance(expr, cst.Call):
        return ctx.qualified_name(expr.func) in _SCALAR_CALLS
    if isinstance(expr, cst.Name):
        env = ctx.__dict__.get(_ENV) or {}
        if expr.value in env:
            return _renders_scalar(ctx, env[expr.value], depth + 1)
        bindings = ctx.bindings(ctx.scope()).get(expr.value) or ()
        if len(bindings) == 1 and bindings[0].kind == "param":
            param = bindings[0].node
            ann = param.annotation.annotation if getattr(param, "annotation", None) is not None else None
            return ann is not None and ctx.qualified_name(ann) in _SCALAR_TYPES
        value = _single_value(ctx, expr.value)
        return value is not None and _renders_scalar(ctx, value, depth + 1)
    return False


def _plus(ctx: FileContext, node: cst.CSTNode, prefix: int) -> Location | None:
    raw = ctx.module.code_for_node(node) if ctx.module is not None else ""
    if raw[prefix:prefix + 1] == "+" and raw[prefix + 1:prefix + 2] != "+":
        start, _ = ctx.start_end(node)
        return Location(start.row, start.column + prefix)
    return None


def _words(ctx: FileContext, expr: cst.BaseExpression, depth: int) -> list[Arg] | None:
    """The elements of a command list (None if `expr` is not a list mllint can read)."""
    if depth > 4:
        return None
    if isinstance(expr, (cst.List, cst.Tuple)):
        out: list[Arg] = []
        for el in expr.elements:
            if isinstance(el, cst.StarredElement):
                out.extend(_words(ctx, el.value, depth + 1) or [Arg(None, el)])
            else:
                out.append(_string_arg(ctx, el.value))
        return out
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        left = _words(ctx, expr.left, depth + 1)
        right = _words(ctx, expr.right, depth + 1)
        if left is None and right is None:
            return None
        return (left or [Arg(None, expr.left)]) + (right or [Arg(None, expr.right)])
    if isinstance(expr, (cst.Name, cst.Subscript)):
        env = ctx.__dict__.get(_ENV) or {}
        if isinstance(expr, cst.Name) and expr.value not in env and _bound_here(ctx, expr.value):
            return _list_variable(ctx, expr.value, depth)
        value = _resolve(ctx, expr, depth)
        return _words(ctx, value, depth + 1) if isinstance(value, (cst.List, cst.Tuple)) else None
    return None


# ---- names that hold one known value -----------------------------------------------------------

_ENV = "_mllint_hydra_env"  # loop target name -> the element of this pass (set by call_commands)
MAX_LOOP_ELEMENTS = 32  # elements of one literal a loop is followed over
MAX_VARIANTS = 64  # passes over one call (nested loops multiply)


def _bound_here(ctx: FileContext, name: str) -> bool:
    """Is `name` given a value by something other than a `for` in the current scope (a list built
    up step by step, read by _list_variable)?"""
    return any(b.kind != "for" for b in ctx.bindings(ctx.scope()).get(name, ()))


def _single_value(ctx: FileContext, name: str) -> cst.BaseExpression | None:
    """The value of a name assigned exactly once (in the current scope, else at module level when
    the scope does not bind it) and never changed in place; None if that is not so."""
    for scope in (ctx.scope(), ctx.module):
        bindings = ctx.bindings(scope).get(name)
        if bindings:
            if len(bindings) != 1 or bindings[0].kind not in ("assign", "annassign") or bindings[0].value is None:
                return None
            memo = ctx.__dict__.setdefault("_mllint_hydra_mutated", {})
            key = (id(scope), name)
            if key not in memo:
                changes = _Mutations(scope, name)
                walk(scope, changes)
                memo[key] = changes.found
            return None if memo[key] else bindings[0].value
        if scope is ctx.module:
            break
    return None


def _resolve(ctx: FileContext, expr: cst.BaseExpression, depth: int) -> cst.BaseExpression | None:
    """A literal that `expr` stands for: a loop variable's element of this pass, a name assigned
    once, `JOBS["a"]` / `job["overrides"]` of a dict literal. None if not known."""
    for _ in range(4):
        env = ctx.__dict__.get(_ENV) or {}
        if isinstance(expr, cst.Name):
            if expr.value in env:
                expr = env[expr.value]
                continue
            value = _single_value(ctx, expr.value)
            if value is None:
                return None
            expr = value
            continue
        if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
            container = _resolve(ctx, expr.value, depth + 1) if depth < 4 else None
            index = expr.slice[0].slice.value
            if not isinstance(index, cst.SimpleString):
                index = _resolve(ctx, index, depth + 1) if depth < 4 else None
            if not isinstance(container, cst.Dict) or not isinstance(index, cst.SimpleString):
                return None
            hit = [el.value for el in container.elements if isinstance(el, cst.DictElement)
                   and isinstance(el.key, cst.SimpleString) and el.key.evaluated_value == index.evaluated_value]
            if len(hit) != 1:
                return None
            expr = hit[0]
            continue
        return expr
    return None


def _loop_elements(ctx: FileContext, loop: cst.For) -> list[dict[str, cst.BaseExpression]] | None:
    """One binding of the loop's target per element of a literal it iterates (`for ov in GRID`,
    `for name, job in JOBS.items()`), or None."""
    it = loop.iter
    method = None
    if isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute) and not it.args \
            and it.func.attr.value in ("items", "values", "keys"):
        method, it = it.func.attr.value, it.func.value
    container = it if isinstance(it, (cst.List, cst.Tuple, cst.Dict)) else _resolve(ctx, it, 0)
    if isinstance(container, cst.Dict):
        pairs = [(el.key, el.value) for el in container.elements if isinstance(el, cst.DictElement)]
        if len(pairs) != len(container.elements):
            return None
        elements: list = [cst.Tuple([cst.Element(k), cst.Element(v)]) if method == "items" else
                          v if method == "values" else k for k, v in pairs]
    elif isinstance(container, (cst.List, cst.Tuple)) and method is None:
        if any(isinstance(el, cst.StarredElement) for el in container.elements):
            return None
        elements = [el.value for el in container.elements]
    else:
        return None
    if not elements or len(elements) > MAX_LOOP_ELEMENTS:
        return None
    out = []
    for element in elements:
        env = _bind(loop.target, element)
        if env is None:
            return None
        out.append(env)
    return out


def _bind(target: cst.BaseExpression, value: cst.BaseExpression) -> dict | None:
    if isinstance(target, cst.Name):
        return {target.value: value}
    if isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (cst.Tuple, cst.List)) \
            and len(target.elements) == len(value.elements):
        env: dict = {}
        for t, v in zip(target.elements, value.elements):
            if isinstance(t, cst.StarredElement) or isinstance(v, cst.StarredElement):
                return None
            inner = _bind(t.value, v.value)
            if inner is None:
                return None
            env.update(inner)
        return env
    return None


def _loop_envs(ctx: FileContext) -> list[dict[str, cst.BaseExpression]]:
    """The passes to check a call in: one per combination of the elements of the literal loops
    around it (innermost two loops, at most MAX_VARIANTS passes); [{}] outside such loops."""
    envs: list[dict] = [{}]
    loops = []
    for node in ctx.ancestors():  # loops of the call's own scope: a loop outside it binds no local
        if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)):
            break
        if isinstance(node, cst.For):
            loops.append(node)
    for loop in loops[:2]:
        ctx.__dict__[_ENV] = {}
        options = _loop_elements(ctx, loop)
        ctx.__dict__.pop(_ENV, None)
        if options is None or len(envs) * len(options) > MAX_VARIANTS:
            continue
        envs = [{**opt, **env} for env in envs for opt in options]
    return envs


class _ListBuilder(cst.CSTVisitor):
    """`cmd = [...]`, `cmd.append(x)`, `cmd.extend([...])`, `cmd += [...]`, `cmd = cmd + [...]`,
    in source order, within one scope (nested functions and classes are not entered)."""

    def __init__(self, root: cst.CSTNode, name: str):
        self.root = root
        self.name = name
        self.steps: list[tuple[str, cst.BaseExpression]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if node is not self.root and isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            return False
        if isinstance(node, cst.Assign) and any(isinstance(t.target, cst.Name) and t.target.value == self.name
                                                for t in node.targets):
            self.steps.append(("assign", node.value))
        elif isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name) \
                and node.target.value == self.name and node.value is not None:
            self.steps.append(("assign", node.value))
        elif isinstance(node, cst.AugAssign) and isinstance(node.target, cst.Name) and node.target.value == self.name:
            self.steps.append(("extend", node.value))
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                and isinstance(node.func.value, cst.Name) and node.func.value.value == self.name and node.args:
            method = node.func.attr.value
            if method in ("append", "extend", "insert"):
                self.steps.append((method, node.args[-1].value))
        return True

    def on_visit_attribute(self, node, attribute) -> None:
        return None

    def on_leave_attribute(self, original_node, attribute) -> None:
        return None


class _Mutations(cst.CSTVisitor):
    """Does the scope change `name` in place (`name.append(...)`, `name["a"] = ...`, `del name[0]`,
    `name += ...`)? Nested functions and classes are not entered."""

    METHODS = {"append", "extend", "insert", "update", "pop", "popitem", "clear", "remove", "setdefault", "sort",
               "reverse", "__setitem__", "__delitem__"}

    def __init__(self, root: cst.CSTNode, name: str):
        self.root = root
        self.name = name
        self.found = False

    def _is_name(self, node) -> bool:
        while isinstance(node, (cst.Subscript, cst.Attribute)):
            node = node.value
        return isinstance(node, cst.Name) and node.value == self.name

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self.found or node is not self.root and isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            return False
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                and node.func.attr.value in self.METHODS and self._is_name(node.func.value):
            self.found = True
        elif isinstance(node, cst.Assign) and any(isinstance(t.target, cst.Subscript) and self._is_name(t.target)
                                                  for t in node.targets):
            self.found = True
        elif isinstance(node, cst.AugAssign) and self._is_name(node.target):
            self.found = True
        elif isinstance(node, cst.Del) and self._is_name(node.target):
            self.found = True
        return not self.found

    def on_visit_attribute(self, node, attribute) -> None:
        return None

    def on_leave_attribute(self, original_node, attribute) -> None:
        return None


def _list_variable(ctx: FileContext, name: str, depth: int) -> list[Arg] | None:
    scope = ctx.scope()
    builder = _ListBuilder(scope, name)
    walk(scope, builder)
    out: list[Arg] | None = None
    for kind, value in builder.steps:
        if kind == "assign":
            if isinstance(value, cst.BinaryOperation) and isinstance(value.left, cst.Name) \
                    and value.left.value == name and out is not None:
                out.extend(_words(ctx, value.right, depth + 1) or [Arg(None, value.right)])
                continue
            if out is not None:
                return None  # rebound: which list reaches the call depends on control flow
            out = _words(ctx, value, depth + 1)
            if out is None:
                return None
        elif out is None:
            return None
        elif kind == "append":
            out.append(_string_arg(ctx, value))
        elif kind == "insert":
            out.append(Arg(None, value))
        else:
            out.extend(_words(ctx, value, depth + 1) or [Arg(None, value)])
    return out


def _string_commands(ctx: FileContext, expr: cst.BaseExpression) -> list[Command]:
    """Commands inside a shell string: a literal, an f-string, or `" ".join(list)` (or a name
    assigned one of these once)."""
    if isinstance(expr, (cst.Name, cst.Subscript)):
        value = _resolve(ctx, expr, 0)
        if value is None or isinstance(value, (cst.Name, cst.Subscript)):
            return []
        expr = value
    if isinstance(expr, cst.Call) and ctx.qualified_name(expr.func) == "shlex.split" and expr.args:
        return _string_commands(ctx, expr.args[0].value)  # splits like the shell (no expansions)
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "join" \
            and isinstance(expr.func.value, cst.SimpleString) and expr.args:
        words = _words(ctx, expr.args[0].value, 0)
        cmd = split_command(words) if words else None
        return [cmd] if cmd is not None else []
    arg = _string_arg(ctx, expr)
    if arg.text is None or "\n" in ctx.module.code_for_node(expr):
        return []
    start, _ = ctx.start_end(expr)
    raw = ctx.module.code_for_node(expr)
    # Columns map one to one only when the literal has no escapes and no expressions.
    exact = isinstance(expr, cst.SimpleString) and "\\" not in raw
    prefix = len(expr.prefix) + len(expr.quote) if isinstance(expr, cst.SimpleString) else 0
    out = []
    for words in shell_words(arg.text):
        args = []
        for text, begin, end, expansions in words:
            value = text
            if exact:
                anchor: Any = (Location(start.row, start.column + prefix + begin),
                               Location(start.row, start.column + prefix + end))
                piece = arg.text[begin:end].lstrip("'\"")
                plus = None
                if piece.startswith("+") and not piece.startswith("++"):
                    plus = Location(start.row, start.column + prefix + begin + (end - begin - len(piece)))
            else:
                anchor, plus = expr, None
            args.append(Arg(value, anchor, plus))
        cmd = split_command(args)
        if cmd is not None:
            out.append(cmd)
    return out


# ---- compose(overrides=[...]) ------------------------------------------------------------------

class _Initializers(cst.CSTVisitor):
    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.found: list[tuple[str, cst.Call]] = []

    def visit_Call(self, node: cst.Call) -> None:
        name = self.ctx.qualified_name(node.func)
        if name in INITIALIZE or name in INITIALIZE_DIR:
            self.found.append((name, node))

    def on_visit_attribute(self, node, attribute) -> None:
        return None

    def on_leave_attribute(self, original_node, attribute) -> None:
        return None


def _compose(ctx: FileContext, call: cst.Call, path: Path) -> tuple[App, list[Arg]] | None:
    name_arg = find_arg(call, "config_name", 0)
    over_arg = find_arg(call, "overrides", 1)
    if name_arg is None:
        return None
    name_node = name_arg.value if isinstance(name_arg.value, cst.SimpleString) else _resolve(ctx, name_arg.value, 0)
    if not isinstance(name_node, cst.SimpleString):
        return None
    config_name = name_node.evaluated_value
    words = _words(ctx, over_arg.value, 0) if over_arg is not None else []
    if words is None or not isinstance(config_name, str):
        return None
    finder = ctx.__dict__.get("_mllint_hydra_init")
    if finder is None:
        finder = _Initializers(ctx)
        walk(ctx.module, finder)
        ctx.__dict__["_mllint_hydra_init"] = finder
    dirs = set()
    for name, init in finder.found:
        key = "config_path" if name in INITIALIZE else "config_dir"
        arg = find_arg(init, key, 0)
        if arg is None:
            return None
        if key == "config_path":
            value = arg.value if isinstance(arg.value, cst.SimpleString) else _resolve(ctx, arg.value, 0)
            text = value.evaluated_value if isinstance(value, cst.SimpleString) else None
            if not isinstance(text, str):
                return None
            dirs.add((path.parent / text).resolve())
            note_link(path.parent / text, (path.parent / text).resolve())
        else:
            config_dir = _path_value(ctx, arg.value, path, 0)
            if config_dir is None or not config_dir.is_absolute():
                return None  # Hydra wants an absolute directory; a relative one depends on the cwd
            dirs.add(config_dir)
    if len(dirs) != 1:
        return None
    app = App(path, dirs.pop(), None, any(word in ctx.source for word in CONFIG_SOURCES))
    # compose()'s config name is checked like --config-name, pointing at its literal.
    return app, [Arg("--config-name", name_arg.value), Arg(config_name, name_arg.value)] + words


_PATH_SAME = {"os.path.abspath", "os.path.realpath", "os.path.normpath", "str", "pathlib.Path", "os.fspath"}


def _path_value(ctx: FileContext, expr: cst.BaseExpression, path: Path, depth: int) -> Path | None:
    """A directory computed from `__file__` and literals: `os.path.join(os.path.dirname(__file__),
    "conf")`, `str(Path(__file__).parent / "conf")`, a name assigned one of these; else None."""
    if depth > 8:
        return None
    if isinstance(expr, cst.SimpleString):
        value = expr.evaluated_value
        return Path(value) if isinstance(value, str) else None
    if isinstance(expr, cst.Name):
        if expr.value == "__file__":
            return path
        value = _resolve(ctx, expr, depth)
        return _path_value(ctx, value, path, depth + 1) if value is not None and value is not expr else None
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Divide):
        left, right = _path_value(ctx, expr.left, path, depth + 1), _path_value(ctx, expr.right, path, depth + 1)
        return left / right if left is not None and right is not None else None
    if isinstance(expr, cst.Attribute) and expr.attr.value == "parent":
        inner = _path_value(ctx, expr.value, path, depth + 1)
        return inner.parent if inner is not None else None
    if not isinstance(expr, cst.Call):
        return None
    func = expr.func
    if isinstance(func, cst.Attribute) and func.attr.value in ("resolve", "absolute") and not expr.args:
        inner = _path_value(ctx, func.value, path, depth + 1)
        return _normal(inner) if inner is not None else None
    name = ctx.qualified_name(func)
    args = [a.value for a in expr.args]
    if any(a.keyword is not None or a.star for a in expr.args) or not args:
        return None
    parts = [_path_value(ctx, a, path, depth + 1) for a in args]
    if any(p is None for p in parts):
        return None
    if name in _PATH_SAME and len(parts) == 1:
        return _normal(parts[0]) if name != "str" and name != "os.fspath" and name != "pathlib.Path" else parts[0]
    if name == "os.path.dirname" and len(parts) == 1:
        return parts[0].parent
    if name == "os.path.join":
        out = parts[0]
        for p in parts[1:]:
            out = out / p
        return out
    return None


def _normal(p: Path) -> Path | None:
    """`abspath`/`resolve` of a path: only an absolute one is known (a relative one needs the cwd)."""
    import os

    return Path(os.path.normpath(p)) if p.is_absolute() else None


# ---- defaults lists in config files (ML503) ----------------------------------------------------

def yaml_findings(ctx: FileContext) -> list[tuple[str, Location, Location]]:
    """Group options named in a config's defaults list that have no file: (message, start, end).

    Only for YAML files inside the config directory of a Hydra app found in the project (and not
    an app that registers configs in code)."""
    import yaml

    from mllint.analysis.hydra.apps import apps_under
    from mllint.analysis.hydra.check import _did_you_mean, _suggest
    from mllint.analysis.hydra.configs import BoundedLoader, Repo, TooDeep, Unresolvable, _parse_entry

    root, _, path = _settings(ctx)
    app = next((a for a in apps_under(root) if a.config_dir is not None and a.config_dir in path.parents), None)
    if app is None or app.uses_config_store:
        return []
    try:
        doc = yaml.compose(ctx.source, Loader=BoundedLoader)
    except TooDeep as exc:
        ctx.report_syntax_error(f"YAML {exc.problem}", exc.problem_mark.line + 1, exc.problem_mark.column + 1)
        return []
    except yaml.YAMLError:
        return []
    if not isinstance(doc, yaml.MappingNode):
        return []
    defaults = next((v for k, v in doc.value if isinstance(k, yaml.ScalarNode) and k.value == "defaults"), None)
    if not isinstance(defaults, yaml.SequenceNode):
        return []
    repo = Repo((app.config_dir,))
    base_dir = path.parent.relative_to(app.config_dir).as_posix()
    base_dir = "" if base_dir == "." else base_dir
    out = []
    for item in defaults.value:
        if not isinstance(item, yaml.MappingNode) or len(item.value) != 1:
            continue
        key_node, value_node = item.value[0]
        try:
            entry = _parse_entry(yaml.safe_load(yaml.serialize(item)))
        except (Unresolvable, yaml.YAMLError):
            continue
        if entry["kind"] != "group" or entry["optional"] or not entry["options"]:
            continue
        g = entry["group"]
        group = g[1:] if g.startswith("/") else (f"{base_dir}/{g}" if base_dir else g)
        if not repo.is_group(group) or group.startswith("hydra"):
            continue
        nodes = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for option, node in zip(entry["options"], nodes):
            if repo.file(f"{group}/{option}") is None:
                found = _suggest(option, repo.options(group))
                msg = (f"defaults list selects `{g}: {option}`, but {group}/{option}.yaml does not exist, so Hydra "
                       f"stops at start-up{_did_you_mean(found, repo.options(group))}")
                start, end = ctx.location_at(node.start_mark.index), ctx.location_at(node.end_mark.index)
                out.append((msg, start, end))
    return out
