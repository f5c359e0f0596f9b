"""ML604 distributed-sampler-without-set-epoch: docs in rules/ML604-distributed-sampler-without-set-epoch.md."""

from __future__ import annotations

import re

import libcst as cst

from mllint.analysis.data_loading import HARMLESS_CALLS, LoaderSite, data_loading, project_helper_use
from mllint.engine.candidates import Calls
from mllint.engine.rule import Rule, register

# Loaders used only to evaluate: their order does not change what is learned.
EVALUATION = re.compile(r"val|eval|test|infer|predict", re.I)
# A `set_epoch` receiver named like a sampler (`loader.sampler`, a helper's `train_sampler` parameter).
SAMPLER_RECEIVER = re.compile(r"sampler", re.I)


def _leaf(name: str) -> str:
    return name.rsplit(".", 1)[-1]


@register
class DistributedSamplerWithoutSetEpoch(Rule):
    code = "ML604"
    name = "distributed-sampler-without-set-epoch"
    summary = "A DistributedSampler is iterated epoch after epoch without `set_epoch`: every epoch has the same order."
    candidates = Calls("DistributedSampler")
    cross_file = True  # follows the loader into a loop helper imported from another project file

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        callee = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)
        if callee != "DistributedSampler":
            return  # cheap rejection of every other call (the facts hold the resolved ones)
        facts = data_loading(self.ctx)
        site = next((s for s in facts.samplers if s.call is node), None)
        if site is None or site.shuffle_off:
            return
        sampler_names = {site.bound_to} if site.bound_to else set()
        wrapped = sampler_names | {batch for batch, inner in facts.batch_samplers.items() if inner in sampler_names}
        loaders = [loader for loader in facts.loaders
                   if site.loader is loader or loader.sampler_names & wrapped]
        loader_names = {loader.bound_to for loader in loaders if loader.bound_to}
        names = sampler_names | loader_names
        if not names or all(EVALUATION.search(_leaf(name)) for name in names):
            return  # not traceable here, or only used to evaluate
        if self._epoch_is_set(facts.set_epoch_receivers, sampler_names, loader_names):
            return
        if any(use.name in sampler_names and use.callee not in HARMLESS_CALLS for use in facts.passed):
            return  # the sampler itself is handed to a helper: setting its epoch is the usual reason
        if names & facts.returned or any(use.name in names and not use.in_loop and use.callee not in HARMLESS_CALLS
                                         for use in facts.passed):
            return  # handed over (a builder's return value, accelerator.prepare(...), trainer.fit(...))
        helpers = self._project_helpers(facts, names)
        if any(helper.sets_epoch for helper in helpers):
            return  # the imported loop helper sets the epoch itself
        if self._iterated_per_epoch(facts, names) or any(helper.iterates for helper in helpers):
            self.report(node, self._message(site, loaders))

    def _project_helpers(self, facts, names: set[str]) -> list:
        """What the loop helpers imported from the user's project (detr's `train_one_epoch` in
        engine.py) do with the loader passed to them inside a loop."""
        out = []
        for use in facts.passed:
            if use.name in names and use.in_loop and use.call is not None and use.callee not in facts.defined_functions \
                    and not EVALUATION.search(use.callee or ""):
                found = project_helper_use(self.ctx, use.call, use.name)
                if found is not None:
                    out.append(found)
        return out

    @staticmethod
    def _epoch_is_set(receivers: list[str], sampler_names: set[str], loader_names: set[str]) -> bool:
        sampler_leaves = {_leaf(name) for name in sampler_names}
        for receiver in receivers:
            if receiver in sampler_names or _leaf(receiver) in sampler_leaves:
                return True
            # `loader.sampler.set_epoch`, `train_sampler.set_epoch` in a helper that receives it
            if SAMPLER_RECEIVER.search(_leaf(receiver)):
                return True
            if receiver in loader_names:  # a loader with its own set_epoch (Accelerate's, HF's)
                return True
        return False

    @staticmethod
    def _iterated_per_epoch(facts, names: set[str]) -> bool:
        for use in facts.iterated:
            if use.name in names and (use.in_loop or use.function is not None
                                      and use.function.name.value in facts.called_in_loop):
                return True
        # handed to a helper inside the loop: only a helper of this file, whose `set_epoch` calls
        # (none, by now) are known; an imported one may set the epoch itself
        return any(use.name in names and use.in_loop and use.callee in facts.defined_functions
                   and not EVALUATION.search(use.callee) for use in facts.passed)

    def _message(self, site: LoaderSite, loaders: list[LoaderSite]) -> str:
        if site.bound_to:
            call = f"{site.bound_to}.set_epoch(epoch)"
        else:
            loader = next((loader.bound_to for loader in loaders if loader.bound_to), "loader")
            call = f"{loader}.sampler.set_epoch(epoch)"
        return (f"this `DistributedSampler` is iterated once per epoch but `set_epoch` is never called: every epoch "
                f"repeats the same shuffle order on every rank; call `{call}` at the start of each epoch")
