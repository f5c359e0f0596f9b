"""Random generators of one file: which calls build a generator object, and where generators kept
in attributes are re-seeded or replaced (one walk of the module, once per file)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from mllint.analysis.names import imported_name
from mllint.engine.context import Visitor, dotted_name
from mllint.engine.traversal import walk

if TYPE_CHECKING:
    from mllint.engine.context import FileContext

# Constructors of generator objects (state owned by the object, copied as is into each worker).
GENERATOR_CONSTRUCTORS = {
    "numpy.random.default_rng", "numpy.random.RandomState", "numpy.random.Generator",
    "random.Random", "torch.Generator", "torch._C.Generator",
}
# Methods that give a generator a new state.
RESEEDING_METHODS = {"seed", "manual_seed", "set_state", "__setstate__", "bit_generator"}


def generator_constructor(imports: dict[str, str], call: cst.BaseExpression | None) -> str | None:
    """The qualified constructor if `call` builds a generator object (`np.random.default_rng(0)`,
    also seeded on the spot: `torch.Generator().manual_seed(0)`)."""
    if not isinstance(call, cst.Call):
        return None
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in RESEEDING_METHODS and isinstance(func.value, cst.Call):
        return generator_constructor(imports, func.value)  # `torch.Generator().manual_seed(0)`
    name = imported_name(imports, func)
    return name if name in GENERATOR_CONSTRUCTORS else None


class _Reseeds(Visitor):
    def __init__(self) -> None:
        self.functions: list[cst.FunctionDef | None] = [None]
        self.found: dict[str, list[cst.FunctionDef | None]] = {}

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.FunctionDef):
            self.functions.append(node)
        elif isinstance(node, cst.AssignTarget) and isinstance(node.target, cst.Attribute):
            self.found.setdefault(node.target.attr.value, []).append(self.functions[-1])
        elif isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value in RESEEDING_METHODS and \
                    isinstance(func.value, cst.Attribute):
                self.found.setdefault(func.value.attr.value, []).append(self.functions[-1])
            elif dotted_name(func) == "setattr" and len(node.args) >= 2 and \
                    isinstance(node.args[1].value, cst.SimpleString):
                attr = node.args[1].value.evaluated_value
                if isinstance(attr, str):
                    self.found.setdefault(attr, []).append(self.functions[-1])
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, cst.FunctionDef):
            self.functions.pop()


def _attribute_reseeds(ctx: FileContext, module: cst.Module) -> dict[str, list[cst.FunctionDef | None]]:
    collector = _Reseeds()
    walk(module, collector)
    return collector.found


def attribute_reseeds(ctx: FileContext) -> dict[str, list[cst.FunctionDef | None]]:
    """attr -> the functions (None: module level) that assign `<anything>.<attr> = ...`, call
    `<anything>.<attr>.seed(...)`/`.manual_seed(...)`/`.set_state(...)`, or `setattr(x, "<attr>", ...)`."""
    if ctx.module is None:
        return {}
    return ctx.memo.get(_attribute_reseeds, ctx, ctx.module)


# Calls that reset a global generator (every later draw repeats after the same call).
GLOBAL_SEEDING = {
    "torch.manual_seed", "torch.random.manual_seed", "torch.cuda.manual_seed", "torch.cuda.manual_seed_all",
    "numpy.random.seed", "random.seed",
}


def global_seeding(imports: dict[str, str], call: cst.Call) -> str | None:
    """The qualified seeding function if `call` reseeds a global generator (`torch.manual_seed(0)`,
    `np.random.seed(args.seed)`, `from random import seed; seed(1)`), else None."""
    name = imported_name(imports, call.func)
    return name if name in GLOBAL_SEEDING else None
