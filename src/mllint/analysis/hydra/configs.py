"""A Hydra config directory read statically, and the key tree Hydra would compose from it.

Only what decides whether a key exists is modelled: the defaults list (group defaults, plain
config defaults, `optional`, `override`, `@package` in entries and headers, `_self_`), group
options in subdirectories, and the command line's group selections. Anything this cannot see
(a missing file that may come from a ConfigStore, interpolated defaults, old-style entries)
raises Unresolvable, and the callers then say nothing; a config file mllint refuses to read (an
alias bomb, nesting too deep) raises Unreadable, which the callers turn into a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mllint.engine.reads import note_dir, note_file, tree

HEADER = re.compile(r"^\s*#\s*@package\s+(\S*)\s*$")


class Unresolvable(Exception):
    """The config cannot be composed statically."""


class Unreadable(Unresolvable):
    """A config file mllint refuses to read (a YAML alias bomb, nesting too deep, too large, not a
    regular file): the command is not checked, and the user is told which file it is."""


class _Unknown:
    """A subtree whose keys mllint cannot know (an unknown group option, say)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()

# Bounds on one config file. Aliases make a 1 KB file expand to 10^9 nodes when merged (a
# "billion laughs"), so the expanded size is counted on the composed node graph before anything
# is constructed or merged; real configs are far below both limits.
MAX_CONFIG_BYTES = 8 * 2**20
MAX_EXPANDED_NODES = 200_000
MAX_DEPTH = 200


class TooDeep(yaml.MarkedYAMLError):
    """YAML nested deeper than MAX_DEPTH: PyYAML's scanner is quadratic in the nesting of flow
    collections (1500 levels of `[` take seconds) and its composer recursive."""


class BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing nesting deeper than MAX_DEPTH as soon as it is met."""

    _depth = 0

    def _too_deep(self):
        return TooDeep(problem=f"nested more than {MAX_DEPTH} levels deep", problem_mark=self.get_mark())

    def fetch_flow_collection_start(self, TokenClass):  # noqa: N803 - PyYAML's name
        if self.flow_level >= MAX_DEPTH:
            raise self._too_deep()
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise self._too_deep()
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

_LOADED: dict[tuple[str, int], tuple[str | None, Any] | Unreadable] = {}


def _node_children(node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return node.value
    return []


def check_expansion(root, path) -> None:
    """Raise Unreadable if the document, with every alias expanded, has more than
    MAX_EXPANDED_NODES nodes, more than MAX_DEPTH levels, or an alias inside itself. The walk is
    iterative and visits each distinct node once, so it is linear in the file."""
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, height)
    active: set[int] = set()
    todo: list[tuple[Any, bool]] = [(root, False)]
    while todo:
        node, leaving = todo.pop()
        nid = id(node)
        if not leaving:
            if nid in done:
                continue
            if nid in active:
                raise Unreadable(f"{path}: cannot be read as a Hydra config (an alias refers to a node containing "
                                 "it); commands that use it are not checked")
            active.add(nid)
            todo.append((node, True))
            todo.extend((child, False) for child in _node_children(node) if id(child) not in done)
            continue
        active.discard(nid)
        size, height = 1, 0
        for child in _node_children(node):
            child_size, child_height = done[id(child)]
            size += child_size
            height = max(height, child_height)
        done[nid] = (size, height + 1)
        if size > MAX_EXPANDED_NODES:
            raise Unreadable(f"{path}: cannot be read as a Hydra config (its aliases expand to more than "
                             f"{MAX_EXPANDED_NODES} values); commands that use it are not checked")
        if height + 1 > MAX_DEPTH:
            raise Unreadable(f"{path}: cannot be read as a Hydra config (nested more than {MAX_DEPTH} levels "
                             "deep); commands that use it are not checked")


def _load_yaml(path: Path) -> tuple[str | None, Any]:
    """(package header or None, data) of a YAML file, read with the safe loader; cached by mtime."""
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _LOADED:
        try:
            _LOADED[key] = _read_yaml(path)
        except Unreadable as exc:
            _LOADED[key] = exc
    loaded = _LOADED[key]
    if isinstance(loaded, Unreadable):
        raise loaded
    return loaded


def _read_yaml(path: Path) -> tuple[str | None, Any]:
    from mllint.fingerprint import read_regular

    try:
        raw = read_regular(path, MAX_CONFIG_BYTES)
    except OSError as exc:
        raise Unreadable(f"{path}: cannot be read as a Hydra config ({exc.strerror or exc}); commands that use "
                         "it are not checked") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise Unreadable(f"{path}: cannot be read as a Hydra config (over the {MAX_CONFIG_BYTES // 2**20} MB "
                         "limit); commands that use it are not checked")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unresolvable(f"{path}: {exc}") from None
    header = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.lstrip().startswith("#"):
            break
        m = HEADER.match(line)
        if m:
            header = m.group(1)
            break
    loader = BoundedLoader(text)
    try:
        node = loader.get_single_node()  # composed, not constructed: nothing is expanded yet
        if node is None:
            return header, None
        check_expansion(node, path)
        data = loader.construct_document(node)
    except TooDeep:
        raise Unreadable(f"{path}: cannot be read as a Hydra config (nested more than {MAX_DEPTH} levels deep); "
                         "commands that use it are not checked") from None
    except yaml.YAMLError as exc:
        raise Unresolvable(f"{path}: {exc}") from None
    except RecursionError:
        raise Unreadable(f"{path}: cannot be read as a Hydra config (nested too deeply); commands that use it "
                         "are not checked") from None
    finally:
        loader.dispose()
    return header, data


@dataclass
class Repo:
    """The config search path: directories, in order (the app's config dir, then --config-dir)."""

    dirs: tuple[Path, ...]
    searchpath_read: bool = False  # the primary config's hydra.searchpath is already in `dirs`

    def file(self, path: str) -> Path | None:
        path = path.strip("/")
        if path.endswith(".yaml"):
            path = path[:-5]
        for d in self.dirs:
            candidate = d / f"{path}.yaml"
            if note_file(candidate):
                return candidate
        return None

    def is_group(self, group: str) -> bool:
        group = group.strip("/")
        return bool(group) and any(note_dir(d / group) for d in self.dirs)

    def options(self, group: str) -> list[str]:
        out: set[str] = set()
        for d in self.dirs:
            g = d / group.strip("/")
            if note_dir(g):
                out.update(p.stem for p in g.glob("*.yaml") if note_file(p))
        return sorted(out)

    def primary_names(self) -> list[str]:
        return self.options("")

    def load(self, path: str) -> tuple[str | None, dict]:
        file = self.file(path)
        if file is None:
            raise Unresolvable(f"no config file for {path}")
        header, data = _load_yaml(file)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise Unresolvable(f"{file}: not a mapping")
        return header, data


@dataclass
class GroupChoice:
    """The command line's say on one config group."""

    options: list[str] | None  # None: the option is not known statically
    add: bool = False  # +group=option
    delete: bool = False  # ~group
    package: str | None = None
    group: str | None = None  # set for `+group@package=option`, keyed "group@package": a second instance


def entry_key(group: str, package: str | None) -> str:
    """How overrides name a defaults-list entry: `group`, or `group@package` for an entry written
    with a package (`- db@backup: mysql` is overridden by `db@backup=...`, never by `db=...`)."""
    return group if package is None else f"{group}@{package}"


@dataclass
class Composition:
    tree: dict
    groups: dict[str, list[str] | None] = field(default_factory=dict)  # group path -> selected options
    defaults_groups: set[str] = field(default_factory=set)  # groups the defaults lists select
    # their entries, as overrides name them (entry_key): `arch`, `db@backup`
    defaults_entries: set[str] = field(default_factory=set)


def _join(parent: str, package: str) -> str:
    ret = package if parent == "" else (parent if package == "" else f"{parent}.{package}")
    i = ret.rfind("_global_")
    return ret if i == -1 else ret[i + len("_global_") + 1:]


def _header_package(header: str | None) -> str | None:
    if header is None or header == "_group_":
        return None
    if header == "":
        return "_global_"
    return header if header.startswith("_global_") else f"_global_.{header}"


def _merge(tree: dict, package: str, data: Any) -> None:
    node = tree
    if package:
        for part in package.split("."):
            child = node.get(part)
            if child is UNKNOWN:
                return
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
    if data is UNKNOWN:
        if package:
            parent, _, last = package.rpartition(".")
            _set(tree, parent, last, UNKNOWN)
        else:
            tree.clear()
            tree["__unknown__"] = UNKNOWN
        return
    if node.get("__unknown__") is UNKNOWN:
        return
    for key, value in data.items():
        key = str(key)
        if node.get(key) is UNKNOWN:
            continue  # an option not known statically put keys here: what else is there is not known
        if isinstance(value, dict) and isinstance(node.get(key), dict):
            _merge(node, key, value)
        elif isinstance(value, dict):
            node[key] = {}
            _merge(node, key, value)
        else:
            node[key] = value


def _set(tree: dict, parent: str, last: str, value: Any) -> None:
    node = tree
    if parent:
        for part in parent.split("."):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                return
    node[last] = value


def _parse_entry(entry: Any) -> dict:
    """One defaults-list entry -> {kind, path/group, package, options, optional, override}."""
    if isinstance(entry, str):
        path, _, package = entry.partition("@")
        if path == "_self_":
            return {"kind": "self"}
        if "${" in path:
            raise Unresolvable("interpolated default")
        return {"kind": "config", "path": path.strip(), "package": package.strip() or None, "optional": False}
    if isinstance(entry, dict) and len(entry) == 1:
        (key, value), = entry.items()
        words = str(key).split()
        optional = "optional" in words[:-1]
        override = "override" in words[:-1]
        group, _, package = words[-1].partition("@")
        if "${" in group or (isinstance(value, str) and "${" in value):
            raise Unresolvable("interpolated default")
        if value is None:
            options: list[str] | None = []
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            options = list(value)
        elif isinstance(value, (str, int, float, bool)):
            options = [str(value)]
        else:
            raise Unresolvable("unsupported default")
        if options == ["???"]:
            options = None  # mandatory: must come from the command line
        return {"kind": "group", "group": group, "package": package or None, "options": options,
                "optional": optional, "override": override}
    raise Unresolvable(f"unsupported defaults entry {entry!r}")


class _Composer:
    def __init__(self, repo: Repo, choices: dict[str, GroupChoice]):
        self.repo = repo
        self.choices = choices
        self.overrides: dict[str, list[str]] = {}  # `override group: option` in defaults lists
        self.tree: dict = {}
        self.groups: dict[str, list[str] | None] = {}
        self.entries: set[str] = set()
        self.depth = 0

    def run(self, config_name: str) -> Composition:
        for _ in range(4):  # defaults-list overrides can change selections made before them
            before = dict(self.overrides)
            self.tree, self.groups, self.entries = {}, {}, set()
            self._config(config_name, base_dir="", package="", primary=True)
            in_defaults, entries = set(self.groups), set(self.entries)
            for key, choice in self.choices.items():
                if choice.add and not choice.delete and key not in entries:
                    self._group(choice.group or key, choice.options, "", choice.package, optional=False,
                                instance=key if choice.group else None)
            if self.overrides == before:
                break
        return Composition(self.tree, self.groups, in_defaults, entries)

    def _config(self, path: str, base_dir: str, package: str, primary: bool = False,
                entry_package: str | None = None, rel_group: str = "") -> None:
        self.depth += 1
        if self.depth > 50:
            raise Unresolvable("defaults recursion")
        header, data = self.repo.load(path)
        if primary:
            pkg = _join("", _header_package(header) or "")
        else:
            own = entry_package if entry_package is not None else _header_package(header)
            pkg = _join(package, own if own is not None else rel_group.replace("/", "."))
        data = dict(data)
        defaults = data.pop("defaults", None) or []
        if not isinstance(defaults, list):
            raise Unresolvable("defaults is not a list")
        if pkg.startswith("hydra") or (primary and "hydra" in data and isinstance(data["hydra"], dict)
                                       and "searchpath" in data["hydra"] and not self.repo.searchpath_read):
            raise Unresolvable("config touches the hydra search path")
        entries = [_parse_entry(e) for e in defaults]
        for e in entries:
            if e["kind"] == "group" and e["override"]:
                group = self._group_path(e["group"], base_dir)
                self.overrides.setdefault(group, e["options"])
        _merge(self.tree, pkg, data)
        for e in entries:
            if e["kind"] == "config":
                p = e["path"]
                full = p[1:] if p.startswith("/") else (f"{base_dir}/{p}" if base_dir else p)
                rel = p.lstrip("/").rpartition("/")[0]
                sub = e["package"]
                self._config(full, full.rpartition("/")[0], pkg, entry_package=sub, rel_group=rel)
            elif e["kind"] == "group" and not e["override"]:
                group = self._group_path(e["group"], base_dir)
                rel = e["group"].lstrip("/")
                self._group(group, e["options"], pkg, e["package"], e["optional"], rel)
        _merge(self.tree, pkg, data)  # the config's own keys exist whatever _self_'s position
        self.depth -= 1

    @staticmethod
    def _group_path(group: str, base_dir: str) -> str:
        return group[1:] if group.startswith("/") else (f"{base_dir}/{group}" if base_dir else group)

    def _group(self, group: str, options: list[str] | None, package: str, entry_package: str | None,
               optional: bool, rel: str | None = None, instance: str | None = None) -> None:
        """Merge the selected option(s) of `group`. `instance` names a second instance of the group
        added at another package on the command line: its options are final."""
        choice = None
        if instance is None:
            self.entries.add(entry_key(group, entry_package))
            choice = self.choices.get(entry_key(group, entry_package))
        if choice is not None and choice.delete:
            return
        if choice is not None and not choice.add:
            options = choice.options
        elif instance is None and group in self.overrides:
            options = self.overrides[group]
        self.groups[instance or group] = options
        rel = rel if rel is not None else group
        default_pkg = _join(package, entry_package if entry_package is not None else rel.replace("/", "."))
        if options is None:
            # Unknown option: its keys are unknown; if any option of the group moves its keys
            # elsewhere with a header, nothing in the tree can be trusted.
            headers = [_load_yaml(self.repo.file(f"{group}/{o}"))[0] for o in self.repo.options(group)]
            if entry_package is None and any(_header_package(h) is not None for h in headers):
                _merge(self.tree, "", UNKNOWN)
            else:
                _merge(self.tree, default_pkg, UNKNOWN)
            return
        for option in options:
            if self.repo.file(f"{group}/{option}") is None:
                if optional:
                    continue
                raise Unresolvable(f"missing {group}/{option}")
            self._config(f"{group}/{option}", group, package, entry_package=entry_package, rel_group=rel)


def compose(repo: Repo, config_name: str, choices: dict[str, GroupChoice] | None = None) -> Composition:
    """The key tree of `config_name` with the command line's group choices; may raise Unresolvable."""
    return _Composer(repo, choices or {}).run(config_name)


def lookup(tree: dict, key: str) -> tuple[str, Any]:
    """('present', value), ('absent', None) or ('unknown', None) for a dotted key."""
    if "__unknown__" in tree or "[" in key:
        return "unknown", None
    node: Any = tree
    parts = key.split(".")
    for i, part in enumerate(parts):
        if node is UNKNOWN:
            return "unknown", None
        if not isinstance(node, dict):
            return "unknown", None  # below a leaf (null, a string, a list): not modelled
        if part not in node:
            return "absent", None
        node = node[part]
    if node is UNKNOWN:
        return "unknown", None
    return "present", node


def all_keys(tree: dict, prefix: str = "", limit: int = 5000) -> list[str]:
    out: list[str] = []
    stack = [(prefix, tree)]
    while stack and len(out) < limit:
        pre, node = stack.pop()
        for key, value in node.items():
            full = f"{pre}.{key}" if pre else key
            out.append(full)
            if isinstance(value, dict):
                stack.append((full, value))
    return out


def walk_dirs(root: Path, skip: tuple[str, ...]) -> list[Path]:
    """Every .py file under root, skipping excluded directory names (used to find apps); the walk
    is noted for the cache (mllint.engine.reads)."""
    return [Path(file) for file in tree(root, skip)]
