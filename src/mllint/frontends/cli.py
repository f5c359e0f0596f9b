"""The `mllint` command.

    mllint [check] [PATHS]...   lint (and with --fix, fix) files and directories
    mllint rules                 the table of rules
    mllint explain CODE          a rule's documentation page (also `mllint rule CODE`, as in Ruff)
    mllint clean [PATHS]...      remove the .mllint_cache/ directories there and below
    mllint server                a language server over stdio, for editors

Exit codes: 0 nothing found (or everything fixed), 1 diagnostics remain (or --diff would change
something), 2 usage, configuration or internal error.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import click

from mllint import __version__
from mllint.diagnostics import printable
from mllint.engine.api import lint_source
from mllint.engine.files import decode, kind_of
from mllint.engine.registry import rule_infos
from mllint.frontends.output import (format_github, format_json, format_junit, format_lines, format_sarif,
                                     format_statistics, format_summary, format_text, statistics_json)
from mllint.run import cache, replay
from mllint.run.config import ConfigError, ConfigResolver, SelectionLayer, check_selector
from mllint.run.runner import Task, _git_ignored_file, rules_for, discover, run_iter

FORMATS = ["text", "json", "github", "sarif", "junit"]


class _DefaultToCheck(click.Group):
    """`mllint PATHS` means `mllint check PATHS`, so the common case stays short."""

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h", "--version")):
            args = ["check", *args]
        return super().parse_args(ctx, args)


def _selectors(values: tuple[str, ...], option: str) -> list[str]:
    out = []
    for value in values:
        for part in value.split(","):
            if part.strip():
                out.append(check_selector(part, option))
    return out


def _fail(message: str) -> None:
    click.echo(printable(f"mllint: error: {message}"), err=True)
    sys.exit(2)


def _echo(text: str, err: bool = False, nl: bool = True) -> None:
    """click.echo, and the run's record (mllint.run.replay) keeps what was printed; a file name that is
    not UTF-8 is shown escaped (printable)."""
    text = printable(text)
    click.echo(text, err=err, nl=nl)
    if replay.current is not None:
        replay.current.print(text + ("\n" if nl else ""), err)


@click.group(cls=_DefaultToCheck, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mllint")
def main() -> None:
    """mllint: find the patterns that make ML training runs fail silently, and fix them.

    Run `mllint [PATHS]` (same as `mllint check [PATHS]`); see `mllint check --help`.
    """


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--fix", is_flag=True, help="Apply safe fixes.")
@click.option("--unsafe-fixes/--no-unsafe-fixes", default=None,
              help="Also apply (with --fix) or show unsafe fixes (default: the `unsafe-fixes` setting).")
@click.option("--diff", is_flag=True, help="Print the fixes as a unified diff instead of writing them.")
@click.option("--select", multiple=True, metavar="CODES", help="Only these rules (codes or prefixes, comma-separated).")
@click.option("--extend-select", multiple=True, metavar="CODES", help="Rules to add to the selection.")
@click.option("--ignore", multiple=True, metavar="CODES", help="Rules to turn off.")
@click.option("--fixable", multiple=True, metavar="CODES", help="Only these rules' fixes may be applied.")
@click.option("--unfixable", multiple=True, metavar="CODES", help="Rules whose fixes are never applied.")
@click.option("--extend-fixable", multiple=True, metavar="CODES", help="Rules to add to `fixable`.")
@click.option("--preview", is_flag=True, default=None, help="Enable preview rules.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text for people; json; github (workflow commands: inline annotations on pull requests); "
                   "sarif (SARIF 2.1.0, for code scanning); junit (XML test report).")
@click.option("--output-file", "-o", type=click.Path(dir_okay=False), help="Write the report here instead of stdout.")
@click.option("--statistics", is_flag=True, help="Show a count per rule instead of each diagnostic (text or json).")
@click.option("--stdin-filename", metavar="NAME", help="Read the source from stdin and report it as NAME.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when diagnostics remain.")
@click.option("--force-exclude", is_flag=True,
              help="Apply the configured excludes to files named on the command line too (pre-commit, editors).")
@click.option("--respect-gitignore/--no-respect-gitignore", default=None,
              help="Skip the files git ignores (.gitignore, .git/info/exclude, the global excludes file); "
                   "default: the `respect-gitignore` setting, on.")
@click.option("--show-files", is_flag=True, help="Print the files that would be linted, one per line, and exit.")
@click.option("--show-settings", is_flag=True,
              help="Print the settings used for the first file of PATHS, and where each comes from, and exit.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Use this pyproject.toml or mllint.toml.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Processes to use (default: all cores).")
@click.option("--quiet", "-q", is_flag=True, help="Print diagnostics only, no summary.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the .mllint_cache/ directory.")
@click.option("--add-noqa", is_flag=True,
              help="Add a `# noqa: CODE` comment to each line with a finding (to adopt mllint on existing code).")
def check(paths, fix, unsafe_fixes, diff, select, extend_select, ignore, fixable, unfixable, extend_fixable, preview,
          fmt, output_file, statistics, stdin_filename, exit_zero, force_exclude, respect_gitignore, show_files,
          show_settings, config_file, jobs, quiet, no_cache, add_noqa) -> None:
    """Lint PATHS (default: the current directory)."""
    if add_noqa and (fix or diff or stdin_filename is not None):
        _fail("--add-noqa cannot be combined with --fix, --diff or --stdin-filename")
    try:
        os.getcwd()
    except OSError:
        named = [*(paths or ["."]), *(p for p in (config_file, output_file, stdin_filename) if p is not None)]
        if not all(os.path.isabs(p) for p in named):
            _fail("the current directory no longer exists (deleted or moved); name absolute paths, or cd")
    # Only a plain check is replayed: the others write files or read stdin.
    if (fix or diff or add_noqa or stdin_filename is not None or output_file is not None or no_cache or show_files
            or show_settings):
        replay.current = None
    inputs = replay.current.inputs if replay.current is not None else None
    entries = replay.previous.get("entries") if replay.previous is not None and not no_cache else None
    if isinstance(entries, dict):
        cache.preload(entries)
    try:
        layer = SelectionLayer(
            select=_selectors(select, "--select") or None,
            extend_select=_selectors(extend_select, "--extend-select"),
            ignore=_selectors(ignore, "--ignore"),
        )
        fix_layer = None
        if fixable or unfixable or extend_fixable:
            fix_layer = SelectionLayer(select=_selectors(fixable, "--fixable") or None,
                                       extend_select=_selectors(extend_fixable, "--extend-fixable"),
                                       ignore=_selectors(unfixable, "--unfixable"))
        resolver = ConfigResolver(layer, preview=preview, config_file=Path(config_file) if config_file else None,
                                  inputs=inputs, fix_layer=fix_layer, unsafe_fixes=unsafe_fixes,
                                  respect_gitignore=respect_gitignore)
        if stdin_filename is not None:
            sys.exit(_check_stdin(stdin_filename, resolver, fix, unsafe_fixes, diff, fmt, exit_zero, quiet,
                                  force_exclude, output_file, statistics))
        found, path_errors = discover(list(paths) or ["."], resolver, force_exclude=force_exclude, inputs=inputs)
    except ConfigError as exc:
        _fail(str(exc))
    for err in path_errors:
        _echo(f"mllint: error: {err}", err=True)
    if path_errors and not found:
        sys.exit(2)
    if show_files:
        for display in sorted(display for _, display, _ in found):
            click.echo(display)
        sys.exit(2 if path_errors else 0)
    if show_settings:
        if not found:
            _fail("--show-settings: no file to lint in PATHS")
        path, display, settings = min(found, key=lambda f: f[1])
        click.echo(settings.describe(path, display))
        sys.exit(0)
    if not found:  # everything named was excluded, or holds no file mllint reads
        _echo("mllint: warning: No Python files found under the given path(s); no files were linted.", err=True)
    fix_mode = fix or diff
    tasks = [Task(path, display, settings, fix=fix_mode, unsafe=settings.unsafe_fixes, write=not diff,
                  cache=not no_cache, add_noqa=add_noqa)
             for path, display, settings in sorted(found, key=lambda f: f[1])]
    if unsafe_fixes is None:  # what the summary offers: the setting, where every file has it
        unsafe_fixes = bool(tasks) and all(task.unsafe for task in tasks)
    # Text goes out file by file as results arrive (in path order); other formats need them all.
    stream = fmt == "text" and not statistics and not diff and not add_noqa and output_file is None
    # Parse trees are millions of small objects without cycles: collecting the youngest generation
    # every 700 allocations cost about a tenth of a cold run, for nothing. Workers inherit this.
    gc.set_threshold(100_000, 50, 100)
    results = []
    for result in run_iter(tasks, jobs or os.cpu_count() or 1):
        results.append(result)
        if stream and result.diagnostics:
            _echo("\n".join(format_lines(sorted(result.diagnostics, key=lambda d: d.sort_key()), unsafe_fixes)))

    diags = sorted((d for r in results for d in r.diagnostics), key=lambda d: d.sort_key())
    errors = [e for r in results for e in r.errors]
    fixed = sum(r.fixed for r in results)
    for r in results:
        for warning in r.warnings:
            _echo(f"mllint: warning: {warning}", err=True)

    if add_noqa:  # as Ruff: only the count, no report
        added = sum(r.noqa_added for r in results)
        if added and not quiet:
            click.echo(f"Added {added} noqa directive{'s' if added != 1 else ''}.", err=True)
        for err in errors:
            click.echo(f"mllint: error: {err}", err=True)
        sys.exit(2 if errors or path_errors else 0)

    if diff:
        import difflib

        from mllint.diagnostics import split_lines  # hunk rows must be the rows diagnostics give

        chunks = []
        for r in results:
            if r.new_source is not None:
                chunks.append("".join(difflib.unified_diff(
                    split_lines(r.source, keepends=True), split_lines(r.new_source, keepends=True),
                    fromfile=f"a/{r.path.lstrip('/')}", tofile=f"b/{r.path.lstrip('/')}")))
        _emit("".join(chunks), output_file)
        if not quiet:
            click.echo(f"Would fix {fixed} error{'s' if fixed != 1 else ''}.", err=True)
        for err in errors:
            click.echo(printable(f"mllint: error: {err}"), err=True)
        sys.exit(2 if errors else (1 if fixed else 0))

    # the errors first, so that the summary closes the output and counts them (it never says
    # "All checks passed!" for a run that ends with exit code 2)
    for err in errors:
        _echo(f"mllint: error: {err}", err=True)
    failures = len(errors) + len(path_errors)
    if stream:
        report = "" if quiet or not found else "\n".join(
            format_summary(diags, unsafe=unsafe_fixes, fixed=fixed, fix_mode=fix, errors=failures))
    else:
        report = _render(diags, fmt, statistics, unsafe_fixes, fixed, fix, quiet, files=[r.path for r in results],
                         errors=failures, linted=bool(found))
    _emit(report, output_file)
    if errors or path_errors:
        sys.exit(2)
    status = 0 if exit_zero or not diags else 1
    if replay.current is not None:
        _record(replay.current, tasks, results, status)
    sys.exit(status)


def _record(recorder: replay.Recorder, tasks: list[Task], results, status: int) -> None:
    """Write the run's record, with the content of each linted file as it was linted; results of
    cross-file rules with the state of what their rules read, as they read it."""
    for task, result in zip(tasks, results):
        state = result.state
        if state is None:
            return
        recorder.inputs.file(task.path, state.content)
        if result.cacheable:  # else the next run's per-file cache would drop its warning
            recorder.entries[state.key] = cache.entry(result.diagnostics, result.reads)
        # a changed size or time ends a replay before any file is read (one changed file: pre-commit)
        recorder.inputs.stat(task.path, state.size, state.mtime_ns)
        if result.reads is not None and not recorder.inputs.reads(result.reads):
            return  # a tree changed between a worker's walk and this process's: not recorded
    recorder.write(status)


def _render(diags, fmt, statistics, unsafe, fixed, fix_mode, quiet, files=None, errors=0, linted=True) -> str:
    if statistics:
        return statistics_json(diags, unsafe) if fmt == "json" else format_statistics(diags, unsafe)
    if fmt == "json":
        return format_json(diags)
    if fmt == "github":
        return format_github(diags)
    if fmt == "sarif":
        return format_sarif(diags, unsafe=unsafe)
    if fmt == "junit":
        return format_junit(diags, files)
    return format_text(diags, unsafe=unsafe, fixed=fixed, fix_mode=fix_mode, show_summary=not quiet and linted,
                       errors=errors)


def _emit(text: str, output_file: str | None) -> None:
    if output_file:
        # as Ruff does, the report's directory is created (CI: `-o reports/mllint.sarif`)
        text = printable(text)
        try:
            Path(output_file).parent.mkdir(parents=True, exist_ok=True)
            Path(output_file).write_text(text + ("\n" if text and not text.endswith("\n") else ""), encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot write the report to {output_file}: {exc.strerror or exc}")
    elif text:
        _echo(text, nl=not text.endswith("\n"))


def _check_stdin(name, resolver, fix, unsafe, diff, fmt, exit_zero, quiet, force_exclude=False, output_file=None,
                 statistics=False) -> int:
    """Editors: source on stdin; with --fix the fixed source goes to stdout, and the report to stderr
    (or to --output-file)."""
    path = Path(name)
    kind = kind_of(path) or "python"
    data = sys.stdin.buffer.read()
    try:
        src = decode(data, kind)
    except (UnicodeDecodeError, SyntaxError, LookupError) as exc:
        click.echo(printable(f"mllint: error: {name}: cannot decode: {exc}"), err=True)
        return 2
    full = path if path.is_absolute() else Path.cwd() / path
    settings = resolver.for_path(full)
    unsafe = settings.unsafe_fixes  # the command line's --[no-]unsafe-fixes, else the setting
    if force_exclude and (settings.is_excluded(full) or _git_ignored_file(full, settings)):
        if fix:  # an editor replaces the buffer by stdout: give the source back unchanged
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return 0
    task = Task(path, name, settings)
    result = lint_source(src.text, name, kind, rules_for(task), project=settings, fix=fix or diff, unsafe=unsafe)
    for err in result.errors:
        click.echo(printable(f"mllint: error: {err}"), err=True)
    if diff:
        if result.new_source is not None:
            import difflib

            from mllint.diagnostics import split_lines

            sys.stdout.write(printable("".join(difflib.unified_diff(
                split_lines(src.text, keepends=True), split_lines(result.new_source, keepends=True),
                fromfile=f"a/{name}", tofile=f"b/{name}"))))
        return 2 if result.errors else (1 if result.fixed else 0)
    report = _render(result.diagnostics, fmt, statistics, unsafe, result.fixed, fix, quiet, files=[name],
                     errors=len(result.errors))
    if fix:
        out = result.new_source if result.new_source is not None else src.text
        sys.stdout.buffer.write(out.encode(src.encoding))
        sys.stdout.flush()
        if output_file:
            _emit(report, output_file)
        elif report:
            click.echo(printable(report), err=True)
    else:
        _emit(report, output_file)
    if result.errors:
        return 2
    return 0 if exit_zero or not result.diagnostics else 1


@main.command()
def server() -> None:
    """Run the language server over stdio (for editors; needs pygls: the `lsp` extra)."""
    try:
        from mllint.frontends.lsp import main as serve
    except ImportError as exc:
        # mllint-training is not on PyPI, and `pip install mllint` is another project
        _fail(f"the language server needs pygls ({exc}): install mllint with its `lsp` extra, "
              "`pip install '.[lsp]'` in a clone of mllint, or `pip install pygls` beside it")
    serve()


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, file_okay=False))
def clean(paths) -> None:
    """Remove the .mllint_cache/ directories in PATHS (default: the current directory) and below."""
    from mllint.run.config import DEFAULT_EXCLUDE

    skip = set(DEFAULT_EXCLUDE) - {cache.CACHE_DIR}
    for top in paths or (".",):
        for dirpath, dirnames, _ in os.walk(top):
            if cache.CACHE_DIR in dirnames:
                where = printable(os.path.join(dirpath, cache.CACHE_DIR))
                if cache.clear(Path(dirpath)):
                    click.echo(f"Removed {where}")
                else:  # a symlink (a checkout can ship one): what it points to is not mllint's to delete
                    click.echo(f"Skipped {where}: not a directory (a symlink?)", err=True)
            dirnames[:] = [d for d in dirnames if d not in skip and d != cache.CACHE_DIR]


@main.command("rules")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rules_cmd(fmt: str) -> None:
    """List every rule: code, name, stability, fix."""
    rules = rule_infos()  # the metadata, without importing the rules
    if fmt == "json":
        import json

        click.echo(json.dumps([{"code": c.code, "name": c.name, "summary": c.summary, "stability": c.stability,
                                "fix": c.fix_applicability.value} for c in rules.values()], indent=2))
        return
    header = ("Code", "Name", "Stability", "Fix", "Summary")
    rows = [(c.code, c.name, c.stability, c.fix_applicability.value, c.summary) for c in rules.values()]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        click.echo("  ".join(row[i].ljust(widths[i]) for i in range(4)) + "  " + row[4])


@main.command()
@click.argument("code")
def explain(code: str) -> None:
    """Print the documentation page of a rule (e.g. `mllint explain ML101`; `mllint rule ML101` too)."""
    from mllint.frontends.docs import doc_text

    rules = rule_infos()
    code_u = code.upper()
    by_name = {cls.name: c for c, cls in rules.items()}
    code_u = by_name.get(code.lower(), code_u)
    if code_u not in rules:
        _fail(f"unknown rule {code!r} (see `mllint rules`)")
    text = doc_text(code_u)
    if text is None:
        cls = rules[code_u]
        text = f"# {cls.code} {cls.name}\n\n{cls.summary}\n"
    click.echo(text.rstrip("\n"))


@main.command("rule")
@click.argument("code")
@click.pass_context
def rule_cmd(ctx: click.Context, code: str) -> None:
    """Same as `mllint explain CODE` (Ruff's `ruff rule CODE`)."""
    ctx.invoke(explain, code=code)


__all__ = ["main"]
