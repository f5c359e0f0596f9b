"""Promise 1 for reports: whatever the linted files and their names contain, every output format
stays well-formed (XML parses, JSON parses, one line per diagnostic in the line formats), and
writing a report never ends in a traceback. Also: the summary tells the truth about the run."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from mllint.frontends.cli import main
from mllint.diagnostics import Diagnostic, Location
from mllint.frontends.output import format_github, format_junit, format_lines

# a control character inside a string literal is valid Python, and ML103 quotes the expression
CONTROL = 'import torch\n\n\ndef f(x):\n    return x / x["\x01\x1b[2J"].std()\n'
# a Hydra override holding a newline (a quoted shell argument) is quoted by ML502
HYDRA_APP = ('import hydra\n\n\n@hydra.main(config_path="conf", config_name="config", version_base=None)\n'
             'def main(cfg):\n    print(cfg)\n')


def invoke(*args, input=None):
    return CliRunner().invoke(main, ["--no-cache", *args], input=input)


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text("lr: 0.1\n")
    (tmp_path / "train.py").write_text(HYDRA_APP)
    (tmp_path / "run.sh").write_text('python train.py "l\nr=0.2"\n')
    (tmp_path / "a.py").write_text(CONTROL)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def names(project: Path) -> list[str]:
    files = ["a.py", "run.sh"]
    if sys.platform != "win32":  # a file name with a control character and a newline
        odd = "b\x02\nc.py"
        (project / odd).write_text(CONTROL)
        files.append(odd)
    return files


def test_junit_is_valid_xml_whatever_messages_and_file_names_hold(project):
    out = invoke("--format", "junit", *names(project))
    assert out.exit_code == 1, out.output
    root = ET.fromstring(out.output.encode())
    failures = root.findall("testsuite/testcase/failure")
    assert {f.get("type") for f in failures} == {"ML103", "ML502"}
    assert any("\\x01" in f.text for f in failures)  # the character is shown, escaped


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_json_formats_parse_whatever_messages_and_file_names_hold(project, fmt):
    out = invoke("--format", fmt, *names(project))
    assert out.exit_code == 1
    json.loads(out.output)


@pytest.mark.parametrize("fmt", ["text", "github"])
def test_line_formats_keep_one_line_per_diagnostic(project, fmt):
    files = names(project)
    out = invoke("--format", fmt, "--quiet", *files)
    assert out.exit_code == 1
    lines = out.output.splitlines()
    assert len(lines) == len(files)  # one diagnostic per file
    assert "\x1b" not in out.output and "\x01" not in out.output


def test_text_escapes_line_breaks_and_controls_in_messages_and_paths():
    d = Diagnostic(code="ML502", name="x", message="`a\nb`\r \x1b[31m \u2028", path="d\ne\udce9.py",
                   start=Location(1, 2), end=Location(1, 3))
    assert format_lines([d], unsafe=False) == ["d\\ne\\xe9.py:1:2: ML502 `a\\nb`\\r \\x1b[31m \\u2028"]
    assert len(format_github([d]).splitlines()) == 1
    ET.fromstring(format_junit([d]).encode())


# ---- --output-file (F21) --------------------------------------------------------------------------

def test_output_file_creates_its_directory_as_ruff_does(project):
    out = invoke("--exit-zero", "--format", "sarif", "--output-file", "reports/ci/mllint.sarif", "a.py")
    assert out.exit_code == 0, out.output
    json.loads((project / "reports" / "ci" / "mllint.sarif").read_text())
    out = invoke("--stdin-filename", "x.py", "--output-file", "more/x.txt", input="x = 1\n")
    assert out.exit_code == 0, out.output
    assert (project / "more" / "x.txt").read_text() == "All checks passed!\n"


def test_an_unwritable_output_file_is_a_usage_error_not_a_traceback(project):
    (project / "file").write_text("")
    out = invoke("--output-file", "file/report.txt", "a.py")
    assert out.exit_code == 2
    assert out.exception is None or isinstance(out.exception, SystemExit)
    assert out.output.startswith("mllint: error: cannot write the report to file/report.txt")


# ---- the summary tells the truth ------------------------------------------------------------------

def test_summary_comes_after_internal_errors_and_does_not_say_passed(project, monkeypatch):
    from mllint.run.rules import all_rules

    def boom(self, node):
        raise RuntimeError("boom")

    monkeypatch.setattr(all_rules()["ML103"], "visit_BinaryOperation", boom)
    out = invoke("--jobs", "1", "a.py")
    assert out.exit_code == 2
    lines = out.output.splitlines()
    assert "All checks passed!" not in out.output
    assert "internal error in ML103" in lines[-2]
    assert lines[-1] == "Not every check ran: 1 error reported above (exit code 2)."


def test_nothing_to_lint_is_a_warning_not_a_pass(project):
    (project / "pyproject.toml").write_text("[project]\nname = 'demo'\n\n[tool.mllint]\nexclude = ['*']\n")
    out = CliRunner().invoke(main, ["--no-cache", "."])
    assert out.exit_code == 0
    assert out.stdout == ""
    assert out.stderr == "mllint: warning: No Python files found under the given path(s); no files were linted.\n"
