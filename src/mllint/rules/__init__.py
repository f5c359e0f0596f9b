"""mllint's rules, one module per rule, in one folder per code family (meta/ ML0xx, precision/
ML1xx, rl/ ML2xx, schedules/ ML3xx, modules/ ML4xx, hydra/ ML5xx, data/ ML6xx, optim/ ML7xx,
evaluation/ ML8xx). Importing this package registers them all (mllint.run.rules does, only when
the rule classes are needed).

Modules are discovered, so adding a rule never means editing a list in a second place.
"""

import importlib
import pkgutil

for _module in sorted(pkgutil.walk_packages(__path__, prefix=f"{__name__}."), key=lambda m: m.name):
    if not _module.name.rpartition(".")[2].startswith("_"):
        importlib.import_module(_module.name)
