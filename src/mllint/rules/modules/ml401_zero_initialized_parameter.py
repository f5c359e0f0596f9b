"""ML401 zero-initialized-parameter: docs in rules/ML401-zero-initialized-parameter.md."""

from __future__ import annotations

import libcst as cst

from mllint.analysis.classes import self_assignments
from mllint.analysis.initialisation import init_index
from mllint.analysis.parameters import (
    NON_FLOAT_DTYPE, OWN_WEIGHT_NAMES, PARAMETER, ZEROS, counts_row_set,
    excluded_matrix_name, looks_like_param_value, row_set_name, size_dims, sizes,
    stored_name, tokens, zero_start_name, zeroed_tensor, zeros_call)
from mllint.analysis.zeroing_helpers import zeroing_helpers
from mllint.analysis.astutil import find_arg
from mllint.engine.context import dotted_name
from mllint.engine.rule import Rule, register
from mllint.rules.modules._ml401_candidates import ZeroParameterCandidates
from mllint.rules.modules._ml401_zero_init_candidates import ZERO_INIT_CANDIDATES
from mllint.rules.modules._ml401_fix import EPS_STD, random_creation, random_init
from mllint.diagnostics import Applicability


@register
class ZeroInitializedParameter(Rule):
    code = "ML401"
    name = "zero-initialized-parameter"
    summary = "A learnable multi-row parameter starts as all zeros: its rows get identical gradients and never separate."
    fix_applicability = Applicability.UNSAFE
    # zeros created inside `nn.Parameter(...)`; a zero init of an attribute the name tests let
    # through, of a table sized by a number of codes, or of a layer given to a helper that is
    # applied to a model or given layers
    candidates = ZeroParameterCandidates() | ZERO_INIT_CANDIDATES

    def visit_Call(self, node: cst.Call) -> None:
        if self.ctx.call_name(node) in PARAMETER:
            self._check_parameter(node)
            return
        zeroed = zeroed_tensor(node, self.ctx)
        if zeroed is not None:
            self._check_zero_init(node, zeroed)

    # ---- nn.Parameter(torch.zeros(...)) ----------------------------------------------------------
    def _check_parameter(self, node: cst.Call) -> None:
        ctx = self.ctx
        data = find_arg(node, "data", 0)
        grad = find_arg(node, "requires_grad", 1)
        if data is None or (grad is not None and not (isinstance(grad.value, cst.Name) and grad.value.value == "True")):
            return  # requires_grad=False (or unknown): not learnable
        zeros = zeros_call(data.value, ctx)
        if zeros is None:
            return
        pname = stored_name(ctx)
        if pname is None or zero_start_name(pname):
            return
        rows = row_set_name(pname) or self._counted_rows(zeros)
        if excluded_matrix_name(pname) and not rows:
            return  # (a `torch.zeros` weight in a constructor is mostly a placeholder for loaded weights)
        dtype = find_arg(zeros, "dtype")
        if dtype is not None and NON_FLOAT_DTYPE.search(ctx.code(dtype.value)):
            return  # integer / float8 storage: loaded, not trained from this init
        dims = size_dims(zeros, ctx)
        if dims is None and not rows or dims is not None and dims < 2:
            return  # unknown shape: only named row sets are flagged
        flag = self._not_reinitialised(pname, pname)
        if flag is None:
            return
        what = f"{dims}-D parameter" if dims is not None else "parameter (a set of rows)"
        self.report(zeros, self._message(pname, what, flag), random_creation(ctx, zeros, zeros is not data.value))

    def _counted_rows(self, creation: cst.Call) -> bool:
        """`torch.zeros(num_codes, dim)`, `nn.Embedding(num_codes, dim)`: a table of codes."""
        found = sizes(creation, self.ctx) if self.ctx.call_name(creation) in ZEROS or isinstance(
            creation.func, cst.Attribute) and creation.func.attr.value == "new_zeros" else \
            [a.value for a in creation.args if a.keyword is None]
        return bool(found) and len(found) >= 2 and counts_row_set(found[0])

    # ---- nn.init.zeros_(self.mus), self.mus.data.zero_(), a helper's zeros_(layer.weight) -------
    def _check_zero_init(self, node: cst.Call, target: cst.BaseExpression) -> None:
        ctx = self.ctx
        inner = target
        while isinstance(inner, cst.Attribute) and inner.attr.value in ("data", "_data"):
            inner = inner.value
        if not isinstance(inner, cst.Attribute):
            return
        attr = inner.attr.value
        own = 0
        if attr == "weight" and isinstance(inner.value, cst.Name) and inner.value.value != "self":
            helper = zeroing_helpers(ctx).get(node)
            if helper is not None:
                self.report(node, f"`{helper.name}` zeroes the weight of the layer it is given, and it is given "
                                  f"hidden layers ({helper.hidden}): every unit of such a layer starts identical (after "
                                  f"a ReLU, dead), gets identical gradients and never separates; initialise the weight "
                                  f"randomly (e.g. `nn.init.normal_(..., std={EPS_STD})`) and zero only a last layer",
                            random_init(ctx, node))
            return
        if attr == "weight" and dotted_name(inner.value) != "self":
            # a submodule's weight: flagged only for row sets (`self.codebook = nn.Embedding(...)`)
            owner = inner.value.attr.value if isinstance(inner.value, cst.Attribute) else None
            if owner is None or zero_start_name(owner) or not (row_set_name(owner) or self._counted_module(owner)):
                return
            pname, key = owner, f"{owner}.weight"
        else:
            # the name tests first: they decide alone, and cost nothing next to finding the creation
            if zero_start_name(attr) or (excluded_matrix_name(attr) and not self._own_weight(attr)):
                return
            creation = self._class_parameter(attr)
            if creation is None:
                return
            dims = size_dims(creation, ctx) if isinstance(creation, cst.Call) else None
            if dims is None and not row_set_name(attr) or dims is not None and dims < 2:
                return
            pname, key = attr, attr
            own = 1 if looks_like_param_value(creation, ctx) else 0  # randn(...) then zeros_: zero
        flag = self._not_reinitialised(key, pname, own)
        if flag is not None:
            self.report(node, self._message(pname, "parameter", flag), random_init(ctx, node))

    def _own_weight(self, name: str) -> bool:
        """`self.weight` of a layer class (not one named as zero-initialised: `ZeroLinear`)."""
        cls = self.ctx.enclosing_class()
        return name in OWN_WEIGHT_NAMES and cls is not None and "zero" not in tokens(cls.name.value)

    def _class_creations(self, attr: str) -> list[cst.Call]:
        cls = self.ctx.enclosing_class()
        if cls is None:
            return []
        return [a.value for a in self_assignments(self.ctx, cls).get(attr, ()) if isinstance(a.value, cst.Call)]

    def _counted_module(self, owner: str) -> bool:
        """`self.<owner> = nn.Embedding(num_codes, dim)` in the class."""
        return any(self._counted_rows(call) for call in self._class_creations(owner))

    def _class_parameter(self, attr: str) -> cst.BaseExpression | None:
        """The tensor passed to `self.<attr> = nn.Parameter(<tensor>)` in the enclosing class."""
        tensor = None
        for call in self._class_creations(attr):
            if call.args and self.ctx.call_name(call) in PARAMETER:
                tensor = call.args[0].value
        return tensor

    # ---- shared -------------------------------------------------------------------------------
    def _not_reinitialised(self, key: str, pname: str, own_assignments: int = 0) -> str | None:
        """None when `key` is given real values elsewhere in the file, else "" or the name of the
        flag, off by default, that its only re-initialisation needs. `own_assignments`: how many of
        its real-value assignments are the creation being zeroed (they do not count)."""
        index = init_index(self.ctx)
        if key in index.names or index.assigned.get(key, 0) > own_assignments:
            return None
        classes = [anc for anc in self.ctx.ancestors() if isinstance(anc, cst.ClassDef)]
        if index.covers(classes, pname if key == pname else key):
            return None
        return index.flagged.get(key, "")

    def _message(self, pname: str, what: str, flag: str) -> str:
        never = f"only re-initialised when `{flag}` is set (off by default)" if flag else "never re-initialised"
        return (f"`{pname}` is a learnable {what} initialised to zeros and {never}: every row starts "
                f"identical, gets identical gradients and never separates; initialise it randomly "
                f"(e.g. `torch.randn(...) * {EPS_STD}`)")
