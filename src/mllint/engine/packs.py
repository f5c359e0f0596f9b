"""Rule packs: rules that other distributions add through the `mllint.rules` entry-point group.

    [project.entry-points."mllint.rules"]
    ACME = "acme_mllint.rules"            # a module: its Rule subclasses (or its RULES list)
    # ACME = "acme_mllint.rules:RULES"    # or a list of rule classes (or one class)

The entry point's name is the pack's code prefix (as flake8's plugins name theirs): upper-case
letters, not `ML` (mllint's own) nor `ALL`; the pack's codes are the prefix and digits (ACME001).
A pack whose prefix, codes or classes are wrong, or that clashes with another pack, stops the run
with one line naming the pack (exit 2). Docs pages: `rule_docs/<CODE>-<name>.md` in the package
of the module the entry point names. See docs/rule-packs.md.

Finding the packs must stay cheap: a replayed run (mllint.run.replay) only needs to know which packs
are installed, at which versions, for its key. So this module reads the `entry_points.txt` of the
`*.dist-info` directories on sys.path itself (what importlib.metadata reads, without importing it
and without parsing every file's sections), and imports a pack only when its rules are needed.
"""

from __future__ import annotations

import os
import sys

GROUP = "mllint.rules"
_SECTION = "[" + GROUP + "]"


class PackError(Exception):
    """A rule pack that cannot be used; the message is one line naming the pack."""


class Pack:
    """One entry point of the group, as its distribution declares it (nothing imported)."""

    def __init__(self, prefix: str, target: str, dist: str, version: str, location: str):
        self.prefix = prefix  # the entry point's name
        self.target = target  # "module" or "module:attribute"
        self.dist = dist
        self.version = version
        self.location = location  # the sys.path directory holding its .dist-info

    @property
    def label(self) -> str:
        return f"rule pack {self.prefix} ({self.dist} {self.version}, entry point {self.prefix} = {self.target})"

    @property
    def module_name(self) -> str:
        return self.target.partition(":")[0].strip()

    def source_path(self) -> str | None:
        """The file or package directory of the top-level module the entry point names, found on
        sys.path without importing it (for the cache key: an edited development pack)."""
        top = self.module_name.partition(".")[0]
        for directory in [self.location, *_search_path()]:
            for candidate in (os.path.join(directory, top), os.path.join(directory, top + ".py")):
                if os.path.exists(candidate):
                    return candidate
        return None

    def docs_dir(self) -> str | None:
        """`rule_docs/` beside the module the entry point names (in its package)."""
        module = sys.modules.get(self.module_name)
        file = getattr(module, "__file__", None)
        if not file:
            return None
        directory = os.path.join(os.path.dirname(file), "rule_docs")
        return directory if os.path.isdir(directory) else None


def _search_path() -> list[str]:
    """sys.path without the working directory: `python -m mllint` puts it first, and a directory
    being linted must not be able to declare a pack (mllint never runs the code it lints)."""
    try:
        cwd = os.getcwd()
    except OSError:  # a deleted working directory: relative entries lead nowhere
        return [p for p in sys.path if p and os.path.isabs(p) and os.path.isdir(p)]
    return [p for p in sys.path if p and os.path.abspath(p) != cwd and os.path.isdir(p)]


def _entry_points(text: str) -> list[tuple[str, str]]:
    """(name, value) of the group's section of an entry_points.txt (an INI file)."""
    out = []
    inside = False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            inside = line == _SECTION
        elif inside and "=" in line and not line.startswith("#"):  # as importlib.metadata reads it
            name, _, value = line.partition("=")
            out.append((name.strip(), value.strip()))
    return out


_FOUND: list[Pack] | None = None


def found() -> list[Pack]:
    """The installed packs, in sys.path order (the first copy of a distribution wins, as for
    imports). Scans once per process: one directory listing per sys.path entry and one small
    read per installed distribution."""
    global _FOUND
    if _FOUND is not None:
        return _FOUND
    packs: list[Pack] = []
    seen: set[str] = set()
    for directory in _search_path():
        try:
            with os.scandir(directory) as entries:
                names = sorted(e.name for e in entries if e.name.endswith(".dist-info"))
        except OSError:
            continue
        for name in names:
            dist, _, version = name[: -len(".dist-info")].partition("-")
            key = dist.lower().replace("-", "_").replace(".", "_")
            if key in seen:
                continue
            seen.add(key)
            try:
                with open(os.path.join(directory, name, "entry_points.txt"), encoding="utf-8") as fh:
                    text = fh.read()
            except (OSError, UnicodeDecodeError):
                continue
            if _SECTION not in text:
                continue
            for prefix, target in _entry_points(text):
                packs.append(Pack(prefix, target, dist, version, directory))
    _FOUND = packs
    return packs


def fingerprint_text() -> str:
    """What the cache key and a run's record hold of the packs: each one's entry point, version
    and source files (names, sizes, times); "" when none is installed (the key is then as before)."""
    packs = found()
    if not packs:
        return ""
    from mllint.fingerprint import tree_fingerprint

    parts = []
    for pack in packs:
        source = pack.source_path()
        if source is None:
            state = "?"
        elif os.path.isdir(source):
            state = tree_fingerprint(source)
        else:
            st = os.stat(source)
            state = f"{st.st_size}:{st.st_mtime_ns}"
        parts.append(f"{pack.prefix}={pack.target}@{pack.dist}-{pack.version}:{state}")
    return "|packs:" + ";".join(parts)


# ---- loading (imports the packs) ----------------------------------------------------------------

_LOADED: dict | None = None  # code -> (rule class, Pack)


def _rule_classes(pack: Pack, obj) -> list:
    from mllint.engine.rule import Rule

    if isinstance(obj, type(sys)):  # a module: its RULES, else the Rule subclasses it defines
        listed = getattr(obj, "RULES", None)
        if listed is None:
            return [v for v in vars(obj).values()
                    if isinstance(v, type) and issubclass(v, Rule) and v.__module__ == obj.__name__ and "code" in vars(v)]
        obj = listed
    if isinstance(obj, type):
        obj = [obj]
    if not isinstance(obj, (list, tuple)) or not all(isinstance(c, type) and issubclass(c, Rule) for c in obj):
        raise PackError(f"{pack.label}: names {type(obj).__name__} {obj!r:.60}, not a module or a list of "
                        "mllint.api.Rule subclasses")
    return list(obj)


def _check(pack: Pack, cls, builtin: dict, taken: dict) -> None:
    import re

    code = getattr(cls, "code", None)
    if not isinstance(code, str) or not re.fullmatch(re.escape(pack.prefix) + r"[0-9]+", code):
        raise PackError(f"{pack.label}: rule {cls.__name__} has code {code!r}; a pack's codes are its prefix "
                        f"and digits ({pack.prefix}001)")
    if code in builtin:
        raise PackError(f"{pack.label}: rule code {code} is one of mllint's own")
    if code in taken and taken[code][0] is not cls:
        raise PackError(f"{pack.label}: rule code {code} is declared twice "
                        f"({taken[code][0].__name__} and {cls.__name__})")
    for attr in ("name", "summary"):
        if not isinstance(getattr(cls, attr, None), str):
            raise PackError(f"{pack.label}: rule {code} has no `{attr}` string")
    if cls.stability not in ("stable", "preview"):
        raise PackError(f"{pack.label}: rule {code} has stability {cls.stability!r} (stable or preview)")
    for key in cls.options:
        if "_" in key:
            raise PackError(f"{pack.label}: rule {code}: option names are kebab-case ({key!r})")


def load() -> dict:
    """code -> (rule class, Pack) for every installed pack's rules; imports them (once). Raises
    PackError for a pack that cannot be used."""
    global _LOADED
    if _LOADED is not None:
        return _LOADED
    import importlib

    from mllint.engine.manifest import RULES as builtin  # the built-in codes, without importing the rules

    loaded: dict = {}
    prefixes: dict[str, Pack] = {}
    for pack in found():
        if not (pack.prefix.isascii() and pack.prefix.isalpha() and pack.prefix.isupper()) \
                or pack.prefix.startswith("ML") or pack.prefix == "ALL":
            raise PackError(f"{pack.label}: the entry point's name is the pack's code prefix: upper-case letters, "
                            "not starting with ML (mllint's own) and not ALL")
        if pack.prefix in prefixes:
            raise PackError(f"{pack.label}: prefix {pack.prefix} is also declared by {prefixes[pack.prefix].label}")
        prefixes[pack.prefix] = pack
        module_name, _, attr = pack.target.partition(":")
        try:
            obj = importlib.import_module(module_name.strip())
            for part in filter(None, attr.strip().split(".")):
                obj = getattr(obj, part)
        except Exception as exc:  # a broken pack: one line, not a traceback
            raise PackError(f"{pack.label}: cannot be loaded: {type(exc).__name__}: {exc}") from None
        classes = _rule_classes(pack, obj)
        if not classes:
            raise PackError(f"{pack.label}: declares no rules")
        for cls in classes:
            _check(pack, cls, builtin, loaded)
            loaded[cls.code] = (cls, pack)
    _LOADED = loaded
    return loaded


def pack_of(code: str) -> Pack | None:
    if not found():
        return None
    entry = load().get(code)
    return entry[1] if entry else None


def reset() -> None:
    """Forget what was found and loaded (tests that install or remove packs in-process)."""
    global _FOUND, _LOADED
    _FOUND = _LOADED = None
