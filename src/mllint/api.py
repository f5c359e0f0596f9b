"""The public API for rule packs (docs/rule-packs.md): everything a pack's rule module needs, from
one module. What this module names is stable (a change is a breaking change of mllint); the rest of
mllint is internal, apart from mllint.testing.

    from mllint.api import Applicability, Calls, Fix, Option, Rule

Import-light on purpose: a pack's module is imported on every run that is not replayed, also when
the per-file cache answers for every file, so neither this module nor what it imports loads LibCST.
"""

from mllint.diagnostics import Applicability, Edit, Fix, Location
from mllint.engine.candidates import Calls, Nodes, Ops, Words
from mllint.engine.rule import Option, Rule

__all__ = ["Applicability", "Calls", "Edit", "Fix", "Location", "Nodes", "Ops", "Option", "Rule", "Words"]
