"""Hydra apps: which Python file a command runs, and where that file's configs live.

Apps are read with `ast` (never imported): `@hydra.main(config_path=..., config_name=...)`, or
`[tool.mllint.hydra]` settings (`apps`, `config-path`, `config-name`) for projects whose entry
points cannot be read statically. Results are cached per process, keyed by path and mtime.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mllint.fingerprint import read_regular
from mllint.analysis.hydra.configs import Repo, walk_dirs
from mllint.engine.reads import note_dir, note_file, note_link

MAX_APP_BYTES = 2 * 2**20  # a Hydra app is a script, not generated code; its full AST costs ~400x its size

# Configs registered in code, or a plugin that adds a config source (habitat's run.py registers
# `HabitatBaselinesConfigPlugin`): the config directory is then not all there is.
CONFIG_SOURCES = ("ConfigStore", "register_hydra_plugin", "SearchPathPlugin", "Plugins.instance()")

SKIP_DIRS = ("__pycache__", "node_modules", "site-packages", "venv", "build", "dist", "env")


@dataclass(frozen=True)
class App:
    file: Path | None
    config_dir: Path | None  # None: not known statically (then nothing is checked)
    config_name: str | None
    uses_config_store: bool = False  # configs may also come from code: be silent about missing ones
    function: str | None = None  # the decorated function's name

    def repo(self, extra: tuple[Path, ...] = ()) -> Repo | None:
        if self.config_dir is None or not note_dir(self.config_dir):
            return None
        return Repo((self.config_dir, *extra))


_APPS: dict[tuple[str, int], Any] = {}


def _hydra_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Local names for the `hydra` module and for `hydra.main`."""
    modules, mains = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "hydra":
                    modules.add(a.asname or "hydra")
        elif isinstance(node, ast.ImportFrom) and node.module == "hydra":
            for a in node.names:
                if a.name == "main":
                    mains.add(a.asname or "main")
    return modules, mains


def _const(node: ast.AST | None) -> tuple[bool, Any]:
    if node is None:
        return True, None
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, str)):
        return True, node.value
    return False, None


def read_app(file: Path, note: bool = True) -> App | None:
    """The Hydra app defined in `file` (via @hydra.main), or None. `note`: False for files of the
    project's tree (`_index`), which is noted as a whole."""
    if note:
        note_file(file)
    try:
        key = (str(file), file.stat().st_mtime_ns)
    except OSError:
        return None
    if key in _APPS:
        return _APPS[key]
    app = None
    try:
        raw = read_regular(file, MAX_APP_BYTES)  # not a FIFO or device, and not unbounded
        source = raw.decode("utf-8") if len(raw) <= MAX_APP_BYTES else ""
        tree = ast.parse(source) if "hydra" in source else None
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
        tree = None
    if tree is not None:
        modules, mains = _hydra_names(tree)
        store = any(word in source for word in CONFIG_SOURCES)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for dec in node.decorator_list:
                if not isinstance(dec, ast.Call):
                    continue
                f = dec.func
                is_main = (isinstance(f, ast.Attribute) and f.attr == "main" and isinstance(f.value, ast.Name)
                           and f.value.id in modules) or (isinstance(f, ast.Name) and f.id in mains)
                if not is_main:
                    continue
                kw = {k.arg: k.value for k in dec.keywords if k.arg}
                path_node = kw.get("config_path", dec.args[0] if dec.args else None)
                name_node = kw.get("config_name", dec.args[1] if len(dec.args) > 1 else None)
                ok_path, cpath = _const(path_node)
                ok_name, cname = _const(name_node)
                config_dir = None
                if ok_path and isinstance(cpath, str) and not cpath.startswith("pkg://"):
                    cpath = cpath[len("file://"):] if cpath.startswith("file://") else cpath
                    config_dir = (file.parent / cpath).resolve()
                    note_link(file.parent / cpath, config_dir)
                app = App(file, config_dir, cname if ok_name else None, store or not ok_path or not ok_name,
                          node.name)
                break
            if app is not None:
                break
    _APPS[key] = app
    return app


def _index(root: Path) -> list[Path]:
    return walk_dirs(root, SKIP_DIRS) if note_dir(root) else []  # walked once per run


def _unique_suffix(root: Path, rel: str) -> Path | None:
    """The one app file under root whose path ends with `rel` (None if none or several)."""
    parts = Path(rel).parts
    hits = [p for p in _index(root) if p.parts[-len(parts):] == parts and read_app(p, note=False) is not None]
    return hits[0] if len(hits) == 1 else None


def resolve_script(script: str, launcher: Path, root: Path) -> Path | None:
    """The file that `python <script>` runs: tried from the project root, the launcher's
    directory and its parent, then a unique match anywhere under the root."""
    p = Path(script)
    if p.is_absolute():
        return p if note_file(p) else None
    for base in (root, launcher.parent, launcher.parent.parent):
        candidate = base / p
        if note_file(candidate):
            note_link(candidate, candidate.resolve())
            return candidate.resolve()
    return _unique_suffix(root, script)


def resolve_module(module: str, launcher: Path, root: Path) -> Path | None:
    """The file that `python -m <module>` runs."""
    rel = module.replace(".", "/")
    for base in (root, root / "src", launcher.parent, launcher.parent.parent):
        for candidate in (base / f"{rel}.py", base / rel / "__main__.py"):
            if note_file(candidate):
                note_link(candidate, candidate.resolve())
                return candidate.resolve()
    return _unique_suffix(root, f"{rel}.py")


def app_from_settings(hydra: dict, root: Path, script: str | None, module: str | None,
                      file: Path | None) -> App | None:
    """[tool.mllint.hydra] apps table (keyed by script path or module), else the top-level
    config-path/config-name for an app whose decorator cannot be read."""
    apps = hydra.get("apps") or {}
    keys = [k for k in (script, module) if k]
    if file is not None:
        try:
            keys.append(file.relative_to(root).as_posix())
        except ValueError:
            pass
    for key in keys:
        entry = apps.get(key) or apps.get(key.lstrip("./"))
        if isinstance(entry, dict) and "config-path" in entry:
            note_link(root / entry["config-path"], (root / entry["config-path"]).resolve())
            return App(file, (root / entry["config-path"]).resolve(), entry.get("config-name"))
    if "config-path" in hydra and file is not None:
        note_link(root / hydra["config-path"], (root / hydra["config-path"]).resolve())
        return App(file, (root / hydra["config-path"]).resolve(), hydra.get("config-name"))
    return None


def _called_entry(file: Path, root: Path) -> App | None:
    """The app a script or `__main__.py` only starts: `from pkg.main import main` (or `from .main
    import main`) and then `main()` at top level or under `if __name__ == "__main__":`, where that
    function is a module's @hydra.main. One hop; the module read is noted like the script."""
    try:
        key = (str(file), file.stat().st_mtime_ns)
    except OSError:
        return None
    if key not in _ENTRIES:
        _ENTRIES[key] = _entry_call(file)
    found = _ENTRIES[key]
    if found is None:
        return None
    level, module, attr = found
    if level:
        base = file.parent
        for _ in range(level - 1):
            base = base.parent
        rel = module.replace(".", "/")
        target = next((c for c in (base / f"{rel}.py", base / rel / "__init__.py") if note_file(c)), None)
    else:
        target = resolve_module(module, file, root)
    if target is None:
        return None
    app = read_app(target)
    return app if app is not None and app.function == attr else None


_ENTRIES: dict[tuple[str, int], tuple[int, str, str] | None] = {}


def _entry_call(file: Path) -> tuple[int, str, str] | None:
    """(import level, module, name) of the one imported function the file calls bare at top level."""
    try:
        raw = read_regular(file, MAX_APP_BYTES)
        tree = ast.parse(raw.decode("utf-8")) if len(raw) <= MAX_APP_BYTES and b"import" in raw else None
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
        return None
    if tree is None:
        return None
    body = list(tree.body)
    for node in tree.body:  # `if __name__ == "__main__":` blocks
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare) \
                and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__":
            body.extend(node.body)
    imported: dict[str, tuple[int, str, str]] = {}
    for node in body:
        if isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                imported[a.asname or a.name] = (node.level, node.module, a.name)
    called = [n.value.func.id for n in body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
              and isinstance(n.value.func, ast.Name) and not n.value.args and not n.value.keywords
              and n.value.func.id in imported]
    return imported[called[0]] if len(called) == 1 else None


def find_app(hydra: dict, root: Path, launcher: Path, script: str | None, module: str | None) -> App | None:
    file = None
    if script is not None:
        file = resolve_script(script, launcher, root)
    elif module is not None:
        file = resolve_module(module, launcher, root)
    apps_only = {"apps": hydra.get("apps") or {}}
    configured = app_from_settings(apps_only, root, script, module, file)
    if configured is not None:
        return configured
    if file is None:
        return None
    app = read_app(file)
    if app is None:
        app = _called_entry(file, root)
    if app is not None and app.config_dir is not None:
        return app
    if app is not None:  # a Hydra app whose config_path is not a literal
        return app_from_settings(hydra, root, script, module, file)
    return None


def apps_under(root: Path) -> list[App]:
    """Every @hydra.main app in the project (for configs linted on their own)."""
    return [app for app in (read_app(p, note=False) for p in _index(root)) if app is not None]
