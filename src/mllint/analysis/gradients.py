"""Does an expression hold a gradient? Shared by the rules about gradients (ML101, ML102).

Follows the bindings of the enclosing function: `p.grad`, `p.grad.data`, a name bound to one,
the result of `torch.autograd.grad(...)` (or an element of it), loop and comprehension variables
over such collections (`for g in grads`, `zip(params, grads)`, `enumerate(grads)`), and
parameters named like gradients (`grad`, `grads`, `*_grad`), e.g. the argument of a hook.
"""

from __future__ import annotations

import libcst as cst

from mllint.engine.context import FileContext

AUTOGRAD_GRAD = {"torch.autograd.grad", "torch.autograd.grad.grad"}
_GRAD_PARAM_NAMES = {"grad", "grads", "gradient", "gradients", "g_list"}
_MAX_DEPTH = 6
_SAME_TENSOR_METHODS = {"detach", "float", "half", "clone", "contiguous", "to", "nan_to_num", "nan_to_num_",
                        "clamp", "clamp_", "clip", "clip_"}
_SAME_TENSOR_FUNCTIONS = {"torch.nan_to_num", "torch.nan_to_num_", "torch.clamp", "torch.clip"}


def _grad_param_name(name: str) -> bool:
    low = name.lower()
    return low in _GRAD_PARAM_NAMES or low.endswith(("_grad", "_grads"))


def is_gradient(expr: cst.BaseExpression, ctx: FileContext, depth: int = 0) -> bool:
    """True if `expr` evaluates to one gradient tensor."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(expr, cst.Attribute):
        if expr.attr.value == "grad":
            return True
        if expr.attr.value in ("data", "_data"):
            return is_gradient(expr.value, ctx, depth + 1)
        return False
    if isinstance(expr, cst.Subscript):
        return is_gradient_collection(expr.value, ctx, depth + 1)
    if isinstance(expr, cst.Call):
        # g.detach(), g.float(), torch.nan_to_num(g), g.clamp(...) are still the gradient
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value in _SAME_TENSOR_METHODS:
            if ctx.qualified_name(func) in _SAME_TENSOR_FUNCTIONS and expr.args:
                return is_gradient(expr.args[0].value, ctx, depth + 1)
            return is_gradient(func.value, ctx, depth + 1)
        if ctx.qualified_name(func) in _SAME_TENSOR_FUNCTIONS and expr.args:
            return is_gradient(expr.args[0].value, ctx, depth + 1)
        return False
    if isinstance(expr, cst.Name):
        return _name_is(expr.value, ctx, depth, collection=False)
    return False


def is_gradient_collection(expr: cst.BaseExpression, ctx: FileContext, depth: int = 0) -> bool:
    """True if `expr` is a sequence of gradient tensors."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(expr, cst.Call):
        name = ctx.qualified_name(expr.func)
        if name in AUTOGRAD_GRAD:
            return True
        if name in ("list", "tuple") and expr.args:
            return is_gradient_collection(expr.args[0].value, ctx, depth + 1)
        return False
    if isinstance(expr, (cst.ListComp, cst.GeneratorExp, cst.SetComp)):
        return is_gradient(expr.elt, ctx, depth + 1) or _comp_elt_grad(expr, ctx, depth)
    if isinstance(expr, cst.DictComp):  # {n: p.grad for n, p in model.named_parameters()}: its values
        return is_gradient(expr.value, ctx, depth + 1)
    if isinstance(expr, (cst.List, cst.Tuple)):
        return bool(expr.elements) and all(
            is_gradient(el.value, ctx, depth + 1) for el in expr.elements if isinstance(el, cst.Element))
    if isinstance(expr, cst.Name):
        return _name_is(expr.value, ctx, depth, collection=True)
    if isinstance(expr, cst.Attribute) and expr.attr.value == "grad":
        return False
    return False


def _comp_elt_grad(comp, ctx: FileContext, depth: int) -> bool:
    elt = comp.elt
    if isinstance(elt, cst.Name):
        for_in = comp.for_in
        while for_in is not None:
            if isinstance(for_in.target, cst.Name) and for_in.target.value == elt.value:
                return is_gradient_collection(for_in.iter, ctx, depth + 1)
            for_in = for_in.inner_for_in
    return False


def _element_of(iterable: cst.BaseExpression, index: int | None, ctx: FileContext, depth: int) -> bool:
    """Is the loop variable (at tuple position `index`) over `iterable` a gradient?"""
    if isinstance(iterable, cst.Call):
        fname = ctx.qualified_name(iterable.func)
        if fname == "zip" and index is not None and index < len(iterable.args):
            return is_gradient_collection(iterable.args[index].value, ctx, depth + 1)
        if fname == "enumerate" and index == 1 and iterable.args:
            return is_gradient_collection(iterable.args[0].value, ctx, depth + 1)
        if isinstance(iterable.func, cst.Attribute) and iterable.func.attr.value in ("values", "items"):
            # a mapping of gradients: `for g in grads.values()`, `for n, g in grads.items()`
            wanted = None if iterable.func.attr.value == "values" else 1
            return index == wanted and is_gradient_collection(iterable.func.value, ctx, depth + 1)
    if index is None:
        return is_gradient_collection(iterable, ctx, depth + 1)
    return False


def _name_is(name: str, ctx: FileContext, depth: int, collection: bool) -> bool:
    # comprehension variables: the comprehension is an ancestor of the node being checked
    for node in ctx.ancestors():
        if isinstance(node, (cst.ListComp, cst.GeneratorExp, cst.SetComp, cst.DictComp)):
            for_in = node.for_in
            while for_in is not None:
                target = for_in.target
                if isinstance(target, cst.Name) and target.value == name:
                    return not collection and _element_of(for_in.iter, None, ctx, depth)
                if isinstance(target, cst.Tuple):
                    for i, el in enumerate(target.elements):
                        if isinstance(el.value, cst.Name) and el.value.value == name:
                            return not collection and _element_of(for_in.iter, i, ctx, depth)
                for_in = for_in.inner_for_in
    bindings = ctx.bindings().get(name, [])
    for b in bindings:
        if b.kind == "param":
            if _grad_param_name(name):
                return True
            continue
        if b.value is None:
            continue
        if b.kind in ("assign", "annassign", "walrus", "with"):
            if collection and is_gradient_collection(b.value, ctx, depth + 1):
                return True
            if not collection and is_gradient(b.value, ctx, depth + 1):
                return True
        elif b.kind == "unpack":
            if isinstance(b.value, cst.Call) and ctx.qualified_name(b.value.func) in AUTOGRAD_GRAD:
                return not collection  # gx, gy = torch.autograd.grad(...)
        elif b.kind in ("for", "comp") and not collection:
            if _element_of(b.value, b.index, ctx, depth):
                return True
    return False
