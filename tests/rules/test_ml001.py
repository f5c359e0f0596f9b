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


def test_codes_of_rules_that_did_not_run_are_left_alone():
    assert run(f"{GOOD_LINE}  # noqa: ML101\n", select=["ML001", "ML2"]) == []
    assert run(f"{GOOD_LINE}  # noqa: ML101\n", select=["ML001", "ML101"]) == [("ML001", 2, len(GOOD_LINE) + 3)]


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
