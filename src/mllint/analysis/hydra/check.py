"""Check one Hydra command line (the arguments after the app) against the app's configs.

Overrides are parsed with Hydra's own override parser; the config's key tree comes from
mllint.analysis.hydra.configs. Each finding says which rule it belongs to (ML501, ML502, ML503).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mllint.diagnostics import Location
from mllint.analysis.hydra.apps import App
from mllint.engine.reads import note_dir, note_link
from mllint.analysis.hydra.configs import GroupChoice, Repo, Unreadable, Unresolvable, all_keys, compose, entry_key, lookup

# Stands for a value mllint cannot know ($VAR in a script, {expr} in an f-string). It is a
# valid Hydra identifier, so the rest of the override still parses.
PLACEHOLDER = "MLLINT_UNKNOWN"

VALUE_FLAGS = {"--config-name", "-cn", "--config-path", "-cp", "--config-dir", "-cd", "--cfg", "-c", "--package",
               "-p", "--shell-completion", "-sc", "--experimental-rerun"}
BOOL_FLAGS = {"--multirun", "-m", "--resolve", "--run", "-r", "--help", "-h", "--hydra-help", "--version", "--info"}
INFO_VALUES = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}

_PARSER: Any = None


def parser() -> Any:
    global _PARSER
    if _PARSER is None:  # hydra is imported only when a command is checked (it is slow to import)
        from hydra.core.override_parser.overrides_parser import OverridesParser

        _PARSER = OverridesParser.create()
    return _PARSER


@dataclass
class Arg:
    """One command-line word: its text (None if unknown), where it is, where its leading `+` is."""

    text: str | None
    anchor: Any  # a libcst node, or a (start, end) pair of Locations
    plus_at: Location | None = None  # position of a leading `+` in the source (for ML501's fix)
    # An unknown word that forwards the script's own arguments (`"$@"`): taken to add overrides, not
    # to swap the config groups the command line is checked against. Any other unknown word may.
    forwarded: bool = False
    scalar: bool = False  # every unknown part renders as a scalar (`f"+ckpt={path}"`, path: str)

    @property
    def known(self) -> bool:
        return self.text is not None and PLACEHOLDER not in self.text


@dataclass
class Finding:
    code: str
    message: str
    arg: Arg
    fixable: bool = False


def _shown(text: str) -> str:
    return text.replace(PLACEHOLDER, "...")


def _suggest(word: str, candidates: list[str]) -> list[str]:
    """Closest existing names: siblings first (compared by last part), then whole keys."""
    parent, _, last = word.rpartition(".")
    siblings: dict[str, str] = {}
    for c in candidates:
        c_parent, _, c_last = c.rpartition(".")
        if c_parent == parent:
            siblings[c_last] = c
    found = [siblings[n] for n in difflib.get_close_matches(last, list(siblings), n=3, cutoff=0.6)]
    if not found:
        same_depth = [c for c in candidates if c.count(".") == word.count(".")]
        found = difflib.get_close_matches(word, same_depth, n=3, cutoff=0.85)
    return found[:3]


def _did_you_mean(found: list[str], available: list[str] | None = None) -> str:
    if not found:
        if available and len(available) <= 6:  # nothing close: a short list of what exists helps more
            return "; available: " + ", ".join(f"`{a}`" for a in available)
        return ""
    return "; did you mean " + " or ".join(f"`{f}`" for f in found) + "?"


def _is_hydra_key(key: str) -> bool:
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


def check_command(app: App, args: list[Arg], warn=None) -> list[Finding]:
    """Findings for a command that runs `app` with `args` (the words after the script); `warn` is
    told about a config file that cannot be read (the command is then not checked)."""
    from hydra.core.override_parser.types import OverrideType
    from hydra.errors import HydraException, OverrideParseException

    findings: list[Finding] = []
    config_name, name_arg = app.config_name, None
    overrides: list[Arg] = []
    config_dir = app.config_dir
    i = 0
    while i < len(args):
        a = args[i]
        t = a.text
        i += 1
        if t is None:
            continue  # an unknown word (`$@`, a variable list element): may be anything, skip it
        if t.startswith("-"):
            flag, eq, value = t.partition("=")
            if flag in VALUE_FLAGS:
                value_arg = a
                if not eq:
                    if i >= len(args):
                        return findings
                    value_arg = args[i]
                    value = value_arg.text
                    i += 1
                if flag in ("--config-name", "-cn"):
                    config_name = value if value_arg.known else None
                    name_arg = value_arg
                elif flag in ("--config-path", "-cp"):
                    if value is None or not value_arg.known or app.file is None:
                        return findings
                    config_dir = (app.file.parent / value).resolve()
                    note_link(app.file.parent / value, config_dir)
                elif flag in ("--config-dir", "-cd"):
                    return findings  # another search path: configs may come from anywhere
            elif flag in BOOL_FLAGS:
                if flag == "--info" and i < len(args) and args[i].text in INFO_VALUES:
                    i += 1
            else:
                return findings  # not a plain Hydra command line (the app parses its own flags)
            continue
        overrides.append(a)

    parsed = []
    for a in overrides:
        try:
            parsed.append((a, parser().parse_override(a.text)))
        except (OverrideParseException, HydraException) as exc:
            if a.known and not a.text.strip():
                findings.append(Finding("ML502", "a blank argument reaches Hydra, which cannot parse it (in a shell "
                                        "script: a backslash followed by a space, or a comment after `\\`, ends "
                                        "the line continuation)", a))
            elif a.known:
                msg = " ".join(str(exc).split("\n")[0:2]).strip()
                findings.append(Finding("ML502", f"Hydra cannot parse the override `{a.text}`: {msg}", a))
    if config_name is None or config_dir is None or not note_dir(config_dir):
        return findings
    config_name = config_name[:-5] if config_name.endswith(".yaml") else config_name
    repo = Repo((config_dir,))
    if repo.file(config_name) is None:
        if name_arg is not None and not app.uses_config_store:
            found = _suggest(config_name, repo.primary_names())
            findings.append(Finding("ML503", f"config `{config_name}` does not exist in {config_dir.name}/, so Hydra "
                                    f"stops at start-up (\"Cannot find primary config\")"
                                    f"{_did_you_mean(found, repo.primary_names())}",
                                    name_arg))
        return findings

    try:
        extra = _search_path(repo, config_name, app)
    except Unreadable as exc:
        if warn is not None:
            warn(str(exc))
        return findings
    except Unresolvable:
        extra = None
    if extra is None:
        return findings
    if extra:
        repo = Repo((config_dir, *extra), searchpath_read=True)

    choices: dict[str, GroupChoice] = {}
    group_args: list[tuple[Arg, Any]] = []
    value_args: list[tuple[Arg, Any]] = []
    for a, o in parsed:
        key = o.key_or_group
        if _is_hydra_key(key):
            continue  # Hydra's own node and plugin groups
        try:
            value = o.value()
        except HydraException:
            value = None
        if repo.is_group(key) and not isinstance(value, dict):
            group_args.append((a, o))
            if o.type == OverrideType.DEL:
                choices[entry_key(key, o.package)] = GroupChoice(None, delete=True)
                continue
            if o.type == OverrideType.FORCE_ADD:
                continue
            options = value if isinstance(value, list) else [value]
            if o.is_sweep_override():  # `-m model=resnet,vit`: every job must find its option
                try:
                    options = list(o.sweep_string_iterator())
                except HydraException:  # glob(), interval(): the options are not listed
                    options = [None]
            known = [x for x in options if isinstance(x, str) and PLACEHOLDER not in x]
            missing = [x for x in known if repo.file(f"{key}/{x}") is None]
            if missing and not app.uses_config_store:
                found = _suggest(missing[0], repo.options(key))
                findings.append(Finding("ML503", f"`{key}` has no option `{missing[0]}` ({key}/{missing[0]}.yaml does "
                                        f"not exist), so Hydra stops at start-up{_did_you_mean(found, repo.options(key))}", a))
            ok = len(known) == len(options) and not missing
            choice = GroupChoice(list(options) if ok else None, add=o.type == OverrideType.ADD, package=o.package)
            if choice.add and o.package is not None:  # `+model@backbone=vit`: another instance of the group
                choice.group = key
            choices[entry_key(key, o.package)] = choice
        elif o.package is not None:
            if not app.uses_config_store:
                found = _suggest(key, _subdirs(repo))
                findings.append(Finding("ML503", f"`{_shown(a.text)}` selects an option of config group `{key}`, which "
                                        f"does not exist{_did_you_mean(found)}", a))
        else:
            value_args.append((a, o))

    try:
        comp = compose(repo, config_name, choices)
        if any(a.text is None and not a.forwarded for a in args):
            # an unknown word (`*extra`, `$EXTRA`) may select another option of any group the
            # command line does not: those groups' keys are then not known
            opaque = {e: GroupChoice(None) for e in comp.defaults_entries if e not in choices}
            if opaque:
                comp = compose(repo, config_name, {**choices, **opaque})
    except Unreadable as exc:
        if warn is not None:
            warn(str(exc))
        return findings
    except Unresolvable:
        return findings
    uncertain = any(opts is None for opts in comp.groups.values())
    for a, o in group_args:
        key = o.key_or_group
        name = entry_key(key, o.package)  # `db@backup=x` overrides the entry `db@backup`, never `db`
        if o.type in (OverrideType.CHANGE, OverrideType.DEL) and name not in comp.defaults_entries and not uncertain:
            findings.append(_no_entry(a, o, name, config_name, comp.defaults_entries))
        elif o.type == OverrideType.ADD and name in comp.defaults_entries:
            findings.append(Finding("ML501", f"`+{name}` adds config group `{name}`, which the defaults list of "
                                    f"`{config_name}` already has, so Hydra refuses it (\"Multiple values for "
                                    f"{name}\"); drop the `+` to select `{_shown(str(o.get_value_element_as_str()))}`",
                                    a, fixable=a.plus_at is not None))

    tree = comp.tree
    keys: list[str] | None = None
    added: dict[str, str] = {}  # key -> the override earlier on this command line that added it
    for a, o in value_args:
        if not a.text or PLACEHOLDER in o.key_or_group:
            continue
        key = o.key_or_group
        state, current = lookup(tree, key)
        if o.type == OverrideType.CHANGE and state == "absent":
            keys = keys if keys is not None else all_keys(tree)
            found = _suggest(key, keys)
            findings.append(Finding("ML502", f"`{key}` is not a key of config `{config_name}`, so Hydra refuses "
                                    f"`{_shown(a.text)}` (\"Could not override '{key}'\"){_did_you_mean(found)}"
                                    f"{' Use' if found else '; use'} `+{key}=...` only if the key is really new", a))
        elif o.type == OverrideType.DEL and state == "absent":
            keys = keys if keys is not None else all_keys(tree)
            found = _suggest(key, keys)
            findings.append(Finding("ML502", f"`~{key}` deletes a key that config `{config_name}` does not have, so "
                                    f"Hydra refuses it (\"'{key}' does not exist\"){_did_you_mean(found)}", a))
        elif o.type == OverrideType.ADD and state == "present" and _refuses_append(current, o, tree, a.scalar):
            parts = key.split(".")
            origin = next((added[p] for p in (".".join(parts[:i]) for i in range(len(parts), 0, -1)) if p in added),
                          None)
            had = f"`{origin}` earlier on this command line already set" if origin else \
                f"config `{config_name}` already has"
            findings.append(Finding("ML501", f"`+{key}` appends a key that {had}, so Hydra refuses it "
                                    f"(\"An item is already at '{key}'\"); drop the `+` to set it",
                                    a, fixable=a.plus_at is not None))
        if o.type in (OverrideType.ADD, OverrideType.FORCE_ADD) and state != "present":
            added.setdefault(key, _shown(a.text))
        _apply(tree, o, state)
    return findings


MAX_ANCESTORS = 12  # directories above the app a relative search path entry is looked up from


def _search_path(repo: Repo, config_name: str, app: App) -> tuple | None:
    """The directories the primary config's `hydra.searchpath` adds (`pkg://verl.trainer.config`,
    `file://verl/trainer/config`), () if it has none, None if one cannot be located. A relative
    entry is relative to the working directory at launch: taken as the nearest directory above
    the app where it exists (the project root the scripts are run from)."""
    _, data = repo.load(config_name)
    hydra_node = data.get("hydra")
    entries = hydra_node.get("searchpath") if isinstance(hydra_node, dict) else None
    if not entries:
        return ()
    if not isinstance(entries, list) or app.file is None or len(entries) > 16:
        return None
    out = []
    for entry in entries:
        if not isinstance(entry, str) or "${" in entry:
            return None
        if entry.startswith("pkg://"):
            rel = Path(entry[len("pkg://"):].replace(".", "/"))
        elif entry.startswith("file://"):
            rel = Path(entry[len("file://"):])
        else:
            return None
        if rel.is_absolute():
            found = rel if note_dir(rel) else None
        else:
            found = next((a / rel for a in list(app.file.parents)[:MAX_ANCESTORS] if note_dir(a / rel)), None)
        if found is None:
            return None
        note_link(found, found.resolve())
        out.append(found.resolve())
    return tuple(out)


def _no_entry(a: Arg, o: Any, name: str, config_name: str, entries: set[str]) -> Finding:
    """ML502 for `group=x` / `~group` (or `group@pkg`) that no defaults-list entry answers to."""
    from hydra.core.override_parser.types import OverrideType

    key = o.key_or_group
    same_group = sorted(e for e in entries if e.split("@", 1)[0] == key)
    verb, error = ("delete", "Could not delete") if o.type == OverrideType.DEL else ("override", "Could not override")
    if same_group:  # the group is there, under another package: name its entry as written
        value = "" if o.type == OverrideType.DEL else f"={_shown(str(o.get_value_element_as_str()))}"
        entry = same_group[0]
        advice = f"its entry there is `{entry}`: use `{'~' if not value else ''}{entry}{value}`"
        if o.type == OverrideType.CHANGE and o.package is not None:
            advice += f", or `+{_shown(a.text)}` to add a second instance at `{o.package}`"
        return Finding("ML502", f"the defaults list of `{config_name}` has no entry `{name}`, so Hydra cannot "
                       f"{verb} it (\"{error} '{name}'. No match in the defaults list\"); {advice}", a)
    if o.type == OverrideType.DEL:
        return Finding("ML502", f"`~{name}` deletes config group `{name}`, which the defaults list of `{config_name}` "
                       f"does not have, so Hydra refuses it (\"{error} '{name}'. No match in the defaults list\")", a)
    return Finding("ML502", f"config group `{name}` is not in the defaults list of `{config_name}`, so Hydra cannot "
                   f"override it (\"No match in the defaults list\"); add it with `+{_shown(a.text)}`", a)


def _refuses_append(current: Any, o: Any, tree: dict, scalar: bool = False) -> bool:
    """Hydra appends over a null (or `???`) value and merges dict/list values; else it refuses."""
    from hydra.errors import HydraException

    for _ in range(5):  # `${other.key}` resolves to that key's value
        m = isinstance(current, str) and re.fullmatch(r"\$\{([\w.]+)\}", current)
        if not m:
            break
        state, current = lookup(tree, m.group(1))
        if state != "present":
            return False
    if current is None or current == "???" or (isinstance(current, str) and "${" in current):
        return False  # (a resolver interpolation may give None: not decidable here)
    text = o.get_value_element_as_str() if not o.is_sweep_override() else ""
    if not scalar and isinstance(text, str) and text.startswith(PLACEHOLDER) \
            and (text == PLACEHOLDER or text.endswith(("]", "}"))):
        return False  # `+key=$VAR`: the variable may hold a list
    try:
        value = o.value()
    except HydraException:
        return False
    return not isinstance(value, (dict, list))


def _apply(tree: dict, o: Any, state: str) -> None:
    """Keep the tree in step with the overrides already applied (`+a={}` then `a.b=1`)."""
    from hydra.core.override_parser.types import OverrideType
    from hydra.errors import HydraException

    parts = o.key_or_group.split(".")
    node: Any = tree
    for part in parts[:-1]:
        if not isinstance(node, dict):
            return
        node = node.setdefault(part, {}) if o.type != OverrideType.DEL else node.get(part)
    if not isinstance(node, dict):
        return
    if o.type == OverrideType.DEL:
        node.pop(parts[-1], None)
    elif o.type in (OverrideType.ADD, OverrideType.FORCE_ADD) and state != "present":
        try:
            value = o.value()
        except HydraException:
            value = None
        node[parts[-1]] = value if not isinstance(value, dict) else _tree_of(value)


def _tree_of(value: dict) -> dict:
    return {str(k): _tree_of(v) if isinstance(v, dict) else v for k, v in value.items()}


def _subdirs(repo: Repo) -> list[str]:
    out: set[str] = set()
    for d in repo.dirs:
        if note_dir(d):
            out.update(p.name for p in d.iterdir() if note_dir(p))
    return sorted(out)
