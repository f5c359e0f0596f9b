"""What a Hydra config file is composed with: the keys that other files of the same config tree
put next to its own (`conf/scheduler/cosine.yaml` is composed with `conf/config.yaml` and the
`trainer` group it selects). For rules that judge a config by its neighbours (ML302: a schedule
length in one file, the run length in another).

The config root is found from the file's own place, with no Hydra app needed: the nearest directory
above it that holds a primary config (a YAML file with a defaults list) which selects the file's
group; the file itself when it is such a primary config. Every directory and file looked at is
noted for the cache (mllint.engine.reads), so a result is not replayed once any of them changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import yaml

from mllint.analysis.hydra.configs import UNKNOWN, Repo, Unresolvable, all_keys, compose, lookup

MAX_GROUP_DEPTH = 3  # conf/model/scheduler/cosine.yaml: the group `model/scheduler`, two levels up
MAX_PRIMARIES = 8  # primary configs of one directory composed, at most


def composed_keys(path: Path, root: Path, wanted: Callable[[str], bool]) -> list[tuple[str, Any, str]]:
    """(dotted key, value, primary config's file name) of the keys passing `wanted` (given the last
    part of a key) in the composition of the primary config that selects the file's group, outside
    that group's own keys; [] when no such config is found or it cannot be composed."""
    path, root = path.resolve(), root.resolve()
    for config_dir in list(path.parents)[:MAX_GROUP_DEPTH]:
        if config_dir != root and root not in config_dir.parents:
            break
        group = path.parent.relative_to(config_dir).as_posix()
        group = "" if group == "." else group
        repo = Repo((config_dir,))
        names = [path.stem] if not group else repo.primary_names()[:MAX_PRIMARIES]
        for name in names:
            try:
                composition = compose(repo, name)
            except (Unresolvable, yaml.YAMLError, RecursionError, OSError, ValueError):
                continue
            if group and group not in composition.groups:
                continue
            own = group.replace("/", ".") + "."
            found = []
            for key in all_keys(composition.tree):
                if (not group or not key.startswith(own)) and wanted(key.rsplit(".", 1)[-1]):
                    state, value = lookup(composition.tree, key)
                    found.append((key, value if state == "present" and value is not UNKNOWN else None,
                                  f"{name}.yaml"))
            if found:
                return found
    return []
