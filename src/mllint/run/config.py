"""Configuration: [tool.mllint] in the nearest pyproject.toml, then command-line options on top.

Unknown keys, unknown rule codes and wrong types are errors (exit 2) that name the key and file:
a setting that silently does nothing is worse than no setting.
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from mllint.engine.reads import new_run
from mllint.engine.registry import rule_infos
from mllint.engine.rule import Rule, RuleInfo
from mllint.fingerprint import content_digest, read_regular
from mllint.run.rules import all_rules

# Names skipped when walking a directory (as Ruff's default `exclude`, plus mllint's own): matched
# against the name of each file and directory below a path named on the command line, never against
# the named path itself. Virtual environments are found by their `pyvenv.cfg` (mllint.discovery),
# whatever their name: a name like `env` is as often an RL package or a config group.
DEFAULT_EXCLUDE = (
    ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".ipynb_checkpoints", ".mypy_cache", ".nox",
    ".pants.d", ".pyenv", ".pytest_cache", ".pytype", ".ruff_cache", ".svn", ".tox", ".venv", ".vscode",
    "__pypackages__", "_build", "buck-out", "build", "dist", "node_modules", "site-packages", "venv",
    "__pycache__", ".mllint_cache", "*.egg-info", ".hydra",  # .hydra/: a Hydra run's own record of its config
)

# Configuration files looked for in each directory, in order of precedence (as Ruff's `.ruff.toml`,
# `ruff.toml`, `pyproject.toml`); the first one found is the directory's configuration.
CONFIG_FILES = (".mllint.toml", "mllint.toml", "pyproject.toml")

# key -> expected type (checked when the file is read)
KNOWN_KEYS: dict[str, type | tuple[type, ...]] = {
    "extend": str,
    "select": list,
    "ignore": list,
    "extend-select": list,
    "fixable": list,
    "unfixable": list,
    "extend-fixable": list,
    "unsafe-fixes": bool,
    "preview": bool,
    "exclude": list,
    "extend-exclude": list,
    "respect-gitignore": bool,
    "per-file-ignores": dict,
    "rules": dict,
    "hydra": dict,
}

# [tool.mllint.hydra]: for projects whose Hydra entry points mllint cannot find by itself.
HYDRA_KEYS: dict[str, type | tuple[type, ...]] = {
    "config-path": str,
    "config-name": str,
    "apps": dict,  # script or module -> {config-path, config-name}
    "allow-double-plus": bool,  # ML501's fix may use `++` instead of removing the `+`
}
HYDRA_APP_KEYS: dict[str, type] = {"config-path": str, "config-name": str}


class ConfigError(Exception):
    """A configuration or usage problem: exit code 2, one line naming what is wrong."""


def _type_name(t) -> str:
    if isinstance(t, tuple):
        return " or ".join(_type_name(x) for x in t)
    return {list: "an array", dict: "a table", bool: "a boolean", str: "a string", int: "an integer",
            float: "a number"}.get(t, t.__name__)


def check_selector(selector: str, where: str) -> str:
    """A selector is ALL or a prefix of at least one rule code (ML, ML1, ML10, ML101). An empty one
    is refused: "" is a prefix of every code, so it would switch every rule off (or on)."""
    sel = selector.strip().upper() if isinstance(selector, str) else ""
    if not sel:
        raise ConfigError(f"{where}: empty rule selector {selector!r}")
    if sel == "ALL" or any(code.startswith(sel) for code in rule_infos()):
        return sel
    raise ConfigError(f"{where}: unknown rule code or prefix {selector!r}")


def _matches(selector: str, code: str) -> bool:
    return selector == "ALL" or code.startswith(selector)


def _specificity(selector: str) -> int:
    return 0 if selector == "ALL" else len(selector)


@dataclass
class SelectionLayer:
    """One source of rule selection (the config file, or the command line)."""

    select: list[str] | None = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)

    def apply(self, enabled: dict[str, bool], explicit: set[str]) -> None:
        """The most specific selector wins (as in Ruff); on a tie, ignore wins."""
        positives = (self.select or []) + self.extend_select
        for code in enabled:
            pos = max((_specificity(s) for s in positives if _matches(s, code)), default=-1)
            neg = max((_specificity(s) for s in self.ignore if _matches(s, code)), default=-1)
            if pos == -1 and neg == -1:
                if self.select is not None:
                    enabled[code] = False
            else:
                enabled[code] = pos > neg
            if code in positives:
                explicit.add(code)


@dataclass
class Settings:
    """The effective settings for one project (one pyproject.toml, or none)."""

    root: Path
    source: Path | None = None  # the pyproject.toml these came from
    layers: list[SelectionLayer] = field(default_factory=list)
    preview: bool = False
    exclude: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    rule_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    hydra: dict[str, Any] = field(default_factory=dict)
    fix_layers: list[SelectionLayer] = field(default_factory=list)  # fixable / extend-fixable / unfixable
    unsafe_fixes: bool = False
    respect_gitignore: bool = True
    sources: list[Path] = field(default_factory=list)  # `source` and the files it extends, nearest first
    origins: dict[str, Path] = field(default_factory=dict)  # key -> the file it was taken from

    def fixable_codes(self) -> frozenset[str]:
        """The rules whose fixes --fix may apply (`fixable` minus `unfixable`, most specific wins)."""
        state = tuple((None if layer.select is None else tuple(layer.select), tuple(layer.extend_select),
                       tuple(layer.ignore)) for layer in self.fix_layers)
        memo = self.__dict__.get("_fixable")
        if memo is None or memo[0] != state:
            fixable = {code: True for code in rule_infos()}
            for layer in self.fix_layers:
                layer.apply(fixable, set())
            memo = self.__dict__["_fixable"] = (state, frozenset(code for code, on in fixable.items() if on))
        return memo[1]

    def enabled_rules(self) -> list[type[Rule]]:
        """The enabled rules' classes (importing the rules: for linting)."""
        classes = all_rules()
        return [classes[info.code] for info in self.enabled_infos()]

    def enabled_infos(self) -> list[RuleInfo]:
        """The enabled rules' metadata (for everything but linting: no rule is imported). Asked
        for every file: computed once per selection (layers and preview may still be changed)."""
        state = (self.preview, tuple((None if layer.select is None else tuple(layer.select),
                                      tuple(layer.extend_select), tuple(layer.ignore)) for layer in self.layers))
        memo = self.__dict__.get("_enabled")
        if memo is None or memo[0] != state:
            memo = self.__dict__["_enabled"] = (state, self._compute_enabled_infos())
        return list(memo[1])

    def _compute_enabled_infos(self) -> list[RuleInfo]:
        rules = rule_infos()
        enabled = {code: True for code in rules}
        explicit: set[str] = set()
        for layer in self.layers:
            layer.apply(enabled, explicit)
        out = []
        for code, cls in rules.items():
            if not enabled[code]:
                continue
            # Preview rules run with --preview, or when selected by their exact code.
            if cls.stability == "preview" and not (self.preview or code in explicit):
                continue
            out.append(cls)
        return out

    def options_for(self, cls: type[Rule] | RuleInfo) -> dict[str, Any]:
        opts = {key: opt.default for key, opt in cls.options.items()}
        opts.update(self.rule_options.get(cls.code, {}))
        return opts

    def ignored_for(self, path: Path) -> list[str]:
        """Codes/prefixes that per-file-ignores turn off for this path."""
        if not self.per_file_ignores:
            return []
        rel = _relative(path, self.root)
        out: list[str] = []
        for pattern, codes in self.per_file_ignores.items():
            if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(path.name, pattern):
                out.extend(codes)
        return out

    def _exclude_matcher(self):
        matcher = self.__dict__.get("_exclude")
        if matcher is None or matcher[0] != self.exclude:  # one regex for all patterns, built once
            patterns = [pattern.rstrip("/") for pattern in (*DEFAULT_EXCLUDE, *self.exclude)]
            regex = re.compile("|".join(fnmatch.translate(p) for p in patterns))
            matcher = self.__dict__["_exclude"] = (list(self.exclude), regex.match,
                                                   tuple(p + "/" for p in patterns if "/" in p))
        return matcher[1], matcher[2]

    def is_excluded(self, path: str | Path) -> bool:
        """The path, or one of its parts, matches an exclude pattern (or lies under one that names
        a directory path): for paths named on the command line with --force-exclude, and editors."""
        match, prefixes = self._exclude_matcher()
        rel = _relative(path, self.root)
        return bool(match(rel) or any(match(part) for part in rel.split("/")) or (prefixes and rel.startswith(prefixes)))

    def is_excluded_entry(self, path: str) -> bool:
        """A file or directory met while walking a named path: only its own path (relative to the
        root) or name counts, as in Ruff; the directories above it were checked on the way down,
        and the named path itself is never excluded (`mllint env` lints env/)."""
        match, _ = self._exclude_matcher()
        rel = _relative(path, self.root)
        return bool(match(rel) or match(os.path.basename(path)))

    def describe(self, path: Path, display: str) -> str:
        """--show-settings: the settings that apply to `path`, each with the file it came from."""
        import json

        def origin(key: str) -> str:
            source = self.origins.get(key)
            return f"  # {source}" if source is not None else "  # default"

        def value(v: Any) -> str:
            return json.dumps(v, sort_keys=True)

        enabled = [info.code for info in self.enabled_infos()]
        fixable = self.fixable_codes()
        matching = {pattern: codes for pattern, codes in self.per_file_ignores.items()
                    if fnmatch.fnmatch(_relative(path, self.root), pattern) or fnmatch.fnmatch(path.name, pattern)}
        ignored = self.ignored_for(path)
        lines = [f"Resolved settings for: {display}",
                 f"Settings path: {self.source if self.source is not None else '(none: the defaults)'}"]
        lines += [f"Extends: {extended}" for extended in self.sources[1:]]
        lines += [f"root = {value(str(self.root))}",
                  f"enabled = {value(enabled)}" + origin("select" if "select" in self.origins else "ignore"),
                  f"disabled-here = {value([c for c in enabled if any(_matches(s, c) for s in ignored)])}"
                  "  # per-file-ignores matching this file",
                  f"fixable = {value([c for c in enabled if c in fixable])}"
                  + origin("unfixable" if "unfixable" in self.origins else "fixable"),
                  f"unsafe-fixes = {value(self.unsafe_fixes)}" + origin("unsafe-fixes"),
                  f"preview = {value(self.preview)}" + origin("preview"),
                  f"respect-gitignore = {value(self.respect_gitignore)}" + origin("respect-gitignore"),
                  f"exclude = {value(self.exclude)}" + origin("exclude" if "exclude" in self.origins else "extend-exclude")
                  + " (besides the defaults: " + ", ".join(DEFAULT_EXCLUDE) + ")",
                  f"per-file-ignores = {value(self.per_file_ignores)}" + origin("per-file-ignores"),
                  f"per-file-ignores matching this file = {value(matching)}" + origin("per-file-ignores")]
        lines += [f"rules.{code} = {value(opts)}" + origin("rules") for code, opts in sorted(self.rule_options.items())]
        lines += [f"hydra = {value(self.hydra)}" + origin("hydra")] if self.hydra else []
        return "\n".join(lines)

    def fingerprint(self) -> str:
        """A stable text of everything that changes lint results (for the cache)."""
        memo = self.__dict__.get("_fingerprint")
        if memo is None:
            codes = sorted(c.code for c in self.enabled_infos())
            fixable = self.fixable_codes()  # an unfixable rule's diagnostics carry no fix
            # the root too: per-file ignores match paths relative to it, Hydra commands resolve from it
            memo = repr((codes, sorted(self.rule_options.items()), sorted(self.per_file_ignores.items()),
                         sorted(self.hydra.items()), [code for code in codes if code not in fixable], str(self.root)))
            self.__dict__["_fingerprint"] = memo
        return memo


def _relative(path: str | Path, root: Path) -> str:
    """`path` relative to `root`, with `/`; as given if it lies outside. abspath, not resolve(): a
    broken symlink or a symlink loop must still get a name. (Strings, not PurePath.relative_to:
    this runs for every file and directory a run walks.)"""
    full, top = os.path.abspath(path), os.path.abspath(root)
    if full == top:
        return "."
    top = top if top.endswith(os.sep) else top + os.sep
    if not full.startswith(top):
        given = os.path.normpath(path)
        return given if os.sep == "/" else given.replace(os.sep, "/")
    rel = full[len(top):]
    return rel if os.sep == "/" else rel.replace(os.sep, "/")


def _check_type(value: Any, expected, key: str, where: str) -> None:
    if expected is float:
        expected = (int, float)
    if isinstance(value, bool) and expected in (int, (int, float)):
        raise ConfigError(f"{where}: `{key}` must be {_type_name(expected)}, got {value!r}")
    if not isinstance(value, expected):
        raise ConfigError(f"{where}: `{key}` must be {_type_name(expected)}, got {type(value).__name__} {value!r}")


def _str_list(value: Any, key: str, where: str) -> list[str]:
    _check_type(value, list, key, where)
    for item in value:
        if not isinstance(item, str):
            raise ConfigError(f"{where}: `{key}` must be an array of strings, got {item!r}")
    return list(value)


def _validate(table: dict[str, Any], where: str, prefix: str) -> None:
    """Every key, type, element type, rule code and selector of one configuration table: what is
    wrong is an error now (exit 2, naming the key and the file), never a rule's internal error
    at lint time or a setting that silently does nothing. `prefix`: `tool.mllint.` in a pyproject.toml."""
    for key, value in table.items():
        if key not in KNOWN_KEYS:
            raise ConfigError(f"{where}: unknown key `{prefix}{key}` (known: {', '.join(KNOWN_KEYS)})")
        _check_type(value, KNOWN_KEYS[key], f"{prefix}{key}", where)
    for key in ("select", "ignore", "extend-select", "fixable", "unfixable", "extend-fixable"):
        for selector in _str_list(table.get(key, []), f"{prefix}{key}", where):
            check_selector(selector, f"{where}: `{prefix}{key}`")
    for key in ("exclude", "extend-exclude"):
        for pattern in _str_list(table.get(key, []), f"{prefix}{key}", where):
            if not pattern.strip():
                raise ConfigError(f"{where}: `{prefix}{key}` holds an empty pattern")
    if "extend" in table and not table["extend"].strip():
        raise ConfigError(f"{where}: `{prefix}extend` is empty")
    for pattern, codes in table.get("per-file-ignores", {}).items():
        key = f"{prefix}per-file-ignores.{_toml_key(pattern)}"
        if not pattern.strip():
            raise ConfigError(f"{where}: `{key}`: empty file pattern")
        for selector in _str_list(codes, key, where):
            check_selector(selector, f"{where}: `{key}`")
    rules = rule_infos()
    for code, opts in table.get("rules", {}).items():
        key = f"{prefix}rules.{code}"
        if code not in rules:
            raise ConfigError(f"{where}: unknown rule code in `{key}`")
        _check_type(opts, dict, key, where)
        known = rules[code].options
        for name, value in opts.items():
            if name not in known:
                choices = ", ".join(known) or "none"
                raise ConfigError(f"{where}: unknown option `{key}.{name}` (options of {code}: {choices})")
            option = known[name]
            _check_type(value, option.type, f"{key}.{name}", where)
            items = option.items
            if items is None and isinstance(option.default, list) and option.default:
                items = type(option.default[0])
            if isinstance(value, list) and items is not None:
                for item in value:
                    if not isinstance(item, items) or (isinstance(item, bool) and items is not bool):
                        raise ConfigError(f"{where}: `{key}.{name}` must be an array of "
                                          f"{_type_name(items).split(' ', 1)[1]}s, got {item!r}")
    for name, value in table.get("hydra", {}).items():
        key = f"{prefix}hydra.{name}"
        if name not in HYDRA_KEYS:
            raise ConfigError(f"{where}: unknown key `{key}` (known: {', '.join(HYDRA_KEYS)})")
        _check_type(value, HYDRA_KEYS[name], key, where)
        if name != "apps":
            continue
        for app, entry in value.items():
            app_key = f"{key}.{_toml_key(app)}"
            if not app.strip():
                raise ConfigError(f"{where}: `{key}` has an empty app name")
            _check_type(entry, dict, app_key, where)
            for entry_name, entry_value in entry.items():
                if entry_name not in HYDRA_APP_KEYS:
                    raise ConfigError(f"{where}: unknown key `{app_key}.{entry_name}` "
                                      f"(known: {', '.join(HYDRA_APP_KEYS)})")
                _check_type(entry_value, HYDRA_APP_KEYS[entry_name], f"{app_key}.{entry_name}", where)
            if "config-path" not in entry:
                raise ConfigError(f"{where}: `{app_key}` needs a `config-path`")


def _toml_key(name: str) -> str:
    """A table key as TOML writes it: `train.py` is `"train.py"`."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else '"' + name.replace('"', '\\"') + '"'


def _rebase(pattern: str, directory: Path, root: Path) -> str:
    """A path pattern of an extended file (relative to its own directory, as in Ruff) made relative
    to the extending file's root. A bare name (no `/`) matches at any depth and stays as it is."""
    if directory == root or "/" not in pattern.strip("/"):
        return pattern
    rebased = os.path.relpath(os.path.join(directory, pattern), root).replace(os.sep, "/")
    return rebased + "/" if pattern.endswith("/") else rebased


def _settings_from(chain: list[tuple[dict[str, Any], Path, Path | None]], root: Path) -> Settings:
    """Settings from a configuration file and the files it extends (`chain`, nearest first): as in
    Ruff, the extending file's settings override those it extends; rule selections (select, ignore,
    fixable...) stack as layers, and extend-exclude accumulates."""
    settings = Settings(root=root, source=chain[0][2], sources=[src for _, _, src in chain if src is not None])
    exclude: list[str] = []
    extend_exclude: list[str] = []
    for table, directory, src in reversed(chain):
        origin = src or Path("configuration")
        for key in table:
            settings.origins[key] = origin
        sel = [s.strip().upper() for s in table["select"]] if "select" in table else None
        settings.layers.append(SelectionLayer(select=sel,
                                              extend_select=[s.strip().upper() for s in table.get("extend-select", [])],
                                              ignore=[s.strip().upper() for s in table.get("ignore", [])]))
        if any(key in table for key in ("fixable", "extend-fixable", "unfixable")):
            fixable = [s.strip().upper() for s in table["fixable"]] if "fixable" in table else None
            settings.fix_layers.append(SelectionLayer(
                select=fixable, extend_select=[s.strip().upper() for s in table.get("extend-fixable", [])],
                ignore=[s.strip().upper() for s in table.get("unfixable", [])]))
        if "exclude" in table:
            exclude = [_rebase(p, directory, root) for p in table["exclude"]]
        extend_exclude += [_rebase(p, directory, root) for p in table.get("extend-exclude", [])]
        if "per-file-ignores" in table:
            settings.per_file_ignores = {_rebase(pattern, directory, root): [c.strip().upper() for c in codes]
                                         for pattern, codes in table["per-file-ignores"].items()}
        for code, opts in table.get("rules", {}).items():
            settings.rule_options.setdefault(code, {}).update(opts)
        for name, value in table.get("hydra", {}).items():
            if name == "apps":
                apps = settings.hydra.setdefault("apps", {})
                for app, entry in value.items():
                    entry = dict(entry)
                    if directory != root:  # config paths are relative to the file that names them
                        entry["config-path"] = str((directory / entry["config-path"]).resolve())
                    apps[app] = entry
            elif name == "config-path" and directory != root:
                settings.hydra[name] = str((directory / value).resolve())
            else:
                settings.hydra[name] = value
        settings.preview = table.get("preview", settings.preview)
        settings.unsafe_fixes = table.get("unsafe-fixes", settings.unsafe_fixes)
        settings.respect_gitignore = table.get("respect-gitignore", settings.respect_gitignore)
    settings.exclude = exclude + extend_exclude
    return settings


def parse_table(table: dict[str, Any], root: Path, source: Path | None, inputs=None) -> Settings:
    """Validate a configuration table (and the files it extends) and turn it into Settings."""
    prefix = "tool.mllint." if source is not None and source.name == "pyproject.toml" else ""
    where = str(source) if source else "configuration"
    _validate(table, where, prefix)
    chain = [(table, root, source)]
    seen = [os.path.abspath(source)] if source is not None else []
    while "extend" in chain[-1][0]:
        current_table, directory, current = chain[-1]
        key = f"{'tool.mllint.' if current is not None and current.name == 'pyproject.toml' else ''}extend"
        if current is None:
            raise ConfigError(f"configuration: `{key}` needs a configuration file to be relative to")
        target = os.path.abspath(os.path.join(directory, os.path.expanduser(current_table["extend"])))
        if target in seen:
            chain_text = " extends ".join(f"`{p}`" for p in [*seen, target])
            raise ConfigError(f"{current}: circular `{key}`: {chain_text}")
        if not os.path.isfile(target):
            if inputs is not None:
                inputs.file(target, None)
            raise ConfigError(f"{current}: `{key}`: no such file: {target}")
        seen.append(target)
        path = Path(target)
        extended = _table_of(path, _read_toml(path, inputs))
        _validate(extended, target, "tool.mllint." if path.name == "pyproject.toml" else "")
        chain.append((extended, path.parent, path))
    return _settings_from(chain, root)


def _table_of(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """The mllint table of a parsed file: [tool.mllint] in a pyproject.toml; the top level (or a
    [tool.mllint] table) in an mllint.toml."""
    if path.name != "pyproject.toml" and not ("tool" in data and isinstance(data["tool"], dict)
                                              and "mllint" in data["tool"]):
        return data
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: `tool` must be a table, got {type(tool).__name__} {tool!r}")
    table = tool.get("mllint", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: `tool.mllint` must be a table")
    return table


def _read_toml(path: Path, inputs=None) -> dict[str, Any]:
    """The parsed file; `inputs` (a `replay.RunInputs`) is told its content digest."""
    try:
        raw = read_regular(path)  # a FIFO named pyproject.toml must not hang the run
        if inputs is not None:
            inputs.file(path, content_digest(raw))
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def load_pyproject(path: Path, inputs=None) -> Settings:
    return parse_table(_table_of(path, _read_toml(path, inputs)), path.parent, path, inputs)


def load_config_file(path: Path, inputs=None) -> Settings:
    """`--config FILE`, or a configuration file found: a pyproject.toml ([tool.mllint]) or an
    mllint.toml / .mllint.toml (top-level keys)."""
    if not path.is_file():
        raise ConfigError(f"--config: no such file: {path}")
    return parse_table(_table_of(path, _read_toml(path, inputs)), path.parent, path, inputs)


class ConfigResolver:
    """Finds the settings for each linted path: the nearest configuration file above it
    (.mllint.toml, mllint.toml or pyproject.toml; in one directory, in that order)."""

    def __init__(self, cli_layer: SelectionLayer | None = None, preview: bool | None = None,
                 config_file: Path | None = None, extra_exclude: list[str] | None = None, inputs=None,
                 fix_layer: SelectionLayer | None = None, unsafe_fixes: bool | None = None,
                 respect_gitignore: bool | None = None):
        self.cli_layer = cli_layer
        self.preview = preview
        self.extra_exclude = extra_exclude or []
        self.fix_layer = fix_layer
        self.unsafe_fixes = unsafe_fixes
        self.respect_gitignore = respect_gitignore
        self.inputs = inputs  # a replay.RunInputs: told each configuration file read or looked for
        self._fixed = load_config_file(config_file, inputs) if config_file else None
        self._by_dir: dict[Path, Settings] = {}
        new_run()  # a new run: the project's files may have changed since the last

    def _finish(self, settings: Settings) -> Settings:
        if self.cli_layer is not None:
            settings.layers.append(self.cli_layer)
        if self.fix_layer is not None:
            settings.fix_layers.append(self.fix_layer)
        if self.preview is not None:
            settings.preview = self.preview or settings.preview
        if self.unsafe_fixes is not None:
            settings.unsafe_fixes = self.unsafe_fixes
        if self.respect_gitignore is not None:
            settings.respect_gitignore = self.respect_gitignore
        settings.exclude = settings.exclude + self.extra_exclude
        return settings

    def for_path(self, path: Path) -> Settings:
        if self._fixed is not None:
            if not getattr(self._fixed, "_finished", False):
                self._finish(self._fixed)
                self._fixed._finished = True  # type: ignore[attr-defined]
            return self._fixed
        named = path.parent if not path.is_dir() else path
        directory = named.resolve()
        if self.inputs is not None and os.path.abspath(named) != str(directory):
            self.inputs.link(named, directory)  # the settings are looked up where the symlink leads
        if directory in self._by_dir:
            return self._by_dir[directory]
        settings = None
        for candidate in (directory, *directory.parents):
            if candidate in self._by_dir:
                settings = self._by_dir[candidate]
                break
            for name in CONFIG_FILES:
                config = candidate / name
                if config.is_file():
                    settings = self._finish(load_config_file(config, self.inputs))
                    self._by_dir[candidate] = settings
                    break
                if self.inputs is not None:
                    self.inputs.file(config, None)
            if settings is not None:
                break
        if settings is None:
            try:
                root = Path.cwd()
            except OSError:  # a deleted working directory: the file's own directory stands in
                root = directory
            settings = self._finish(Settings(root=root))
        self._by_dir[directory] = settings
        return settings
