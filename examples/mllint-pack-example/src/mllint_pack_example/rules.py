"""ACME's training conventions, docs in rule_docs/:
ACME001 optimizer-without-param-groups (an unsafe fix, an option), ACME002 cuda-amp-gradscaler (a safe fix).

mllint imports this module for the rules' metadata on every run it does not replay, also when the
cache answers for every file: LibCST is imported where the rule runs, not here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mllint.api import Applicability, Calls, Fix, Option, Rule

if TYPE_CHECKING:
    import libcst as cst


class OptimizerWithoutParamGroups(Rule):
    code = "ACME001"
    name = "optimizer-without-param-groups"
    summary = "A torch.optim optimizer built from `model.parameters()` instead of the team's param_groups() helper."
    fix_applicability = Applicability.UNSAFE  # which parameters get weight decay changes
    candidates = Calls("parameters")  # the rule only reports on a `.parameters()` call
    options = {
        "helper": Option(str, "acme.optim.param_groups", "The qualified name of the helper that builds the groups."),
    }

    def visit_Call(self, node: cst.Call) -> None:
        import libcst as cst

        name = self.ctx.call_name(node)
        parts = (name or "").split(".")
        if len(parts) != 3 or parts[:2] != ["torch", "optim"] or not parts[2][:1].isupper():
            return  # not an optimizer class (torch.optim.lr_scheduler.* has four parts)
        params = next((arg for arg in node.args if arg.keyword is not None and arg.keyword.value == "params"), None)
        if params is None and node.args and node.args[0].keyword is None and not node.args[0].star:
            params = node.args[0]
        call = params.value if params is not None else None
        if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                and call.func.attr.value == "parameters" and not call.args):
            return
        helper = self.opts["helper"]
        model = self.ctx.code(call.func.value)
        message = (f"`{parts[2]}` is built from `{model}.parameters()`: build its parameter groups with "
                   f"`{helper}({model})`, which keeps biases and norm weights out of weight decay")
        local = next((local for local, full in self.ctx.imports.items() if full == helper), None)
        fix = None
        if local is not None:  # only where the file imports the helper: the fix adds no import
            fix = Fix(Applicability.UNSAFE, f"Use `{local}({model})`", (self.ctx.replace(call, f"{local}({model})"),))
        self.report(call, message, fix)


class CudaAmpGradScaler(Rule):
    code = "ACME002"
    name = "cuda-amp-gradscaler"
    summary = "`torch.cuda.amp.GradScaler(...)`: the team writes the device-generic `torch.amp.GradScaler(\"cuda\", ...)`."
    fix_applicability = Applicability.SAFE  # the old class is exactly the new one with "cuda" first
    candidates = Calls("GradScaler")

    def visit_Call(self, node: cst.Call) -> None:
        import libcst as cst

        if self.ctx.call_name(node) != "torch.cuda.amp.GradScaler":
            return
        message = "`torch.cuda.amp.GradScaler` is deprecated: write `torch.amp.GradScaler(\"cuda\", ...)`"
        fix = None
        func = node.func  # `<torch>.cuda.amp.GradScaler` as written: the fix keeps the module's name
        if (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Attribute)
                and isinstance(func.value.value, cst.Attribute) and func.value.value.attr.value == "cuda"):
            device = cst.Arg(cst.SimpleString('"cuda"'),
                             comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")) if node.args else
                             cst.MaybeSentinel.DEFAULT)
            new = node.with_changes(func=func.with_changes(value=func.value.with_changes(value=func.value.value.value)),
                                    args=[device, *node.args])
            fix = Fix(Applicability.SAFE, "Use `torch.amp.GradScaler(\"cuda\", ...)`", (self.ctx.replace(node, new),))
        self.report(node, message, fix)
