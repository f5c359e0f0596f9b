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

from mllint.fingerprint import content_digest
from mllint.reads import new_run
from mllint.rule import Rule, RuleInfo, all_rules, rule_infos

# Directories never walked into (files named explicitly are always linted).
DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".venv", "venv", ".env", "env", ".tox", ".nox", "build", "dist",
    "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".mllint_cache", "node_modules",
    "site-packages", ".eggs", "*.egg-info", ".ipynb_checkpoints",
)

# key -> expected type (checked when the file is read)
KNOWN_KEYS: dict[str, type | tuple[type, ...]] = {
    "select": list,
    "ignore": list,
    "extend-select": list,
    "preview": bool,
    "exclude": list,
    "extend-exclude": list,
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


class ConfigError(Exception):
    """A configuration or usage problem: exit code 2, one line naming what is wrong."""


def _type_name(t) -> str:
    if isinstance(t, tuple):
        return " or ".join(_type_name(x) for x in t)
    return {list: "an array", dict: "a table", bool: "a boolean", str: "a string", int: "an integer",
            float: "a number"}.get(t, t.__name__)


def check_selector(selector: str, where: str) -> str:
    """A selector is ALL or a prefix of at least one rule code (ML, ML1, ML10, ML101)."""
    sel = selector.strip().upper()
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

    def is_excluded(self, path: str | Path) -> bool:
        """The path, or one of its parts, matches an exclude pattern (or lies under one that names
        a directory path)."""
        matcher = self.__dict__.get("_exclude")
        if matcher is None or matcher[0] != self.exclude:  # one regex for all patterns, built once
            patterns = [pattern.rstrip("/") for pattern in (*DEFAULT_EXCLUDE, *self.exclude)]
            regex = re.compile("|".join(fnmatch.translate(p) for p in patterns))
            matcher = self.__dict__["_exclude"] = (list(self.exclude), regex.match,
                                                   tuple(p + "/" for p in patterns if "/" in p))
        _, match, prefixes = matcher
        rel = _relative(path, self.root)
        return bool(match(rel) or any(match(part) for part in rel.split("/")) or (prefixes and rel.startswith(prefixes)))

    def fingerprint(self) -> str:
        """A stable text of everything that changes lint results (for the cache)."""
        memo = self.__dict__.get("_fingerprint")
        if memo is None:
            # the root too: per-file ignores match paths relative to it, Hydra commands resolve from it
            memo = repr((sorted(c.code for c in self.enabled_infos()), sorted(self.rule_options.items()),
                         sorted(self.per_file_ignores.items()), sorted(self.hydra.items()), str(self.root)))
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


def parse_table(table: dict[str, Any], root: Path, source: Path | None) -> Settings:
    """Validate a [tool.mllint] table and turn it into Settings."""
    where = str(source) if source else "configuration"
    for key, value in table.items():
        if key not in KNOWN_KEYS:
            raise ConfigError(f"{where}: unknown key `tool.mllint.{key}` (known: {', '.join(KNOWN_KEYS)})")
        _check_type(value, KNOWN_KEYS[key], f"tool.mllint.{key}", where)
    layer = SelectionLayer(
        select=[check_selector(s, where) for s in _str_list(table["select"], "select", where)] if "select" in table else None,
        extend_select=[check_selector(s, where) for s in _str_list(table.get("extend-select", []), "extend-select", where)],
        ignore=[check_selector(s, where) for s in _str_list(table.get("ignore", []), "ignore", where)],
    )
    settings = Settings(root=root, source=source, layers=[layer], preview=table.get("preview", False))
    settings.exclude = _str_list(table.get("exclude", []), "exclude", where) + _str_list(
        table.get("extend-exclude", []), "extend-exclude", where)
    for pattern, codes in table.get("per-file-ignores", {}).items():
        key = f"per-file-ignores.{pattern}"
        settings.per_file_ignores[pattern] = [check_selector(c, where) for c in _str_list(codes, key, where)]
    rules = rule_infos()
    for code, opts in table.get("rules", {}).items():
        key = f"tool.mllint.rules.{code}"
        if code not in rules:
            raise ConfigError(f"{where}: unknown rule code in `{key}`")
        _check_type(opts, dict, key, where)
        known = rules[code].options
        for name, value in opts.items():
            if name not in known:
                choices = ", ".join(known) or "none"
                raise ConfigError(f"{where}: unknown option `{key}.{name}` (options of {code}: {choices})")
            _check_type(value, known[name].type, f"{key}.{name}", where)
        settings.rule_options[code] = dict(opts)
    for name, value in table.get("hydra", {}).items():
        key = f"tool.mllint.hydra.{name}"
        if name not in HYDRA_KEYS:
            raise ConfigError(f"{where}: unknown key `{key}` (known: {', '.join(HYDRA_KEYS)})")
        _check_type(value, HYDRA_KEYS[name], key, where)
    settings.hydra = dict(table.get("hydra", {}))
    return settings


def _read_toml(path: Path, inputs=None) -> dict[str, Any]:
    """The parsed file; `inputs` (a `replay.RunInputs`) is told its content digest."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        if inputs is not None:
            inputs.file(path, content_digest(raw))
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def load_pyproject(path: Path, inputs=None) -> Settings:
    table = _read_toml(path, inputs).get("tool", {}).get("mllint", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: `tool.mllint` must be a table")
    return parse_table(table, path.parent, path)


def load_config_file(path: Path, inputs=None) -> Settings:
    """`--config FILE`: a pyproject.toml ([tool.mllint]) or an mllint.toml (top-level keys)."""
    if not path.is_file():
        raise ConfigError(f"--config: no such file: {path}")
    if path.name == "pyproject.toml":
        return load_pyproject(path, inputs)
    data = _read_toml(path, inputs)
    if "tool" in data and "mllint" in data["tool"]:
        data = data["tool"]["mllint"]
    return parse_table(data, path.parent, path)


class ConfigResolver:
    """Finds the settings for each linted path: the nearest pyproject.toml above it."""

    def __init__(self, cli_layer: SelectionLayer | None = None, preview: bool | None = None,
                 config_file: Path | None = None, extra_exclude: list[str] | None = None, inputs=None):
        self.cli_layer = cli_layer
        self.preview = preview
        self.extra_exclude = extra_exclude or []
        self.inputs = inputs  # a replay.RunInputs: told each configuration file read or looked for
        self._fixed = load_config_file(config_file, inputs) if config_file else None
        self._by_dir: dict[Path, Settings] = {}
        new_run()  # a new run: the project's files may have changed since the last

    def _finish(self, settings: Settings) -> Settings:
        if self.cli_layer is not None:
            settings.layers.append(self.cli_layer)
        if self.preview is not None:
            settings.preview = self.preview or settings.preview
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
            pyproject = candidate / "pyproject.toml"
            if pyproject.is_file():
                settings = self._finish(load_pyproject(pyproject, self.inputs))
                self._by_dir[candidate] = settings
                break
            if self.inputs is not None:
                self.inputs.file(pyproject, None)
        if settings is None:
            try:
                root = Path.cwd()
            except OSError:  # a deleted working directory: the file's own directory stands in
                root = directory
            settings = self._finish(Settings(root=root))
        self._by_dir[directory] = settings
        return settings
