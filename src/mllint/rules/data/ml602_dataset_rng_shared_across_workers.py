"""ML602 dataset-rng-shared-across-workers: docs in rules/ML602-dataset-rng-shared-across-workers.md."""

from __future__ import annotations

import ast

import libcst as cst

from mllint.analysis.classes import SAMPLE_METHODS, dataset_classes, per_sample_reads, self_assignments
from mllint.analysis.rng import attribute_reseeds, generator_constructor
from mllint.engine.candidates import Calls, Nodes
from mllint.engine.rule import Rule, register

_SHOWN = {"numpy.random.default_rng": "np.random.default_rng", "numpy.random.RandomState": "np.random.RandomState",
          "numpy.random.Generator": "np.random.Generator", "random.Random": "random.Random",
          "torch.Generator": "torch.Generator", "torch._C.Generator": "torch.Generator"}


@register
class DatasetRngSharedAcrossWorkers(Rule):
    code = "ML602"
    name = "dataset-rng-shared-across-workers"
    summary = "A Dataset draws from its own generator object, which every DataLoader worker copies with the same state."
    # a generator construction, and a class with its own per-sample method (per_sample_reads starts there)
    candidates = Calls("default_rng", "RandomState", "Random", "Generator") & Nodes(
        ast.ClassDef, where=lambda cls: any(type(stmt) in (ast.FunctionDef, ast.AsyncFunctionDef)
                                            and stmt.name in SAMPLE_METHODS for stmt in cls.body))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if node not in dataset_classes(self.ctx):
            return
        reads = per_sample_reads(self.ctx, node)
        if not reads:
            return
        reseeds = attribute_reseeds(self.ctx)
        for attr, assignments in self_assignments(self.ctx, node).items():
            if attr not in reads:
                continue
            built = [a for a in assignments if a.method is not None and a.method.name.value == "__init__"
                     and generator_constructor(self.ctx.imports, a.value) is not None]
            if not built:
                continue
            if any(function is None or function.name.value != "__init__" for function in reseeds.get(attr, [])):
                continue  # replaced or reseeded somewhere else (a worker_init_fn, per sample, per worker)
            constructor = generator_constructor(self.ctx.imports, built[0].value)
            self.report(built[0].value, self._message(attr, _SHOWN[constructor], self._sample_method(node)))

    @staticmethod
    def _sample_method(cls: cst.ClassDef) -> str:
        names = {stmt.name.value for stmt in cls.body.body if isinstance(stmt, cst.FunctionDef)}
        return "__iter__" if "__iter__" in names and "__getitem__" not in names else "__getitem__"

    @staticmethod
    def _message(attr: str, constructor: str, method: str) -> str:
        return (f"`self.{attr}` is a `{constructor}` created once in `__init__` and drawn from in `{method}`: every "
                "DataLoader worker gets a copy with the same state, so the workers draw the same \"random\" values "
                "(and non-persistent workers repeat them every epoch); reseed it per worker, e.g. in a "
                "`worker_init_fn` from `torch.utils.data.get_worker_info().seed`")
