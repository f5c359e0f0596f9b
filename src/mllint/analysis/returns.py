"""Returns and value targets in RL code: the vocabulary of return, reward and advantage names,
whether a scope accumulates a discounted sum (`R = r + gamma * R`, the shape read by
`recursions.accumulates_itself`), and what a statement that uses a value is next to (a
log-probability: a policy-gradient weight; a value or critic loss). Shared by the rules about
returns (ML201); facts per statement and per function are cached in `ctx.memo`."""

from __future__ import annotations

import re

import libcst as cst

from mllint.analysis.flow import REGRESSION_LOSSES
from mllint.analysis.recursions import accumulates_itself
from mllint.analysis.scopes import KeyIndex, subtree_keys

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

LOG_PROB = re.compile(r"log_?probs?|logp\b|logps\b|log_pi", re.I)
# A value/critic loss around a generic `targets`: a regression loss alone (mse) is not one, since
# supervised regression normalises its targets too; RL's own words are.
VALUE_USE = re.compile(r"value|critic|\bvf|v_?pred|baseline|reward|advantage|\bgamma\b|discount", re.I)


def name_tokens(name: str) -> set[str]:
    """`_disc_returns` -> {"disc", "returns"} (lower case, split at underscores)."""
    return set(name.lower().strip("_").split("_"))


def _code_without_leading_lines(node: cst.CSTNode) -> str:
    """Code of a statement without its leading comment lines, whitespace kept (for comments)."""
    if hasattr(node, "leading_lines"):
        node = node.with_changes(leading_lines=[])
    return cst.Module([]).code_for_node(node)


_DISCOUNTING = KeyIndex(frozenset({cst.Assign}), lambda node, ctx: ("discounted",) if accumulates_itself(node) else ())


def _use_text(ctx, stmt: cst.CSTNode) -> str:
    return re.sub(r"#[^\n]*", "", _code_without_leading_lines(stmt))


def policy_use(ctx, stmt: cst.CSTNode) -> bool:
    """A statement that uses a name next to a log-probability (a policy-gradient weight)."""
    return bool(LOG_PROB.search(ctx.memo.get(_use_text, ctx, stmt)))


def value_use(ctx, stmt: cst.CSTNode) -> bool:
    """A statement that uses a name next to a value/critic loss (and no log-probability)."""
    text = ctx.memo.get(_use_text, ctx, stmt)
    return bool(VALUE_USE.search(text)) and not LOG_PROB.search(text)


def value_context(ctx, func: cst.FunctionDef) -> bool:
    """The function mentions a value/critic loss somewhere (what makes a generic `targets` count)."""
    return bool(VALUE_USE.search(ctx.code(func)))



def has_discounted_accumulation(ctx, scope: cst.CSTNode) -> bool:
    """Does the function (or module) accumulate a discounted sum (`R = r + gamma * R`) somewhere?"""
    return "discounted" in subtree_keys(ctx, _DISCOUNTING, scope)


# A value function trained in the file: a critic or value head by name, or a regression loss.
CRITIC = re.compile(r"critic|value_?(head|net|network|fn|func|function|loss|model|estimate|pred)|\bv_?preds?\b"
                    r"|\bvf(\b|_)|q_?net|\bqf\d?\b|baseline_?(net|model)", re.I)


def _policy_gradient_only(ctx, _key: None) -> bool:
    source = ctx.source
    if not LOG_PROB.search(source) or CRITIC.search(source):
        return False
    lowered = source.lower()
    return not any(loss in lowered for loss in REGRESSION_LOSSES)


def policy_gradient_only(ctx) -> bool:
    """The file weights log-probabilities and trains no value function (no critic or value head,
    no regression loss): REINFORCE, whose returns, however they travel (returned, yielded into a
    dataset), can only weight log-probabilities. Read from the text, comments included, so any
    mention of a critic keeps the question open."""
    return ctx.memo.get(_policy_gradient_only, ctx, None)
