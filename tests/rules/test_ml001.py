"""ML001 unused-suppression."""

import pytest

from mllint.testing import fix, lint

BAD_LINE = "p.grad = torch.nan_to_num(p.grad)"
GOOD_LINE = 'p.grad = torch.nan_to_num(p.grad, posinf=float("inf"), neginf=float("-inf"))'


def run(body: str, select="ALL"):
    return [(d.code, d.start.row, d.start.column) for d in lint("import torch\n" + body, select)]


@pytest.mark.parametrize("comment", ["# noqa: ML101", "#noqa:ML101", "# mllint: disable=ML101", "# noqa: ML1",
                                     "# noqa: ML10"])
def test_unused(comment):
    assert run(f"{GOOD_LINE}  {comment}\n") == [("ML001", 2, len(GOOD_LINE) + 3)]


@pytest.mark.parametrize("body", [
    f"{BAD_LINE}  # noqa: ML101\n",
    f"{BAD_LINE}  # noqa: ML1\n",
    f"{BAD_LINE}  # mllint: disable=ML101\n",
    f"{GOOD_LINE}  # noqa\n",  # bare: may be for another tool
    f"{GOOD_LINE}  # noqa: E501\n",  # another tool's code
    f"{GOOD_LINE}  # mllint: disable-file=ML101\n",
    "p.grad = torch.nan_to_num(  # noqa: ML101\n    p.grad\n)\n",
    "p.grad = torch.nan_to_num(\n    p.grad\n)  # noqa: ML101\n",
    "x = 1  # noqa: ML001, ML101\n",  # suppressing ML001 itself
])
def test_not_flagged(body):
    assert run(body) == []


def messages(body: str, select="ALL", **kwargs):
    return [d.message for d in lint("import torch\n" + body, select, **kwargs)]


def test_codes_of_rules_that_did_not_run_are_reported_as_non_enabled():
    # as Ruff's RUF100: a suppression for a rule that is not enabled suppresses nothing either
    for line in (GOOD_LINE, BAD_LINE):
        assert run(f"{line}  # noqa: ML101\n", select=["ML001", "ML2"]) == [("ML001", 2, len(line) + 3)]
        assert "(non-enabled: ML101)" in messages(f"{line}  # noqa: ML101\n", select=["ML001", "ML2"])[0]
    assert "(unused: ML101)" in messages(f"{GOOD_LINE}  # noqa: ML101\n", select=["ML001", "ML101"])[0]


def test_a_preview_rule_is_enabled_only_with_preview():
    body = "x = 1  # noqa: ML601\n"
    assert "(non-enabled: ML601)" in messages(body, preview=False)[0]
    assert "(unused: ML601)" in messages(body, preview=True)[0]


@pytest.mark.parametrize("body, reason", [
    ("x = 1  # noqa: ML999\n", "(unknown code: ML999)"),
    ("x = 1  # mllint: disable=ML9\n", "(unknown code: ML9)"),
    (f"{BAD_LINE}  # noqa: ML101, ML999, ML101\n", "(unknown code: ML999; duplicated: ML101)"),
    (f"{GOOD_LINE}  # noqa: ML101, ML999\n", "(unused: ML101; unknown code: ML999)"),
])
def test_unknown_and_duplicated_codes(body, reason):
    assert [reason in m for m in messages(body)] == [True]


@pytest.mark.parametrize("body", [
    "x = 1  # noqa: E501, MLX100, ABC123\n",  # other tools' codes, even starting with ML
    "x = 1  # noqa: ML0\n",  # only ML000 and ML001
])
def test_codes_that_are_not_ours_to_judge(body):
    assert run(body) == []


@pytest.mark.parametrize("before, after", [
    ("x = 1  # noqa: ML999\n", "x = 1\n"),
    ("x = 1  # noqa: E501, ML999, MLX1\n", "x = 1  # noqa: E501, MLX1\n"),
    (f"{BAD_LINE}  # noqa: ML101, ML101, ML201\n", f"{BAD_LINE}  # noqa: ML101\n"),
    (f"{BAD_LINE}  # noqa: E501, E501, ML101, ML101\n", f"{BAD_LINE}  # noqa: E501, E501, ML101\n"),
])
def test_fix_removes_unknown_non_enabled_and_duplicated_codes(before, after):
    assert fix("import torch\n" + before, ["ML001", "ML101"]) == "import torch\n" + after


def test_per_file_ignores_make_a_code_non_enabled_for_that_file(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from mllint.frontends.cli import main

    (tmp_path / "pyproject.toml").write_text('[tool.mllint]\nper-file-ignores = { "legacy.py" = ["ML101"] }\n')
    for name in ("legacy.py", "train.py"):
        (tmp_path / name).write_text(f"import torch\n{BAD_LINE}  # noqa: ML101\n")
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(main, ["--no-cache", "--jobs", "1", "."])
    assert out.exit_code == 1, out.output
    assert [line.split(" ")[:2] for line in out.output.splitlines() if "ML001" in line] == [[f"legacy.py:2:{len(BAD_LINE) + 3}:", "ML001"]]
    assert "(non-enabled: ML101)" in out.output


def test_not_selected_means_not_checked():
    assert run(f"{GOOD_LINE}  # noqa: ML101\n", select="ML1") == []


@pytest.mark.parametrize("before, after", [
    (f"{GOOD_LINE}  # noqa: ML101\n", f"{GOOD_LINE}\n"),
    (f"{GOOD_LINE}  # noqa: E501, ML101\n", f"{GOOD_LINE}  # noqa: E501\n"),
    (f"{GOOD_LINE}  # noqa: ML101, ML103\n", f"{GOOD_LINE}\n"),
    (f"{BAD_LINE}  # noqa: ML101, ML103\n", f"{BAD_LINE}  # noqa: ML101\n"),
    (f"{BAD_LINE}  # mllint: disable=ML401,ML101 because\n", f"{BAD_LINE}  # mllint: disable=ML101 because\n"),
    (f"{GOOD_LINE}  # mllint: disable=ML101 because of #12\n", f"{GOOD_LINE}  # because of #12\n"),
])
def test_fix_removes_only_the_unused_codes(before, after):
    assert fix("import torch\n" + before, "ALL") == "import torch\n" + after


def test_yaml_and_shell_suppressions():
    yaml = "total_steps: 1000\nsave_steps: 100  # mllint: disable=ML302\n"
    assert [(d.code, d.start.row) for d in lint(yaml, "ALL", path="c.yaml")] == [("ML001", 2)]


def test_rows_count_a_lone_carriage_return_as_python_does():
    # found by hypothesmith: `\` + CR continues a line for tokenize's "\n"-only reader but ends it
    # for Python and LibCST, so the comment's row was one short and the fix cut the wrong line
    src = f"class A:\\\r \n pass\n{GOOD_LINE}  # noqa: ML101\n"
    assert [(d.code, d.start.row) for d in lint("import torch\n" + src, "ALL")] == [("ML001", 5)]
    assert fix("import torch\n" + src, "ALL") == "import torch\n" + src.replace("  # noqa: ML101", "")
