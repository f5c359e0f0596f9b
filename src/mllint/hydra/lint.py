"""The shared analysis behind ML501-ML503: find the commands in a file, link each to its Hydra
app, check it; the three rules each report their own code. Computed once per file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import libcst as cst

from mllint.astutil import find_arg
from mllint.candidates import Calls, Words, leaves
from mllint.context import FileContext
from mllint.diagnostics import Location
from mllint.hydra.apps import App, find_app
from mllint.hydra.check import PLACEHOLDER, Arg, Finding, check_command
from mllint.hydra.commands import Command, shell_commands, shell_words, split_command
from mllint.reads import note_link
from mllint.traversal import walk

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
    for app, args in call_commands(ctx, call):
        out.extend(check_command(app, args, ctx.warn))
    return out


def call_commands(ctx: FileContext, call: cst.Call) -> list[tuple[App, list[Arg]]]:
    """The Hydra apps a call runs, each with the words after the app (ctx.stack must hold the call)."""
    name = ctx.call_name(call)
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
        for part in node.parts:
            if isinstance(part, cst.FormattedStringText):
                if "\\" in part.value or "{{" in part.value:
                    return Arg(None, node)
                pieces.append(part.value)
            else:
                pieces.append(PLACEHOLDER)
        quote = node.start
        return Arg("".join(pieces), node, _plus(ctx, node, len(quote)))
    if isinstance(node, cst.Attribute) and ctx.qualified_name(node) == "sys.executable":
        return Arg("python", node)
    return Arg(None, node)


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
    if isinstance(expr, cst.Name):
        return _list_variable(ctx, expr.value, depth)
    return None


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
    """Commands inside a shell string: a literal, an f-string, or `" ".join(list)`."""
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
    if name_arg is None or not isinstance(name_arg.value, cst.SimpleString):
        return None
    config_name = name_arg.value.evaluated_value
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
        if arg is None or not isinstance(arg.value, cst.SimpleString):
            return None
        value = arg.value.evaluated_value
        if not isinstance(value, str):
            return None
        dirs.add((path.parent / value).resolve() if key == "config_path" else Path(value))
        if key == "config_path":
            note_link(path.parent / value, (path.parent / value).resolve())
    if len(dirs) != 1:
        return None
    app = App(path, dirs.pop(), None, "ConfigStore" in ctx.source)
    # compose()'s config name is checked like --config-name, pointing at its literal.
    return app, [Arg("--config-name", name_arg.value), Arg(config_name, name_arg.value)] + words


# ---- defaults lists in config files (ML503) ----------------------------------------------------

def yaml_findings(ctx: FileContext) -> list[tuple[str, Location, Location]]:
    """Group options named in a config's defaults list that have no file: (message, start, end).

    Only for YAML files inside the config directory of a Hydra app found in the project (and not
    an app that registers configs in code)."""
    import yaml

    from mllint.hydra.apps import apps_under
    from mllint.hydra.check import _did_you_mean, _suggest
    from mllint.hydra.configs import BoundedLoader, Repo, TooDeep, Unresolvable, _parse_entry

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
