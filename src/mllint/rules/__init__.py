"""One module per rule; importing this package registers them all.

Modules are discovered, so adding a rule never means editing a list in a second place.
"""

import importlib
import pkgutil

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
