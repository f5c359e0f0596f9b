"""ML605 ddp-without-distributed-sampler: docs in rules/ML605-ddp-without-distributed-sampler.md."""

from __future__ import annotations

import libcst as cst

from mllint.analysis.classes import dataset_classes
from mllint.analysis.data_loading import HARMLESS_CALLS, data_loading, project_helper_use
from mllint.engine.candidates import Calls
from mllint.engine.context import dotted_name
from mllint.engine.rule import Rule, register
from mllint.rules.data.ml604_distributed_sampler_without_set_epoch import EVALUATION

SAMPLING_KEYWORDS = {"sampler", "batch_sampler"}


@register
class DdpWithoutDistributedSampler(Rule):
    code = "ML605"
    name = "ddp-without-distributed-sampler"
    summary = "A DDP script trains from a DataLoader without a DistributedSampler: every rank reads the whole dataset."
    candidates = Calls("DistributedDataParallel") & Calls("DataLoader")
    cross_file = True  # follows the loader into a loop helper imported from another project file

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        callee = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)
        if callee != "DataLoader":
            return
        facts = data_loading(self.ctx)
        if not facts.ddp_wraps:
            return
        site = next((s for s in facts.loaders if s.call is node), None)
        if site is None or site.bound_to is None or EVALUATION.search(site.bound_to.rsplit(".", 1)[-1]):
            return
        if any(arg.star == "**" or (arg.keyword is not None and arg.keyword.value in SAMPLING_KEYWORDS)
               for arg in node.args):
            return  # a sampler of its own (or keyword arguments we cannot see)
        if self._iterable_dataset(node):
            return
        name = site.bound_to
        # a loop helper imported from the user's project that iterates the loader (detr's train_one_epoch)
        project_loops = {use for use in facts.passed if use.name == name and use.call is not None
                         and use.callee not in facts.defined_functions and use.callee not in HARMLESS_CALLS
                         and getattr(project_helper_use(self.ctx, use.call, name), "iterates", False)}
        if name in facts.returned or any(use.name == name and use.callee not in HARMLESS_CALLS and use not in project_loops
                                         and use.callee not in facts.defined_functions for use in facts.passed):
            return  # handed over: accelerator.prepare(...), trainer.fit(...), a builder's caller
        trained = any(use.name == name for use in facts.iterated) or bool(project_loops) or \
            any(use.name == name and use.callee in facts.defined_functions for use in facts.passed)
        if not trained:
            return
        self.report(node, f"`{name}` has no `DistributedSampler` although the model is wrapped in "
                          "`DistributedDataParallel`: every rank iterates the whole dataset (N GPUs do the work of "
                          f"one, and each global batch holds duplicates); pass `sampler=DistributedSampler(dataset)` "
                          f"(and call `set_epoch` each epoch)")

    def _iterable_dataset(self, loader: cst.Call) -> bool:
        """The dataset argument is built from an `IterableDataset` class of the file (it shards itself)."""
        if not loader.args or loader.args[0].keyword is not None:
            return False
        value = loader.args[0].value
        iterable = {cls.name.value for cls, base in dataset_classes(self.ctx).items() if "Iterable" in base}
        if isinstance(value, cst.Call):
            return dotted_name(value.func) in iterable
        name = dotted_name(value)
        return any(isinstance(b.value, cst.Call) and dotted_name(b.value.func) in iterable
                   for b in self.ctx.bindings(self.ctx.scope()).get(name or "", []))
