"""From paths to results: find the files, pick each one's settings, lint or fix them (in
parallel), and write fixed files atomically."""

from __future__ import annotations

import functools
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from mllint.engine import reads
from mllint.engine.api import lint_source
from mllint.engine.files import FileState, decode, kind_of, write_atomic
from mllint.engine.lint import FileResult, choose_fixes, has_evidence
from mllint.fingerprint import MAX_FILE_BYTES, NotRegularFile, check_regular, content_digest, open_nonblocking
from mllint.run import cache
from mllint.run.config import ConfigResolver, Settings
from mllint.run.rules import all_rules


@dataclass(frozen=True)
class Task:
    path: Path
    display: str
    settings: Settings
    fix: bool = False
    unsafe: bool = False
    write: bool = True  # False for --diff: compute fixes, do not write
    cache: bool = True
    add_noqa: bool = False  # --add-noqa: write a `# noqa` for each finding instead of fixing


def _infos_for(task: Task):
    """The metadata of the rules that apply to this file (per-file-ignores taken out)."""
    ignored = task.settings.ignored_for(task.path)
    return [info for info in task.settings.enabled_infos()
            if not any(info.code.startswith(sel) or sel == "ALL" for sel in ignored)]


def rules_for(task: Task):
    """(rule class, options) for linting this file: imports the rules."""
    classes = all_rules()
    return [(classes[info.code], task.settings.options_for(info)) for info in _infos_for(task)]


def wanted_kinds(settings: Settings) -> set[str]:
    kinds = {"python"}
    for info in settings.enabled_infos():
        kinds.update(info.file_kinds)
    return kinds


def discover(paths: list[str], resolver: ConfigResolver, force_exclude: bool = False,
             inputs=None) -> tuple[list[tuple[Path, str, Settings]], list[str]]:
    """Files to lint, with their settings. Named files are always linted (unless `force_exclude`,
    as pre-commit wants: it names every staged file); directories are walked, skipping what
    `exclude`, git's ignore files (`respect-gitignore`), virtual environments and Hydra run
    directories leave out below them (mllint.run.ignore). `inputs` (a `replay.RunInputs`) is told the
    entries of each directory walked and the ignore files read."""
    from mllint.run.ignore import Ignores, ignores_above, repository_ignores, skipped_directory

    found: list[tuple[Path, str, Settings]] = []
    errors: list[str] = []
    seen: set[str] = set()  # real paths, so a file named twice or reached twice is linted once
    for raw in paths:
        path = Path(raw)
        if not path.exists() and not path.is_symlink():
            errors.append(f"{raw}: no such file or directory")
            continue
        mode = _mode(path)
        if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
            # a FIFO or device named on the command line: said and counted, as a missing file is
            errors.append(f"{raw}: {NotRegularFile(raw, mode).strerror}; not linted")
            continue
        if path.is_file() or (path.is_symlink() and not path.is_dir()):
            key = os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                settings = resolver.for_path(path)
                if force_exclude and (settings.is_excluded(path) or _git_ignored_file(path, settings, inputs)):
                    continue
                found.append((path, raw, settings))
            continue
        settings = resolver.for_path(path)
        top = os.path.abspath(path)
        ignores_here: dict[str, Ignores | None] = {  # the ignores above each directory to walk
            top: ignores_above(top, inputs) if settings.respect_gitignore else None}
        # Strings, not Paths, while walking: this loop meets every file and directory of the tree.
        for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
            if inputs is not None:
                inputs.directory(dirpath, dirnames + filenames)
            here = top if dirpath == str(path) else os.path.join(top, os.path.relpath(dirpath, path))
            ignores = ignores_here.pop(here, None)
            if here != top and skipped_directory(dirnames, filenames, dirpath):
                dirnames[:] = []
                continue
            settings = resolver.for_path(Path(dirpath))  # a file's settings are its directory's
            if here != top and (".git" in dirnames or ".git" in filenames) and settings.respect_gitignore:
                ignores = repository_ignores(here, inputs)  # a nested repository: its own ignores
            if ignores is not None and settings.respect_gitignore:
                ignores = ignores.child(here, filenames, inputs)
            else:
                ignores = None
            dirnames[:] = sorted(d for d in dirnames if not settings.is_excluded_entry(os.path.join(dirpath, d))
                                 and not (ignores and ignores.ignored(os.path.join(here, d), True)))
            for d in dirnames:
                ignores_here[os.path.join(here, d)] = ignores
            kinds = wanted_kinds(settings)
            real_here = None
            for name in sorted(filenames):
                kind = kind_of(name)
                if kind == "notebook":
                    kind = "python"  # notebooks' code cells are Python
                if kind is None or kind not in kinds:
                    continue
                file = os.path.join(dirpath, name)
                if settings.is_excluded_entry(file) or (ignores and ignores.ignored(os.path.join(here, name), False)):
                    continue
                if os.path.islink(file):
                    key = os.path.realpath(file)
                else:  # what realpath gives, resolving the directory once rather than per file
                    real_here = real_here or os.path.realpath(dirpath)
                    key = os.path.join(real_here, name)
                if key in seen:
                    continue
                seen.add(key)
                file_path = Path(file)
                found.append((file_path, str(file_path), settings))
    return found, errors


def _git_ignored_file(path: Path, settings: Settings, inputs=None) -> bool:
    """A file named on the command line that git ignores (for --force-exclude)."""
    if not settings.respect_gitignore:
        return False
    from mllint.run.ignore import ignores_above

    full = os.path.abspath(path)
    directory = os.path.dirname(full)
    ignores = ignores_above(directory, inputs, named=False)
    present = []
    for name in (".gitignore", ".ignore") if ignores.git else (".ignore",):
        if os.path.isfile(os.path.join(directory, name)):
            present.append(name)
        elif inputs is not None:
            inputs.file(os.path.join(directory, name), None)
    return ignores.child(directory, present, inputs).ignored(full, False)


def _mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode
    except OSError:
        return None


def _read(task: Task):
    """(raw bytes, stat, FileState or None with the cache off), or a FileResult for a file that
    cannot be read."""
    path = task.path
    try:
        if path.is_dir():
            return FileResult(task.display, errors=[f"{task.display}: is a directory, not a file"])
        # Only regular files are read: a FIFO would block, a device never end.
        with open(path, "rb", opener=open_nonblocking) as fh:
            stat_before = check_regular(fh, path)
            data = fh.read(MAX_FILE_BYTES + 1)
    except NotRegularFile as exc:  # reached while walking a directory: said, not linted
        return FileResult(task.display, warnings=[f"{task.display}: {exc.strerror}; not linted"])
    except OSError as exc:
        return FileResult(task.display, errors=[f"{task.display}: cannot read: {exc.strerror or exc}"])
    if len(data) > MAX_FILE_BYTES:
        return FileResult(task.display, warnings=[f"{task.display}: too large to check (over the "
                                                  f"{MAX_FILE_BYTES // 2**20} MB limit); not linted"])
    if not task.cache:
        return data, stat_before, None
    content = content_digest(data)
    key = cache.key(content, task.display, kind_of(path) or "python", task.settings.fingerprint(), _real(path))
    return data, stat_before, FileState(content, key, stat_before.st_size, stat_before.st_mtime_ns)


def _real(path: Path) -> str:
    """The file's real path (where it is decides per-file ignores and what Hydra commands run);
    each directory resolved once per run."""
    full = os.path.abspath(path)
    if os.path.islink(full):
        return os.path.realpath(full)
    directory, name = os.path.split(full)
    return os.path.join(_real_dir(directory), name)


@functools.lru_cache(maxsize=4096)
def _real_dir(directory: str) -> str:
    return os.path.realpath(directory)


def _reads_other_files(text: str, infos, kind: str) -> bool:
    """Could a cross-file rule report on this text? The Hydra rules share their evidence: each
    distinct list is searched once (most files have none of it, so every item is searched)."""
    searched = []
    for info in infos:
        if not info.cross_file or (info.cross_file is not True and kind not in info.cross_file):
            continue  # `cross_file` may name the file kinds for which a rule reads other files
        evidence = info.evidence.get(kind, ()) if isinstance(info.evidence, dict) else info.evidence
        if evidence and evidence in searched:
            continue
        if has_evidence(text, info, kind):
            return True
        searched.append(evidence)
    return False


def _load(task: Task, state: FileState) -> FileResult | None:
    """A cached result. Results that cross-file rules took part in (they read configs and apps too)
    hold what those rules read, and count only while none of it has changed."""
    hit = cache.load(task.settings.root, state.key)
    if hit is None or (task.fix and choose_fixes(hit[0], task.unsafe)) or (task.add_noqa and hit[0]):
        return None
    return FileResult(task.display, diagnostics=hit[0], state=state, reads=hit[1])


def cached(task: Task) -> FileResult | None:
    """The cached result for this file, if there is one that can be used as it is."""
    if not task.cache:
        return None
    read = _read(task)
    if isinstance(read, FileResult) or read[2] is None:
        return None  # a file that cannot be read is reported when it is processed
    return _load(task, read[2])


# A file this large grows the heap by tens to hundreds of MB (its two syntax trees).
_LARGE_FILE_BYTES = 64 * 1024


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim, or None (another C library)."""
    try:
        import ctypes

        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def _release_freed_memory() -> None:
    """Hand the heap's free pages back to the system.

    glibc keeps what a large file's trees freed, scattered, and the next large file mostly grows
    the heap again: a worker that met a few large files before PyTorch's largest one peaked 20%
    above the parse floor, and at the floor with this call."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def process(task: Task) -> FileResult:
    """Read, lint, and in fix mode write one file. Never raises for a bad file."""
    read = _read(task)
    if isinstance(read, FileResult):
        return read
    data, stat_before, state = read
    if state is not None:
        hit = _load(task, state)
        if hit is not None:
            return hit
    kind = kind_of(task.path) or "python"
    try:
        src = decode(data, kind)
    except (UnicodeDecodeError, SyntaxError, LookupError) as exc:
        reason = exc.reason if isinstance(exc, UnicodeDecodeError) else str(exc)
        from mllint.engine.lint import syntax_diagnostic

        return FileResult(task.display, diagnostics=[syntax_diagnostic(task.display, f"cannot decode file: {reason}", 1, 1)],
                          state=state)
    # Cross-file rules note each file and directory they read, with its state when read (an edit
    # made meanwhile makes the next run lint again); the result is cached against exactly these.
    read = None
    recorder = reads.Reads() if state is not None and _reads_other_files(src.text, _infos_for(task), kind) else None
    if recorder is not None:
        with recorder:
            result = lint_source(src.text, task.display, kind, rules_for(task), project=task.settings, fix=task.fix,
                               unsafe=task.unsafe)
        read = recorder.to_json()
    else:
        result = lint_source(src.text, task.display, kind, rules_for(task), project=task.settings, fix=task.fix,
                           unsafe=task.unsafe)
    result.state, result.reads = state, read
    if len(data) >= _LARGE_FILE_BYTES:
        _release_freed_memory()
    if task.add_noqa:
        _add_noqa(result, src.text, kind)
    if state is not None and not result.errors and result.new_source is None and result.cacheable:
        cache.store(task.settings.root, state.key, result.diagnostics, read)
    if result.new_source is not None and task.write:
        try:
            _refuse_link_out_of_project(task)
            write_atomic(task.path, result.new_source, src.encoding, stat_before.st_mtime_ns, expected=data)
        except (OSError, UnicodeEncodeError) as exc:
            result.errors.append(f"{task.display}: {'file' if task.add_noqa else 'fixed file'} not written: {exc}")
            result.new_source = None
            result.fixed = result.noqa_added = 0
            # what is reported must be the findings of the file as it stays, not of the fixed text
            result.diagnostics = lint_source(src.text, task.display, kind, rules_for(task), project=task.settings,
                                           fix=False).diagnostics
    return result


def _refuse_link_out_of_project(task: Task) -> None:
    """A symlink (the file's or a directory's on its path) is written through only to a file
    inside the project: a checkout must not be able to make `mllint --fix .` edit a file of the
    user's elsewhere (`train.py -> ~/.bashrc`)."""
    target = os.path.realpath(task.path)
    if target == os.path.abspath(task.path):
        return
    root = os.path.realpath(task.settings.root)
    if os.path.commonpath([target, root]) != root:
        raise OSError(f"it is a symlink to {target}, outside the project ({root})")


def _add_noqa(result: FileResult, text: str, kind: str) -> None:
    """Give `result.new_source` a `# noqa` for each of its diagnostics (written as fixes are)."""
    from mllint.engine.noqa import add_noqa, add_noqa_notebook

    try:
        if kind == "notebook":
            new, result.noqa_added, unplaced = add_noqa_notebook(text, result.diagnostics)
        else:
            new, result.noqa_added, unplaced = add_noqa(text, kind, result.diagnostics)
    except ValueError as exc:  # a notebook that cannot be read, or a comment that would change the code
        result.errors.append(f"{result.path}: no noqa comments added: {exc}")
        return
    for d in unplaced:
        where = f"cell {d.cell}:" if d.cell is not None else ""
        result.warnings.append(f"{result.path}:{where}{d.start.row}:{d.start.column}: no line of this {d.code} "
                               "finding can carry a `# noqa` comment; not suppressed")
    if new != text:
        result.new_source = new


def run_iter(tasks: list[Task], jobs: int = 1) -> Iterator[FileResult]:
    """Results one by one, in the order of `tasks` whatever the number of processes, as soon as
    each is ready (so a large run shows its first findings early). What the cache can answer is
    answered here first, so an unchanged tree starts no worker processes."""
    _real_dir.cache_clear()  # a directory symlink may have been re-pointed since the last run
    if jobs <= 1 or len(tasks) < 4:
        yield from map(process, tasks)
        return
    hits = [cached(task) for task in tasks]
    todo = [task for task, hit in zip(tasks, hits) if hit is None]
    if len(todo) < 4:
        computed = map(process, todo)
        yield from (hit if hit is not None else next(computed) for hit in hits)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        computed = pool.map(process, todo, chunksize=max(1, min(16, len(todo) // (jobs * 4))))
        yield from (hit if hit is not None else next(computed) for hit in hits)


def run(tasks: list[Task], jobs: int = 1) -> list[FileResult]:
    return list(run_iter(tasks, jobs))
