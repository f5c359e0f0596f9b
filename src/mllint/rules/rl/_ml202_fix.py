"""ML202's message and fix: which mask to multiply the bootstrapped term by (kept out of the rule's
module). `site` is what the rule found: the loop, the recursion's statement and its term."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from mllint.analysis.backward_loops import iterated, while_counter
from mllint.analysis.episode_ends import next_done
from mllint.analysis.recursions import STARTS, kind, last, names_in, reward_index_in, reward_index_of_name, subscripts
from mllint.engine.context import dotted_name
from mllint.diagnostics import Applicability, Edit, Fix


@dataclass(frozen=True)
class Site:
    loop: cst.For | cst.While
    statement: cst.Assign | cst.AugAssign
    term: cst.BaseExpression
    sequences: list
    own_sequences: bool  # the class's own `self.dones`: their layout is not seen here
    scope: cst.CSTNode
    reversed_index: str | None  # `i` of `i = T - 1 - t` in a forward loop


def message_and_fix(ctx, site: Site) -> tuple[str, Fix | None]:
    mask = None if site.own_sequences else _mask_expression(ctx, site)
    shown = f"`{mask}`" if mask else "`(1 - done)` of that step"
    named = sorted(site.sequences, key=lambda s: kind(last(s)) not in ("done", "mask"))[0]
    index = _reward_index(ctx, site)
    if mask is not None and index is not None and next_done(ctx, site.scope):
        # cleanrl's layout: dones[t] says that obs t *starts* an episode and `next_done` is the
        # flag after the last step, so the mask of step t is 1 - dones[t + 1]: not guessed
        seq = mask[len("(1 - "):].split("[")[0] if mask.startswith("(1 - ") else None
        shown = (f"`(1 - {seq}[{index} + 1])` (and `1 - next_done` at the last step) if `{seq}[{index}]` "
                 f"marks the first step of an episode, as with a `next_done` flag; `{mask}` if it marks "
                 "the last") if seq else shown
        mask = None
    elif mask is None and index is not None and STARTS.search(last(named) or ""):
        # an episode-start flag marks the step *after* an end
        shown = f"`(1 - {ctx.code(named)}[{index} + 1])` (an episode start marks the step after an end)"
    elif site.own_sequences and index is not None:
        seq = ctx.code(named)
        value = seq if kind(last(named)) == "mask" else f"(1 - {seq}"
        close = "" if kind(last(named)) == "mask" else ")"
        shown = (f"`{value}[{index} + 1]{close}` if `{seq}` holds one more entry than the rewards (the "
                 f"flag before the first step at index 0, as rollout storages keep it), else "
                 f"`{value}[{index}]{close}`")
    message = (f"Discounted recursion ignores episode ends although `{ctx.code(named)}` is in scope: "
               "the return at an episode's last step leaks the next episode's rewards; multiply the "
               f"bootstrapped term by {shown}")
    if mask is None:
        return message, None
    _, end = ctx.start_end(site.term)
    return message, Fix(Applicability.UNSAFE, f"Multiply the bootstrapped term by `{mask}`",
                        (Edit(end, end, f" * {mask}"),))


def _mask_expression(ctx, site: Site) -> str | None:
    """`(1 - dones[t])` / `masks[t]` indexed like the rewards, or the zipped element `(1 - done)`."""
    loop = site.loop
    # for reward, done in zip(reversed(rewards), reversed(dones))
    target, it = (loop.target, loop.iter) if isinstance(loop, cst.For) else (None, None)
    if isinstance(it, cst.Call) and ctx.call_name(it) in ("enumerate", "builtins.enumerate") and it.args \
            and isinstance(target, cst.Tuple) and len(target.elements) == 2:
        target, it = target.elements[1].value, it.args[0].value
    if isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value == "reversed" and it.args:
        it = it.args[0].value
    if isinstance(it, cst.Call) and ctx.call_name(it) in ("zip", "builtins.zip") \
            and isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == len(it.args):
        for element, arg in zip(target.elements, it.args):
            found = kind(last(iterated(arg.value)))
            if found in ("done", "mask") and isinstance(element.value, cst.Name):
                return _wrap(element.value.value, found)
    index = _reward_index(ctx, site)
    if index is None:
        return None
    usable = [s for s in site.sequences if kind(last(s)) in ("done", "mask")]
    rewards = next((name for node in subscripts(site.statement.value)
                    if (name := dotted_name(node.value)) and "rew" in name.lower()), None)
    if rewards is not None and "." in rewards:
        prefix = rewards.rsplit(".", 1)[0]
        same = [s for s in usable if (dotted_name(s) or "").rsplit(".", 1)[0] == prefix]
        usable = same + [s for s in usable if s not in same]
    # prefer sequences (plural names) over per-step flags
    usable.sort(key=lambda s: not (last(s) or "").endswith("s"))
    if not usable:
        return None
    return _wrap(f"{ctx.code(usable[0])}[{index}]", kind(last(usable[0])))


def _wrap(expr: str, found: str) -> str:
    return expr if found == "mask" else f"(1 - {expr})"


def _reward_index(ctx, site: Site) -> str | None:
    """The index the rewards are read with here (or in the names this statement uses)."""
    index = reward_index_in(site.statement.value)
    for name in names_in(site.statement.value).names:
        if index is not None:
            return index
        index = reward_index_of_name(ctx, site.scope, name)
    if index is not None:
        return index
    loop = site.loop
    if isinstance(loop, cst.While):
        return while_counter(loop)
    if site.reversed_index is not None:
        return None  # read from the end in a forward loop: the rewards' own index was not found
    # for t in reversed(range(T)): the loop index
    it = loop.iter
    if isinstance(it, cst.Call) and ctx.call_name(it) in ("reversed", "builtins.reversed") and it.args:
        it = it.args[0].value
    if isinstance(loop.target, cst.Name) and isinstance(it, cst.Call) and ctx.call_name(it) in ("range", "builtins.range"):
        return loop.target.value
    return None
