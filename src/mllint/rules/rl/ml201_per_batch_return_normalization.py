"""ML201 per-batch-return-normalization: docs in rules/ML201-per-batch-return-normalization.md."""

from __future__ import annotations

import ast

import libcst as cst

from mllint.analysis.flow import reaches_regression_loss
from mllint.analysis.names import flat_code, last_name
from mllint.analysis.returns import (ADVANTAGE_TOKENS, DEFAULT_NAMES, RETURN_TOKENS, REWARD_TOKENS,
                                     VALUE_CONTEXT_NAMES, has_discounted_accumulation, name_tokens,
                                     policy_gradient_only, policy_use, value_context, value_use)
from mllint.analysis.scopes import name_uses, next_statement
from mllint.analysis.statistics import (MEAN_FUNCS, STD_FUNCS, VAR_FUNCS, is_batch_scale, is_batch_stat,
                                        per_dimension, same_value)

from mllint.analysis.edits import replace_lines
from mllint.diagnostics import Applicability, Edit, Fix
from mllint.engine.candidates import Calls, Ops, leaves
from mllint.engine.rule import Option, Rule, register
from mllint.rules.rl._ml201_fix import HELPER, RunningNormPlan

def last_name_or_key(expr: cst.BaseExpression) -> str | None:
    """`returns`, `self.returns` and `batch["returns"]` -> "returns"."""
    return last_name(expr, string_keys=True)


@register
class PerBatchReturnNormalization(Rule):
    code = "ML201"
    name = "per-batch-return-normalization"
    summary = "Returns / value targets normalised by their own batch mean and std: the value head can only learn the mean."
    fix_applicability = Applicability.UNSAFE
    # a batch mean and a batch std (or a variance, square-rooted; or `torch.std_mean`), and a
    # division (`/`, `/=`, `.div_`)
    candidates = (Calls("mean", *leaves(MEAN_FUNCS)) & Calls("std", "var", *leaves(STD_FUNCS | VAR_FUNCS))
                  | Calls("std_mean")) & (Ops(ast.Div) | Calls("div_"))
    options = {
        "names": Option(list, DEFAULT_NAMES, "Names of returns / value targets (besides any name with a "
                                             "`returns`/`rets` word) whose per-batch normalisation is flagged.", items=str),
        "extra-names": Option(list, [], "More names to treat as returns / value targets, added to `names`.", items=str),
    }

    # ---- which names are returns ---------------------------------------------------------------
    def _return_name(self, name: str | None) -> bool:
        if not name:
            return False
        lowered = name.lower()
        tokens = name_tokens(lowered)
        if tokens & ADVANTAGE_TOKENS:
            return False
        names = {n.lower() for n in [*self.opts.get("names", DEFAULT_NAMES), *self.opts.get("extra-names", [])]}
        if lowered in names or lowered.strip("_") in names or tokens & RETURN_TOKENS:
            return True
        if lowered in VALUE_CONTEXT_NAMES:
            scope = self.ctx.enclosing_function()
            return scope is not None and self.ctx.memo.get(value_context, self.ctx, scope)
        return False

    def _centered(self, expr: cst.BaseExpression) -> cst.BaseExpression | None:
        """For `X - mean(X)` with X a return name, X; else None."""
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Subtract):
            subject = expr.left
            if self._is_subject(subject) and is_batch_stat(self.ctx, expr.right, subject, "mean"):
                return subject
        return None

    def _is_subject(self, expr: cst.BaseExpression) -> bool:
        if not isinstance(expr, (cst.Name, cst.Attribute, cst.Subscript)):
            return False
        name = last_name_or_key(expr)
        return self._return_name(name) or self._discounted_reward_name(name)

    def _discounted_reward_name(self, name: str | None) -> bool:
        """A reward-named value in a function with a discounted accumulation: a return only if it
        reaches a value loss (checked at the report, `_only_policy_weights`)."""
        if not name:
            return False
        tokens = name_tokens(name)
        if not tokens & REWARD_TOKENS or tokens & ADVANTAGE_TOKENS:
            return False
        scope = self.ctx.enclosing_function()
        return scope is not None and has_discounted_accumulation(self.ctx, scope)

    # ---- detection -----------------------------------------------------------------------------
    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        # (X - X.mean()) / X.std() and its spellings
        if not isinstance(node.operator, cst.Divide):
            return
        subject = self._centered(node.left)
        if subject is None or not is_batch_scale(self.ctx, node.right, subject):
            return
        target = self._assigned_name() or subject
        if self._only_policy_weights(target, subject):
            return
        self._report(node, subject, lambda call: [self.ctx.replace(node, call)])

    def visit_Call(self, node: cst.Call) -> None:
        # X.sub_(X.mean()).div_(X.std() + eps)
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "div_" and node.args):
            return
        inner = func.value
        if not (isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute)
                and inner.func.attr.value == "sub_" and inner.args):
            return
        subject = inner.func.value
        if not (self._is_subject(subject) and is_batch_stat(self.ctx, inner.args[0].value, subject, "mean")
                and is_batch_scale(self.ctx, node.args[0].value, subject)):
            return
        if self._only_policy_weights(subject):
            return
        self._report(node, subject, lambda call: [
            self.ctx.replace(node, f"{self.ctx.code(subject)}.copy_({call})")])

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        # Two statements: `X -= X.mean()` / `X = X - X.mean()`, then `X /= X.std()` / `X = X / ...`
        subject = self._centering_statement(node)
        if subject is None:
            return
        following = self._next_statement(node)
        if following is None or not self._scaling_statement(following, subject):
            return
        if self._only_policy_weights(subject):
            return
        ctx = self.ctx
        in_place = isinstance(node.body[0], cst.AugAssign)

        def edits(call: str) -> list[Edit]:
            target = ctx.code(subject)
            return replace_lines(ctx, node, following, f"{target}[...] = {call}" if in_place else f"{target} = {call}")

        has_comments = any(line.comment is not None for line in following.leading_lines)
        self._report(node.body[0], subject, edits, fixable=not has_comments)

    def _centering_statement(self, line: cst.SimpleStatementLine) -> cst.BaseExpression | None:
        if len(line.body) != 1:
            return None
        stmt = line.body[0]
        if isinstance(stmt, cst.AugAssign) and isinstance(stmt.operator, cst.SubtractAssign):
            if self._is_subject(stmt.target) and is_batch_stat(self.ctx, stmt.value, stmt.target, "mean"):
                return stmt.target
        if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1:
            subject = self._centered(stmt.value)
            if subject is not None and flat_code(subject) == flat_code(stmt.targets[0].target):
                return subject
        return None

    def _scaling_statement(self, line: cst.SimpleStatementLine, subject: cst.BaseExpression) -> bool:
        if len(line.body) != 1:
            return False
        stmt = line.body[0]
        if isinstance(stmt, cst.AugAssign) and isinstance(stmt.operator, cst.DivideAssign):
            return same_value(stmt.target, subject) and is_batch_scale(self.ctx, stmt.value, subject)
        if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1 and same_value(stmt.targets[0].target, subject):
            value = stmt.value
            return isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Divide) \
                and same_value(value.left, subject) and is_batch_scale(self.ctx, value.right, subject)
        return False

    def _next_statement(self, line: cst.SimpleStatementLine) -> cst.SimpleStatementLine | None:
        parent = self.ctx.parent
        nxt = next_statement(self.ctx, parent, line) if parent is not None else None
        return nxt if isinstance(nxt, cst.SimpleStatementLine) else None

    def _assigned_name(self) -> cst.BaseExpression | None:
        stmt = self.ctx.enclosing(cst.Assign, cst.AnnAssign)
        if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1:
            return stmt.targets[0].target
        if isinstance(stmt, cst.AnnAssign):
            return stmt.target
        return None

    def _only_policy_weights(self, target: cst.BaseExpression, subject: cst.BaseExpression | None = None) -> bool:
        """REINFORCE normalises returns that only weight log-probabilities (a baseline, on purpose).

        True when every later use of `target` in the function sits next to a log-prob and none
        next to a value/critic loss. Returns that go elsewhere (stored, returned) count as value
        targets.
        """
        name = last_name_or_key(target)
        scope = self.ctx.enclosing_function() or self.ctx.module
        if name is None or scope is None:
            return False
        here = self.ctx.start_end(self.ctx.node)[1].row
        if reaches_regression_loss(self.ctx, scope, name, here):
            return False  # a critic's target (also when it weights log-probs, as in actor-critic)
        if not (self._return_name(name) or self._return_name(last_name_or_key(subject if subject is not None else target))):
            return True  # a reward-named value counts only as a value loss's target
        if policy_gradient_only(self.ctx):
            return True  # no value function in the file: the returns only weight log-probabilities
        uses = name_uses(self.ctx, scope, name)
        return uses.any_after(self.ctx, here, policy_use) and not uses.any_after(self.ctx, here, value_use)

    # ---- the fix -------------------------------------------------------------------------------
    def _report(self, node: cst.CSTNode, subject: cst.BaseExpression, site_edits, fixable: bool = True) -> None:
        ctx = self.ctx
        text = ctx.code(subject)
        message = (f"`{text}` is normalised by its own batch mean and std, so every batch becomes mean 0, std 1 "
                   "and the value head can only learn the mean (value loss stuck near 1.0); normalise with "
                   "running statistics kept across updates")
        fix = None
        if fixable and not per_dimension(ctx, node):
            plan = RunningNormPlan(ctx, last_name_or_key(subject))
            edits = [*plan.state_edits(), *site_edits(f"{plan.instance}({text})")]
            fix = Fix(Applicability.UNSAFE, f"Normalise `{text}` with a running mean/std ({HELPER})", tuple(edits))
        self.report(node, message, fix)
