"""What a directory walk skips besides `exclude`: the files git ignores, virtual environments, and
Hydra's run directories.

Git's ignore files are read as git reads them, inside a git repository only (a `.git` directory or
file at or above the walked path, as Ruff and ripgrep's `ignore` crate do): `.gitignore` in every
directory from the repository's top down (a deeper file overrides a higher one; in one file the last
matching pattern wins; `!` re-includes), `$GIT_DIR/info/exclude` and the global excludes file
(`core.excludesFile`, by default `$XDG_CONFIG_HOME/git/ignore`). `.ignore` files (ripgrep's, which
Ruff reads too) count everywhere, over a `.gitignore` in the same directory. Patterns are matched
with `pathspec` (pure Python, imported only when an ignore file has patterns); git itself is not
needed.
Every ignore, git config and `.git` file looked at is told to the run's record (a
`replay.RunInputs`), so that a changed `.gitignore` ends a replay.
"""

from __future__ import annotations

import os
import re
import stat
from typing import Callable

from mllint.run.replay import file_state


def skipped_directory(dirnames: list[str], filenames: list[str], dirpath: str) -> str | None:
    """Why a directory met while walking is not linted (None: it is). By what it holds, not by its
    name: a virtual environment has `pyvenv.cfg` (conda: `conda-meta/`); a Hydra run directory
    (`outputs/<date>/<time>/`, wherever `hydra.run.dir` puts it) has `.hydra/`, and a multirun sweep
    directory has `multirun.yaml` beside its runs."""
    if "pyvenv.cfg" in filenames or "conda-meta" in dirnames:
        return "virtual environment"
    if ".hydra" in dirnames:
        return "Hydra run directory"
    if "multirun.yaml" in filenames and any(os.path.isdir(os.path.join(dirpath, d, ".hydra")) for d in dirnames):
        return "Hydra multirun directory"
    return None


Verdict = Callable[[str], "bool | None"]


def _matcher(lines: list[str]) -> Verdict | None:
    """For paths relative to the ignore file's directory (a directory's with a trailing `/`): True
    if ignored, False if re-included by a `!` pattern, None if no pattern matches."""
    if not any(line.strip() and not line.startswith("#") for line in lines):
        return None
    import pathspec

    try:
        spec = pathspec.GitIgnoreSpec.from_lines(lines)  # patterns are compiled here
    except Exception:  # git skips a pattern it cannot read (`!`, `a\`, `[z-a]`): so do we, not the file
        spec = pathspec.GitIgnoreSpec.from_lines([line for line in lines if _readable(pathspec, line)])
    try:  # most paths match no pattern: one regex answers that, and pathspec decides the rest
        parts = [re.sub(r"\(\?P<\w+>", "(?:", p.regex.pattern) for p in spec.patterns
                 if getattr(p, "include", None) is not None and p.regex is not None]
        anything = re.compile("|".join(f"(?:{part})" for part in parts)).match if parts else None
    except (AttributeError, re.error):
        anything = None
    if anything is None and not spec.patterns:
        return None

    def verdict(rel: str) -> bool | None:
        if anything is not None and anything(rel) is None:
            return None
        return spec.check_file(rel).include

    return verdict


def _readable(pathspec, line: str) -> bool:
    try:
        pathspec.GitIgnoreSpec.from_lines([line])
        return True
    except Exception:
        return False


def _read_lines(path: str, inputs) -> list[str] | None:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device would block the run
            raise IsADirectoryError(path)
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError:
        if inputs is not None:
            inputs.file(path, file_state(path))
        return None
    if inputs is not None:
        from mllint.fingerprint import content_digest

        inputs.file(path, content_digest(raw))
    return raw.decode("utf-8", "replace").splitlines()


class Ignores:
    """The ignore files that apply in one directory: (absolute base directory, matcher), lowest
    precedence first. `git`: inside a git repository, where `.gitignore` files count (`.ignore`
    files, ripgrep's and Ruff's, count everywhere, over a `.gitignore` beside them)."""

    __slots__ = ("levels", "git")

    def __init__(self, levels: tuple[tuple[str, Verdict], ...] = (), git: bool = True) -> None:
        self.levels = levels
        self.git = git

    def __bool__(self) -> bool:  # no ignore file with patterns: nothing to ask
        return bool(self.levels)

    def child(self, directory: str, filenames, inputs=None) -> Ignores:
        """The ignores inside `directory` (absolute), whose file names are `filenames`."""
        levels = self.levels
        for name in (".gitignore", ".ignore") if self.git else (".ignore",):
            if name in filenames:
                lines = _read_lines(os.path.join(directory, name), inputs)
                verdict = _matcher(lines) if lines else None
                if verdict is not None:
                    levels = (*levels, (directory, verdict))
        return self if levels is self.levels else Ignores(levels, self.git)

    def ignored(self, path: str, is_dir: bool) -> bool:
        """`path` (absolute) is ignored: the deepest ignore file with a matching pattern decides."""
        for base, verdict in reversed(self.levels):
            if not (path.startswith(base) and path[len(base):len(base) + 1] == os.sep):
                continue
            rel = path[len(base) + 1:]
            if os.sep != "/":
                rel = rel.replace(os.sep, "/")
            decided = verdict(rel + "/" if is_dir else rel)
            if decided is not None:
                return decided
        return False


def _git_dirs(top: str) -> tuple[str, str] | None:
    """(git directory, common directory) of the work tree at `top` (`.git` is a directory, or a
    file `gitdir: ...` for worktrees and submodules)."""
    dot_git = os.path.join(top, ".git")
    git_dir = dot_git
    if not os.path.isdir(dot_git):
        try:
            with open(dot_git, encoding="utf-8", errors="replace") as fh:
                first = fh.readline().strip()
        except OSError:
            return None
        if not first.startswith("gitdir:"):
            return None
        git_dir = os.path.normpath(os.path.join(top, first[len("gitdir:"):].strip()))
    common = git_dir
    try:
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8", errors="replace") as fh:
            common = os.path.normpath(os.path.join(git_dir, fh.read().strip()))
    except OSError:
        pass
    return git_dir, common


def _excludes_file(common_dir: str, inputs) -> str:
    """core.excludesFile from the global and repository git config (the last one set wins), else
    git's default, $XDG_CONFIG_HOME/git/ignore."""
    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    found = os.path.join(xdg, "git", "ignore")
    for config in (os.path.join(xdg, "git", "config"), os.path.join(home, ".gitconfig"),
                   os.path.join(common_dir, "config")):
        value = _core_excludes_file(_read_lines(config, inputs) or [])
        if value:
            found = os.path.expanduser(value)
    return found


def _core_excludes_file(lines: list[str]) -> str | None:
    """The `excludesfile` of the `[core]` section of a git config file (a minimal reader: sections,
    `key = value`, quotes, comments)."""
    section, value = None, None
    for line in lines:
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line[1:line.find("]")].strip().lower() if "]" in line else None
            continue
        if section == "core" and "=" in line:
            key, raw = line.split("=", 1)
            if key.strip().lower() == "excludesfile":
                raw = raw.strip()
                if raw.startswith('"') and raw.count('"') >= 2:
                    raw = raw[1:raw.index('"', 1)]
                else:
                    raw = re.split(r"\s[#;]", raw, 1)[0].strip()
                value = raw
    return value


def repository_ignores(top: str, inputs=None) -> Ignores:
    """The ignores of the repository whose work tree is `top` (absolute), before any .gitignore:
    the global excludes file, then $GIT_DIR/info/exclude (both relative to `top`)."""
    levels: list[tuple[str, Verdict]] = []
    dirs = _git_dirs(top)
    common = dirs[1] if dirs is not None else os.path.join(top, ".git")
    for path in (_excludes_file(common, inputs), os.path.join(common, "info", "exclude")):
        lines = _read_lines(path, inputs)
        verdict = _matcher(lines) if lines else None
        if verdict is not None:
            levels.append((top, verdict))
    return Ignores(tuple(levels))


def ignores_above(directory: str, inputs=None, named: bool = True) -> Ignores:
    """The ignores that apply to `directory` (absolute) before its own ignore files are read: in a
    git repository, the repository's and the `.gitignore` and `.ignore` files from its top down;
    elsewhere the `.ignore` files above. A `named` directory that these ignore (`mllint outputs/`)
    is linted anyway, as Ruff does, so then only the ignore files inside it count."""
    top = directory
    below: list[str] = []  # directories from `directory` up to the repository's top, excluded
    while True:
        dot_git = os.path.join(top, ".git")
        if inputs is not None:
            inputs.file(dot_git, file_state(dot_git))  # a `git init` above changes what is ignored
        if os.path.lexists(dot_git):
            ignores = repository_ignores(top, inputs)
            break
        parent = os.path.dirname(top)
        below.append(top)
        if parent == top:  # not in a git repository
            ignores = Ignores(git=False)
            top = None
            break
        top = parent
    levels = ([top] if top is not None and directory != top else []) + list(reversed(below[1:]))
    for level in levels:  # `directory`'s own ignore files are read by the walk
        present = []
        for name in (".gitignore", ".ignore") if ignores.git else (".ignore",):
            path = os.path.join(level, name)
            if os.path.isfile(path):
                present.append(name)
            elif inputs is not None:
                inputs.file(path, None)
        if present:
            ignores = ignores.child(level, present, inputs)
    if named and directory != top and ignores.ignored(directory, True):
        return Ignores(git=ignores.git)
    return ignores
