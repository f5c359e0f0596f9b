"""CI output formats through the real command line: GitHub workflow commands, SARIF 2.1.0
validated against the official OASIS schema (tests/data), JUnit XML, --statistics and
--output-file."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from mllint.frontends.cli import main
from mllint.diagnostics import Diagnostic, Location
from mllint.frontends.output import format_github
from mllint.run.rules import all_rules

from .notebooks import notebook_text

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "data" / "sarif-schema-2.1.0.json").read_text())
BAD = ("import torch\n\n\ndef sanitize(model):\n    for p in model.parameters():\n"
       "        p.grad = torch.nan_to_num(p.grad, nan=0.0, posinf=1.0, neginf=-1.0)\n"
       "        p.grad.nan_to_num_()\n")
FIXED_LINE6 = '        p.grad = torch.nan_to_num(p.grad, nan=0.0, posinf=float("inf"), neginf=float("-inf"))'


def invoke(*args):
    return CliRunner().invoke(main, ["--no-cache", *args])


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "train.py").write_text(BAD)
    (tmp_path / "clean.py").write_text("x = 1\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def validate_sarif(log: dict) -> None:
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


# ---- GitHub --------------------------------------------------------------------------------------

def test_github_annotations(project):
    out = invoke("--format", "github", "train.py", "clean.py")
    assert out.exit_code == 1
    lines = out.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("::error file=train.py,line=6,col=18,endLine=6,endColumn=76,title=ML101::"
                               "`torch.nan_to_num` on a gradient")
    assert lines[1].startswith("::error file=train.py,line=7,col=9,")


def test_github_escapes_properties_and_message():
    d = Diagnostic(code="ML101", name="x", message="50% done\nnext: line", path="a,b:c.py",
                   start=Location(1, 2), end=Location(1, 3))
    assert format_github([d]) == ("::error file=a%2Cb%3Ac.py,line=1,col=2,endLine=1,endColumn=3,title=ML101::"
                                  "50%25 done%0Anext: line")


def test_github_points_into_the_notebook_file(project):
    path = project / "train.ipynb"
    path.write_text(notebook_text(colab=True))
    out = invoke("--format", "github", "train.ipynb")
    line = out.output.splitlines()[0]
    props = dict(p.split("=", 1) for p in line.split("::")[1][len("error "):].split(","))
    file_line = path.read_text().splitlines()[int(props["line"]) - 1]
    assert file_line[int(props["col"]) - 1:].startswith("torch.nan_to_num(p.grad, nan=0.0, posinf=1.0")
    assert line.split("::", 2)[2].startswith("cell 5:10:26: ")


# ---- SARIF ---------------------------------------------------------------------------------------

def test_sarif_is_valid_and_carries_rule_metadata_and_fixes(project):
    out = invoke("--format", "sarif", "train.py", "clean.py")
    assert out.exit_code == 1
    log = json.loads(out.output)
    validate_sarif(log)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "mllint"
    rules = {r["id"]: r for r in driver["rules"]}
    assert set(rules) == set(all_rules())
    ml101 = rules["ML101"]
    assert ml101["name"] == "nan-to-num-masks-overflow"
    assert ml101["shortDescription"]["text"] == all_rules()["ML101"].summary
    assert ml101["fullDescription"]["text"].startswith("Flags `torch.nan_to_num`")
    assert "## Why it matters" in ml101["help"]["markdown"]
    assert ml101["defaultConfiguration"]["level"] == "error"

    results = run["results"]
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results] == [
        ("ML101", 6), ("ML101", 7)]
    first = results[0]
    assert driver["rules"][first["ruleIndex"]]["id"] == "ML101"
    loc = first["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "train.py", "uriBaseId": "%SRCROOT%"}
    assert loc["region"]["startColumn"] == 18
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.as_uri() + "/"

    # the fix, applied as a SARIF consumer would, gives the fixed line
    [change] = first["fixes"][0]["artifactChanges"]
    [rep] = change["replacements"]
    line = BAD.splitlines()[5]
    region = rep["deletedRegion"]
    assert region["startLine"] == region["endLine"] == 6
    new = line[:region["startColumn"] - 1] + rep["insertedContent"]["text"] + line[region["endColumn"] - 1:]
    assert new == FIXED_LINE6


def test_sarif_for_a_clean_run_and_for_notebooks_and_syntax_errors(project):
    clean = json.loads(invoke("--format", "sarif", "clean.py").output)
    validate_sarif(clean)
    assert clean["runs"][0]["results"] == []

    (project / "train.ipynb").write_text(notebook_text(colab=False))
    (project / "broken.py").write_text("def f(:\n")
    (project / "broken.ipynb").write_text("{")
    log = json.loads(invoke("--format", "sarif", "train.ipynb", "broken.py", "broken.ipynb").output)
    validate_sarif(log)
    by_uri = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for r in log["runs"][0]["results"]}
    nb = by_uri["train.ipynb"]
    assert nb["properties"]["cell"] == 5 and nb["properties"]["cellLine"] == 10
    region = nb["locations"][0]["physicalLocation"]["region"]
    file_line = (project / "train.ipynb").read_text().splitlines()[region["startLine"] - 1]
    assert file_line[region["startColumn"] - 1:].startswith("torch.nan_to_num(p.grad")
    assert nb["fixes"][0]["artifactChanges"][0]["artifactLocation"]["uri"] == "train.ipynb"  # see below
    assert by_uri["broken.py"]["ruleId"] == by_uri["broken.ipynb"]["ruleId"] == "ML000"


def test_sarif_with_paths_that_need_escaping(project):
    (project / "my dir").mkdir()
    (project / "my dir" / "train #1.py").write_text(BAD)
    log = json.loads(invoke("--format", "sarif", "my dir").output)
    validate_sarif(log)
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "my%20dir/train%20%231.py"


# ---- JUnit ---------------------------------------------------------------------------------------

def test_junit(project):
    out = invoke("--format", "junit", "train.py", "clean.py")
    assert out.exit_code == 1
    root = ET.fromstring(out.output.encode())
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures")) == ("3", "2")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"train.py", "clean.py"}
    failures = suites["train.py"].findall("testcase/failure")
    assert [f.get("type") for f in failures] == ["ML101", "ML101"]
    assert failures[0].text.startswith("train.py:6:18: ML101 ")
    [passing] = suites["clean.py"].findall("testcase")
    assert passing.find("failure") is None


# ---- statistics and output files -----------------------------------------------------------------

def test_statistics_text_and_json(project):
    (project / "broken.py").write_text("def f(:\n")
    out = invoke("--statistics", "train.py", "broken.py")
    assert out.exit_code == 1
    assert out.output.splitlines() == ["2\tML101\t[*] nan-to-num-masks-overflow", "1\tML000\t    syntax-error"]
    stats = json.loads(invoke("--statistics", "--format", "json", "train.py", "broken.py").output)
    assert stats == [{"code": "ML101", "name": "nan-to-num-masks-overflow", "count": 2, "fixable": 2},
                     {"code": "ML000", "name": "syntax-error", "count": 1, "fixable": 0}]


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif", "junit"])
def test_output_file_for_every_format(project, fmt):
    out = invoke("--format", fmt, "--output-file", "report.out", "train.py")
    assert out.exit_code == 1
    assert out.output == ""
    report = (project / "report.out").read_text()
    assert "ML101" in report
    if fmt in ("json", "sarif"):
        json.loads(report)
    if fmt == "junit":
        ET.fromstring(report.encode())
    assert report.endswith("\n")


# ---- one severity model and the documentation links, in every format -----------------------------

def test_every_format_uses_the_same_severity_and_links(project):
    from mllint.frontends.docs import DOCS_URL

    (project / "train.py").write_text(BAD + "x = 1  # noqa: ML103\n")  # ML001: an unused suppression
    expected = {"ML101": "error", "ML001": "warning"}

    found = json.loads(invoke("--format", "json", "train.py").output)
    assert {d["code"]: d["severity"] for d in found} == expected
    assert {d["code"]: d["url"] for d in found}["ML101"] == DOCS_URL + "ML101-nan-to-num-masks-overflow.md"

    log = json.loads(invoke("--format", "sarif", "train.py").output)
    validate_sarif(log)
    run = log["runs"][0]
    assert {r["ruleId"]: r["level"] for r in run["results"]} == expected
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["ML001"]["defaultConfiguration"]["level"] == "warning"
    assert all(r["helpUri"].startswith(DOCS_URL) for r in rules.values())

    github = invoke("--format", "github", "train.py").output.splitlines()
    assert {line.split("title=")[1].split("::")[0]: line.split(" ", 1)[0][2:] for line in github} == expected

    junit = ET.fromstring(invoke("--format", "junit", "train.py").output.encode())
    assert {f.get("type"): f.get("message").split(":")[0] for f in junit.iter("failure")} == expected

    text = invoke("train.py").output.splitlines()
    assert "Found 2 errors and 1 warning." in text


def apply_sarif_replacements(text: str, replacements: list[dict]) -> str:
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def offset(line: int, column: int) -> int:
        return starts[line - 1] + column - 1

    for rep in sorted(replacements, key=lambda r: (r["deletedRegion"]["startLine"], r["deletedRegion"]["startColumn"]),
                      reverse=True):
        region = rep["deletedRegion"]
        start = offset(region["startLine"], region["startColumn"])
        end = offset(region.get("endLine", region["startLine"]), region.get("endColumn", region["startColumn"]))
        text = text[:start] + rep["insertedContent"]["text"] + text[end:]
    return text


@pytest.mark.parametrize("cells, code", [(None, "ML101"), ("MARL_CELLS", "ML201"), ("MARL_CELLS", "ML202")])
def test_sarif_fixes_for_notebooks_write_what_fix_writes(project, cells, code):
    """A notebook result's fix is one replacement in the .ipynb's JSON text; applied, it gives the
    file `mllint --fix` writes for that rule (ML201's edits span two cells)."""
    from . import notebooks

    text = notebook_text(colab=False, cells=getattr(notebooks, cells)) if cells else notebook_text(colab=False)
    (project / "nb.ipynb").write_text(text)
    log = json.loads(invoke("--format", "sarif", "--unsafe-fixes", "--select", code, "nb.ipynb").output)
    validate_sarif(log)
    [result] = log["runs"][0]["results"]
    [change] = result["fixes"][0]["artifactChanges"]
    fixed = apply_sarif_replacements(text, change["replacements"])
    json.loads(fixed)
    assert invoke("--fix", "--unsafe-fixes", "--select", code, "nb.ipynb").exit_code == 0
    assert fixed == (project / "nb.ipynb").read_text()


@pytest.mark.parametrize("code", sorted(all_rules()))
def test_severity_model(code):
    from mllint.frontends.output import severity

    preview_or_stale = all_rules()[code].stability == "preview" or code == "ML001"
    assert severity(code) == ("warning" if preview_or_stale else "error")
