"""ML104 private-gradscaler-state: docs in rules/ML104-private-gradscaler-state.md."""

from __future__ import annotations

import ast

import libcst as cst

from mllint.engine.candidates import Calls, Nodes, Words
from mllint.analysis.classes import self_assignments
from mllint.analysis.project import top_package
from mllint.engine.context import dotted_name
from mllint.analysis.gradscaler import derives_from_gradscaler, is_gradscaler, is_gradscaler_subclass, usage
from mllint.engine.rule import Rule, register

# Names that only GradScaler has: on an object *named* like a scaler they are enough evidence.
# Any other private name (`_scale`, `_enabled`, ...) is common in unrelated classes, so it needs an
# object known to be a GradScaler (bound to one, or used as one).
SCALER_ONLY = {
    "_per_optimizer_states", "_growth_tracker", "_found_inf_per_device", "_check_inf_per_device",
    "_unscale_grads_", "_get_scale_async", "_lazy_init_scale_growth_tracker", "_init_growth_tracker",
    "_growth_factor", "_backoff_factor", "_growth_interval", "_init_scale", "_found_inf",
    "_get_growth_tracker",
}
# `_scale` (the catalog's first example) is GradScaler's on an object named as an AMP scaler and
# not used as a preprocessing scaler (`image_scaler._scale`, `scaler.fit(x)` are something else).
AMP_SCALER_NAMES = {"scaler", "grad_scaler", "gradscaler", "amp_scaler", "loss_scaler", "gscaler"}
PREPROCESSING_METHODS = {"fit", "transform", "fit_transform", "partial_fit", "inverse_transform"}
# Keys of GradScaler's per-optimizer state dicts: no other code uses these strings.
STATE_KEYS = {"found_inf_per_device"}
# What a GradScaler subclass reads of its base class through `self`.
INHERITED = SCALER_ONLY | {"_scale"}
# Private attributes with a public getter: the message names it (a test reading `_growth_factor`
# to check a configuration has `get_growth_factor()`, not a skipped-step question).
PUBLIC_GETTERS = {"_growth_factor": "get_growth_factor()", "_backoff_factor": "get_backoff_factor()",
                  "_growth_interval": "get_growth_interval()", "_enabled": "is_enabled()"}
# The state a skipped (overflowed) step shows in: what code reading it wants to know is whether
# the step was skipped. Other private attributes (`_device`, `_init_scale`) get the general advice.
OVERFLOW_STATE = {"_scale", "_growth_tracker", "_per_optimizer_states", "_found_inf_per_device",
                  "_check_inf_per_device", "_found_inf", "_get_scale_async", "_get_growth_tracker"}
BROAD_HANDLERS = {"Exception", "BaseException", "AttributeError", "KeyError", "LookupError",
                  "builtins.Exception", "builtins.BaseException", "builtins.AttributeError", "builtins.KeyError"}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__")


def _string(expr: cst.BaseExpression) -> str | None:
    return expr.evaluated_value if isinstance(expr, cst.SimpleString) else None


@register
class PrivateGradScalerState(Rule):
    code = "ML104"
    name = "private-gradscaler-state"
    summary = "Reads GradScaler internals, which change between PyTorch releases."
    # a private attribute is read (or getattr'd) and something is a scaler, by name or by use
    # PyTorch's own modules (torch.distributed.fsdp's ShardedGradScaler, torch.cuda.amp) own this
    # state: they ship with it, so nothing there breaks on an upgrade. Which package a file is a
    # module of is read from the `__init__.py` files above it.
    cross_file = True
    candidates = (Nodes(ast.Attribute, where=lambda node: _private(node.attr)) | Calls("getattr")) & \
        (Words(lambda word: "scaler" in word.lower()) | Calls("scale", "get_scale", "unscale_")) | \
        Words(STATE_KEYS)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        attr = node.attr.value
        if not _private(attr) or self._is_write(node):
            return
        self._check(node, node.value, attr)

    def visit_Subscript(self, node: cst.Subscript) -> None:
        # state["found_inf_per_device"]: a per-optimizer state dict, wherever it came from
        if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index) and \
                _string(node.slice[0].slice.value) in STATE_KEYS and not self._is_write(node):
            self._report_state_key(node, _string(node.slice[0].slice.value))

    def _report_state_key(self, node: cst.CSTNode, key: str) -> None:
        if is_gradscaler_subclass(self.ctx.enclosing_class(), self.ctx) or \
                "_per_optimizer_states" in self.ctx.code(self.ctx.scope()):
            return  # GradScaler's own code, or the state dict's read is reported already (one problem)
        if self._in_torch():
            return
        self.report(node, f"`{self.ctx.code(node)}` reads the `{key}` entry of GradScaler's private per-optimizer "
                          "state, which changes between PyTorch releases; to detect a skipped step, compare "
                          "`scaler.get_scale()` before and after `scaler.update()` (a lower scale means the step "
                          "was skipped)" + self._fallback_note(False))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "get" and node.args and \
                _string(node.args[0].value) in STATE_KEYS:  # state.get("found_inf_per_device", {})
            self._report_state_key(node, _string(node.args[0].value))
            return
        # getattr(scaler, "_scale", None): a read with a fallback built in
        if self.ctx.call_name(node) not in ("getattr", "builtins.getattr") or len(node.args) < 2:
            return
        name = node.args[1].value
        if isinstance(name, cst.SimpleString) and _private(str(name.evaluated_value)):
            self._check(node, node.args[0].value, str(name.evaluated_value), fallback=len(node.args) > 2)

    def _is_write(self, node: cst.Attribute | cst.Subscript) -> bool:
        parent = self.ctx.parent
        if isinstance(parent, cst.AssignTarget) and parent.target is node:
            return True
        if isinstance(parent, cst.AnnAssign) and parent.target is node:
            return True
        return isinstance(parent, cst.Del)

    def _check(self, node: cst.CSTNode, receiver_expr: cst.BaseExpression, attr: str, fallback: bool = False) -> None:
        ctx = self.ctx
        receiver = dotted_name(receiver_expr)
        if receiver == "self" and attr in INHERITED and self._inherited(attr):
            self._report(node, receiver, attr, fallback)  # a subclass reading the base class's internals
            return
        if receiver is None or receiver.split(".")[0] in ("self", "cls") and "." not in receiver:
            return  # an object's own private state (GradScaler's code, or any other class)
        if is_gradscaler_subclass(ctx.enclosing_class(), ctx):
            return  # GradScaler's own code (and a subclass's other objects)
        last = receiver.split(".")[-1].lower().lstrip("_")  # `self._scaler` is named as a scaler too
        known = is_gradscaler(receiver, ctx)
        if not known and "scaler" in last:
            methods = usage(ctx.scope(), ctx).methods.get(receiver, set())
            known = attr in SCALER_ONLY or "scale" in methods or (
                attr == "_scale" and last in AMP_SCALER_NAMES and not methods & PREPROCESSING_METHODS
                and not self._bound_to_a_call(receiver))
        if not known:
            return
        self._report(node, receiver, attr, fallback)

    def _inherited(self, attr: str) -> bool:
        """In a class deriving from torch's GradScaler, `attr` is the base class's (not a method or
        attribute the subclass defines itself)."""
        cls = self.ctx.enclosing_class()
        if not derives_from_gradscaler(cls, self.ctx):
            return False
        if any(isinstance(stmt, cst.FunctionDef) and stmt.name.value == attr for stmt in cls.body.body):
            return False
        own = self_assignments(self.ctx, cls).get(attr, [])
        return not any(a.method is not None and a.method.name.value == "__init__" for a in own)

    def _in_torch(self) -> bool:
        """This file is a module of the `torch` package itself, which defines GradScaler."""
        return top_package(self.ctx) == "torch"

    def _report(self, node: cst.CSTNode, receiver: str, attr: str, fallback: bool) -> None:
        ctx = self.ctx
        if self._in_torch():
            return
        shown = ctx.module.code_for_node(node) if isinstance(node, cst.Attribute) else f"{receiver}.{attr}"
        parent = ctx.parent
        if isinstance(node, cst.Attribute) and isinstance(parent, cst.Call) and parent.func is node:
            # accelerate calls `scaler._lazy_init_scale_growth_tracker(device)` after loading a state
            self.report(node, f"`{shown}(...)` calls a private method of GradScaler, which can change or "
                              "disappear between PyTorch releases; use its public API (`scale`, `unscale_`, "
                              "`step`, `update`, `get_scale`, `load_state_dict`)" + self._fallback_note(fallback))
            return
        message = f"`{shown}` reads GradScaler's private state, which changes between PyTorch releases; "
        if receiver == "self":  # a subclass re-implementing GradScaler's own methods
            self.report(node, f"`{shown}` is GradScaler's private state, inherited by this subclass: it changes "
                              "between PyTorch releases, so the subclass works only with the release it was "
                              "copied from; build on the public methods (`unscale_`, `step`, `update`, "
                              "`get_scale`) or pin PyTorch and test the subclass on each upgrade"
                              + self._fallback_note(fallback))
            return
        if attr in PUBLIC_GETTERS:
            message += f"use the public `{receiver}.{PUBLIC_GETTERS[attr]}`"
        elif attr not in OVERFLOW_STATE:
            message += (f"use its public API (`{receiver}.get_scale()`, `{receiver}.state_dict()`, the "
                        "constructor's arguments)")
        else:
            message += (f"to detect a skipped step, compare `{receiver}.get_scale()` before and after "
                        f"`{receiver}.update()` (a lower scale means the step was skipped)")
        self.report(node, message + self._fallback_note(fallback))

    def _bound_to_a_call(self, receiver: str) -> bool:
        """`scaler = StandardScaler()`: bound here to something built by another call."""
        if "." in receiver:
            return False
        return any(b.kind in ("assign", "annassign", "walrus") and isinstance(b.value, cst.Call)
                   for b in self.ctx.bindings(self.ctx.scope()).get(receiver, []))

    def _fallback_note(self, getattr_default: bool) -> str:
        handler = self._broad_handler()
        if handler is not None:
            return (f"; the surrounding `{handler}` would turn a rename into a silent fallback value "
                    "(\"no overflow\" forever)")
        if getattr_default:
            return "; the getattr default would turn a rename into a silent fallback value"
        return ""

    def _broad_handler(self) -> str | None:
        """`except Exception` (or bare/AttributeError/KeyError...) around the read, if any."""
        stack = self.ctx.stack
        for i in range(len(stack) - 1, 0, -1):
            node, child = stack[i - 1], stack[i]
            if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                return None
            if isinstance(node, cst.Try) and child is node.body:
                for h in node.handlers:
                    if h.type is None:
                        return "except:"
                    types = h.type.elements if isinstance(h.type, cst.Tuple) else [h.type]
                    for t in types:
                        expr = t.value if isinstance(t, cst.Element) else t
                        name = self.ctx.qualified_name(expr)
                        if name in BROAD_HANDLERS:
                            return f"except {name.split('.')[-1]}"
            if isinstance(node, cst.With):
                for item in node.items:
                    call = item.item
                    if isinstance(call, cst.Call) and self.ctx.call_name(call) == "contextlib.suppress":
                        return "contextlib.suppress(...)"
        return None
