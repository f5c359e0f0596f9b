"""ML201 per-batch-return-normalization: docs in rules/ML201-per-batch-return-normalization.md."""

from __future__ import annotations

import ast
import re

import libcst as cst

from mllint.analysis.classes import enclosing_method, first_param
from mllint.analysis.flow import reaches_regression_loss
from mllint.analysis.names import flat_code, last_name
from mllint.analysis.scopes import KeyIndex, name_uses, next_statement, subtree_keys
from mllint.astutil import find_arg, number
from mllint.candidates import Calls, Ops, leaves
from mllint.context import Visitor
from mllint.diagnostics import Applicability, Edit, Fix
from mllint.edits import add_instance_attribute, insert_after_header, insert_lines, module_top
from mllint.rule import Option, Rule, register
from mllint.traversal import walk

HELPER = "_MllintRunningNorm"
HELPER_SOURCE = '''class _MllintRunningNorm:
    """Normalises by the mean/std of every value seen so far, not of one batch (added by mllint ML201).

    Batch statistics are merged with the parallel-variance update (Chan et al.), so the result
    equals the mean/std over all data seen; works on torch tensors and numpy arrays.
    """

    def __init__(self, eps=1e-8):
        self.mean, self.var, self.count, self.eps = 0.0, 1.0, 0, eps

    def __call__(self, x):
        flat = (x.detach() if hasattr(x, "detach") else x).reshape(-1)
        n = flat.shape[0]
        if n:
            batch_mean = float(flat.mean())
            batch_var = float(((flat - batch_mean) ** 2).mean())
            total = self.count + n
            delta = batch_mean - self.mean
            self.var = (self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total
            self.mean += delta * n / total
            self.count = total
        return (x - self.mean) / (self.var**0.5 + self.eps)
'''

DEFAULT_NAMES = ["returns", "rets", "value_targets", "value_target", "td_target", "td_targets",
                 "discounted_rewards", "discounted_returns", "mc_returns", "lambda_returns", "target_values",
                 "v_targets", "v_target", "q_targets", "critic_targets"]
# Names that count only where the function also has a value/critic loss ("targets" is generic).
VALUE_CONTEXT_NAMES = {"targets", "target", "y_target", "y_targets"}
RETURN_TOKENS = {"returns", "return", "rets"}  # not "ret": a generic "return value" name
# Names that count only when the normalised value reaches a regression loss (a value head's target)
# in a function that accumulates a discounted sum (`R = r + gamma * R`): single-file actor-critics
# keep their Monte-Carlo returns in `rewards`, `discounted_r`, `G`.
REWARD_TOKENS = {"rewards", "reward", "rew", "rews", "r", "g", "gt", "disc", "discounted"}
# PPO & co. normalise advantages per minibatch on purpose: never flagged.
ADVANTAGE_TOKENS = {"adv", "advs", "advantage", "advantages", "gae", "gaes"}

MEAN_FUNCS = {"torch.mean", "numpy.mean", "numpy.nanmean", "torch.nanmean"}
STD_FUNCS = {"torch.std", "numpy.std", "numpy.nanstd"}
VAR_FUNCS = {"torch.var", "numpy.var", "numpy.nanvar"}
SQRT_FUNCS = {"torch.sqrt", "numpy.sqrt", "math.sqrt"}
FLOOR_FUNCS = {"max", "builtins.max", "torch.maximum", "torch.max", "torch.clamp", "torch.clip", "numpy.maximum",
               "numpy.clip", "numpy.fmax", "torch.clamp_min"}
PASS_THROUGH = ("item", "detach", "cpu", "float", "double", "squeeze")
LOG_PROB = re.compile(r"log_?probs?|logp\b|logps\b|log_pi", re.I)
# A value/critic loss around a generic `targets`: a regression loss alone (mse) is not one, since
# supervised regression normalises its targets too; RL's own words are.
VALUE_USE = re.compile(r"value|critic|\bvf|v_?pred|baseline|reward|advantage|\bgamma\b|discount", re.I)


def _flat(node: cst.CSTNode) -> str:
    return flat_code(node)


def _flat_lines(node: cst.CSTNode) -> str:
    """Code of a statement without its leading comment lines, whitespace kept (for comments)."""
    if hasattr(node, "leading_lines"):
        node = node.with_changes(leading_lines=[])
    return cst.Module([]).code_for_node(node)


def _strip(expr: cst.BaseExpression) -> cst.BaseExpression:
    """`x.detach()`, `x.item()`, `float(x)` -> x: they do not change which statistics are used."""
    while True:
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
                and expr.func.attr.value in PASS_THROUGH and not expr.args:
            expr = expr.func.value
        elif isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "float" \
                and len(expr.args) == 1:
            expr = expr.args[0].value
        else:
            return expr


def _last_name(expr: cst.BaseExpression) -> str | None:
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
        tokens = set(lowered.strip("_").split("_"))
        if tokens & ADVANTAGE_TOKENS:
            return False
        names = {n.lower() for n in [*self.opts.get("names", DEFAULT_NAMES), *self.opts.get("extra-names", [])]}
        if lowered in names or lowered.strip("_") in names or tokens & RETURN_TOKENS:
            return True
        if lowered in VALUE_CONTEXT_NAMES:
            scope = self.ctx.enclosing_function()
            return scope is not None and self.ctx.memo.get(_value_context, self.ctx, scope)
        return False

    # ---- batch statistics of `subject` ---------------------------------------------------------
    def _resolve(self, name: cst.Name) -> cst.BaseExpression | None:
        """The value of a local name assigned once in this scope (`ret_std = returns.std()`)."""
        found = self.ctx.bindings().get(name.value, [])
        if len(found) != 1:
            return None
        b = found[0]
        if b.kind in ("assign", "annassign"):
            return b.value
        if b.kind == "unpack" and isinstance(b.value, cst.Tuple) and b.index is not None \
                and b.index < len(b.value.elements):
            return b.value.elements[b.index].value
        if b.kind == "unpack" and isinstance(b.value, cst.Call) and b.index in (0, 1) \
                and self.ctx.call_name(b.value) == "torch.std_mean":
            return cst.Call(cst.Attribute(cst.Name("torch"), cst.Name("std" if b.index == 0 else "mean")),
                            b.value.args)
        return None

    def _same(self, a: cst.BaseExpression, subject: cst.BaseExpression) -> bool:
        return _flat(_strip(a)) == _flat(_strip(subject))

    def _stat(self, expr: cst.BaseExpression, subject: cst.BaseExpression, kind: str, depth: int = 0) -> bool:
        """True if `expr` is `subject`'s own batch mean (kind="mean") or std (kind="std")."""
        expr = _strip(expr)
        if isinstance(expr, cst.Name) and depth < 3 and not self._same(expr, subject):
            value = self._resolve(expr)
            return value is not None and self._stat(value, subject, kind, depth + 1)
        if kind == "std":
            if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Power) \
                    and number(expr.right) == 0.5:
                return self._stat(expr.left, subject, "var", depth)
            if isinstance(expr, cst.Call) and self.ctx.call_name(expr) in SQRT_FUNCS and expr.args:
                inner = _strip(expr.args[0].value)
                if isinstance(inner, cst.BinaryOperation) and isinstance(inner.operator, cst.Add):
                    return self._stat(inner.left, subject, "var", depth) or self._stat(inner.right, subject, "var",
                                                                                      depth)
                return self._stat(inner, subject, "var", depth)
            if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
                    and expr.func.attr.value in ("sqrt", "sqrt_") and not expr.args:
                return self._stat(expr.func.value, subject, "var", depth)
        if not isinstance(expr, cst.Call):
            return False
        funcs = {"mean": MEAN_FUNCS, "std": STD_FUNCS, "var": VAR_FUNCS}[kind]
        if self.ctx.call_name(expr) in funcs:
            first = find_arg(expr, "input", 0) or find_arg(expr, "a", 0)
            return first is not None and self._same(first.value, subject)
        func = expr.func
        return isinstance(func, cst.Attribute) and func.attr.value == kind and self._same(func.value, subject)

    def _scale(self, expr: cst.BaseExpression, subject: cst.BaseExpression, depth: int = 0) -> bool:
        """True if `expr` is `subject`'s batch std, possibly with an epsilon, clamp or floor."""
        expr = _strip(expr)
        if self._stat(expr, subject, "std", depth):
            return True
        if isinstance(expr, cst.Name) and depth < 3:
            value = self._resolve(expr)
            return value is not None and self._scale(value, subject, depth + 1)
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
            return self._scale(expr.left, subject, depth) or self._scale(expr.right, subject, depth)
        if isinstance(expr, cst.Call):
            if isinstance(expr.func, cst.Attribute) and expr.func.attr.value in ("clamp", "clamp_min", "clip",
                                                                                 "clamp_", "clamp_min_"):
                return self._scale(expr.func.value, subject, depth)
            if self.ctx.call_name(expr) in FLOOR_FUNCS:
                return any(self._scale(arg.value, subject, depth) for arg in expr.args if not arg.star)
        return False

    def _centered(self, expr: cst.BaseExpression) -> cst.BaseExpression | None:
        """For `X - mean(X)` with X a return name, X; else None."""
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Subtract):
            subject = expr.left
            if self._is_subject(subject) and self._stat(expr.right, subject, "mean"):
                return subject
        return None

    def _is_subject(self, expr: cst.BaseExpression) -> bool:
        if not isinstance(expr, (cst.Name, cst.Attribute, cst.Subscript)):
            return False
        name = _last_name(expr)
        return self._return_name(name) or self._discounted_reward_name(name)

    def _discounted_reward_name(self, name: str | None) -> bool:
        """A reward-named value in a function with a discounted accumulation: a return only if it
        reaches a value loss (checked at the report, `_only_policy_weights`)."""
        if not name:
            return False
        tokens = set(name.lower().strip("_").split("_"))
        if not tokens & REWARD_TOKENS or tokens & ADVANTAGE_TOKENS:
            return False
        scope = self.ctx.enclosing_function()
        return scope is not None and "discounted" in subtree_keys(self.ctx, _DISCOUNTING, scope)

    # ---- detection -----------------------------------------------------------------------------
    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        # (X - X.mean()) / X.std() and its spellings
        if not isinstance(node.operator, cst.Divide):
            return
        subject = self._centered(node.left)
        if subject is None or not self._scale(node.right, subject):
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
        if not (self._is_subject(subject) and self._stat(inner.args[0].value, subject, "mean")
                and self._scale(node.args[0].value, subject)):
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
            _, first_end = ctx.start_end(node)
            _, second_end = ctx.start_end(following)
            first_start, _ = ctx.start_end(node.body[0])
            target = ctx.code(subject)
            new = f"{target}[...] = {call}" if in_place else f"{target} = {call}"
            comment = node.trailing_whitespace.comment
            if comment is not None:  # the first line's comment would go with it: keep it, on its own line
                indent = ctx.line_text(first_start.row)[: first_start.column - 1]
                new = f"{comment.value}{ctx.newline}{indent}{new}"
            return [Edit(first_start, first_end, new), Edit(first_end, second_end, "")]

        has_comments = any(line.comment is not None for line in following.leading_lines)
        self._report(node.body[0], subject, edits, fixable=not has_comments)

    def _centering_statement(self, line: cst.SimpleStatementLine) -> cst.BaseExpression | None:
        if len(line.body) != 1:
            return None
        stmt = line.body[0]
        if isinstance(stmt, cst.AugAssign) and isinstance(stmt.operator, cst.SubtractAssign):
            if self._is_subject(stmt.target) and self._stat(stmt.value, stmt.target, "mean"):
                return stmt.target
        if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1:
            subject = self._centered(stmt.value)
            if subject is not None and _flat(subject) == _flat(stmt.targets[0].target):
                return subject
        return None

    def _scaling_statement(self, line: cst.SimpleStatementLine, subject: cst.BaseExpression) -> bool:
        if len(line.body) != 1:
            return False
        stmt = line.body[0]
        if isinstance(stmt, cst.AugAssign) and isinstance(stmt.operator, cst.DivideAssign):
            return self._same(stmt.target, subject) and self._scale(stmt.value, subject)
        if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1 and self._same(stmt.targets[0].target, subject):
            value = stmt.value
            return isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Divide) \
                and self._same(value.left, subject) and self._scale(value.right, subject)
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
        name = _last_name(target)
        scope = self.ctx.enclosing_function() or self.ctx.module
        if name is None or scope is None:
            return False
        here = self.ctx.start_end(self.ctx.node)[1].row
        if reaches_regression_loss(self.ctx, scope, name, here):
            return False  # a critic's target (also when it weights log-probs, as in actor-critic)
        if not (self._return_name(name) or self._return_name(_last_name(subject if subject is not None else target))):
            return True  # a reward-named value counts only as a value loss's target
        uses = name_uses(self.ctx, scope, name)
        return uses.any_after(self.ctx, here, _policy_use) and not uses.any_after(self.ctx, here, _value_use)

    # ---- the fix -------------------------------------------------------------------------------
    def _per_dimension(self, node: cst.CSTNode) -> bool:
        """Statistics over a dimension (`returns.mean(dim=0, keepdim=True)`): the helper keeps one
        scalar mean and std, so it would change what is normalised; no fix is offered there."""
        stats = _StatCalls(self.ctx)
        walk(node, stats)
        return stats.per_dimension

    def _report(self, node: cst.CSTNode, subject: cst.BaseExpression, site_edits, fixable: bool = True) -> None:
        ctx = self.ctx
        text = ctx.code(subject)
        message = (f"`{text}` is normalised by its own batch mean and std, so every batch becomes mean 0, std 1 "
                   "and the value head can only learn the mean (value loss stuck near 1.0); normalise with "
                   "running statistics kept across updates")
        fix = None
        if fixable and not self._per_dimension(node):
            plan = _FixPlan(self, subject)
            edits = [*plan.state_edits(), *site_edits(f"{plan.instance}({text})")]
            fix = Fix(Applicability.UNSAFE, f"Normalise `{text}` with a running mean/std ({HELPER})", tuple(edits))
        self.report(node, message, fix)


class _StatCalls(Visitor):
    def __init__(self, ctx):
        self.ctx = ctx
        self.per_dimension = False

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if self.ctx.call_name(node) in MEAN_FUNCS | STD_FUNCS | VAR_FUNCS:  # np.std(x, axis=0)
            self.per_dimension |= len(node.args) > 1
        elif isinstance(func, cst.Attribute) and func.attr.value in ("mean", "std", "var") and node.args:
            self.per_dimension = True  # x.std(0)


def _discounting(node: cst.CSTNode, ctx) -> tuple[str, ...]:
    """`R = r + gamma * R`: a name assigned from a product that involves the name itself."""
    if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
        return ()
    name = node.targets[0].target.value
    value = node.value
    if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, (cst.Add, cst.Subtract)):
        for side in (value.left, value.right):
            while isinstance(side, cst.BinaryOperation) and isinstance(side.operator, cst.Multiply):
                if any(isinstance(part, cst.Name) and part.value == name for part in (side.left, side.right)):
                    return ("discounted",)
                side = side.left if isinstance(side.left, cst.BinaryOperation) else side.right
    return ()


_DISCOUNTING = KeyIndex(frozenset({cst.Assign}), _discounting)


def _use_text(ctx, stmt: cst.CSTNode) -> str:
    return re.sub(r"#[^\n]*", "", _flat_lines(stmt))


def _policy_use(ctx, stmt: cst.CSTNode) -> bool:
    """A statement that uses a name next to a log-probability (a policy-gradient weight)."""
    return bool(LOG_PROB.search(ctx.memo.get(_use_text, ctx, stmt)))


def _value_use(ctx, stmt: cst.CSTNode) -> bool:
    """A statement that uses a name next to a value/critic loss (and no log-probability)."""
    text = ctx.memo.get(_use_text, ctx, stmt)
    return bool(VALUE_USE.search(text)) and not LOG_PROB.search(text)


def _value_context(ctx, func: cst.FunctionDef) -> bool:
    """The function mentions a value/critic loss somewhere (what makes a generic `targets` count)."""
    return bool(VALUE_USE.search(ctx.code(func)))


class _FixPlan:
    """Where the running normaliser lives: on `self` inside a method (initialised in `__init__`,
    or lazily when the class has none), else a module-level instance; the helper class itself is
    inserted after the imports once and reused when present."""

    def __init__(self, rule: PerBatchReturnNormalization, subject: cst.BaseExpression):
        self.ctx = ctx = rule.ctx
        base = re.sub(r"\W", "", _last_name(subject) or "returns").strip("_") or "returns"
        self.attr = f"{base}_norm"
        func = ctx.enclosing_function()
        method, cls = enclosing_method(ctx)
        self.method, self.cls = (func, cls) if func is not None and method is func and first_param(func) == "self" \
            else (None, None)
        self.instance = f"self.{self.attr}" if self.method is not None else f"_{self.attr}"

    def state_edits(self) -> list[Edit]:
        ctx = self.ctx
        top = module_top(ctx)
        helper = top.classes.get(HELPER)
        module_instance = "" if self.method is not None or self.instance in top.assigned else \
            f"\n\n{self.instance} = {HELPER}()\n"
        edits: list[Edit] = []
        if helper is None:
            edits.append(insert_after_header(ctx, f"{HELPER_SOURCE}{module_instance}"))
        elif module_instance:
            last = top.last_instance.get(HELPER)
            if last is not None:  # next to the other normalisers
                edits.append(insert_lines(ctx, ctx.start_end(last)[1].row, module_instance.lstrip("\n")))
            else:
                edits.append(insert_lines(ctx, ctx.start_end(helper)[1].row, module_instance))
        if self.method is not None:
            # the two-statement form reports from the statement itself
            site = ctx.node if isinstance(ctx.node, cst.SimpleStatementLine) else ctx.enclosing_statement()
            edits += add_instance_attribute(ctx, self.cls, self.attr, f"{HELPER}()", site, self.method)
        return edits
