"""The settings of a YAML config, for the schedule rules: every key of every mapping with its dotted
path, its integer value (or list of integers) and the learning-rate scheduler whose mapping holds
it (`_target_: torch.optim.lr_scheduler.OneCycleLR`, also in its `params`/`kwargs`). Facts, not
verdicts (ML302 decides); computed once per file.

Documents are composed, never constructed (no tag can build an object), with the Hydra loader's
depth bound; the node graph is walked once per node (aliases are shared nodes, so a "billion
laughs" document stays linear) and iteratively (deep nesting cannot blow the stack).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import yaml

from mllint.analysis.schedule_lengths import SCHEDULER_LENGTHS, Value

if TYPE_CHECKING:
    from mllint.engine.context import FileContext

INT_TAG = "tag:yaml.org,2002:int"
STR_TAG = "tag:yaml.org,2002:str"
# keys that name what a mapping builds: Hydra's `_target_`, Lightning CLI's `class_path`, registries
TARGET_KEYS = ("_target_", "class_path", "name", "type", "scheduler", "lr_scheduler")


@dataclass(frozen=True)
class YamlSetting:
    key: yaml.ScalarNode  # where the diagnostic points
    name: str
    path: str  # dotted: `scheduler.params.T_max`
    value: Value
    scheduler: str | None  # the LR scheduler class whose mapping holds the key (`OneCycleLR`)

    @property
    def is_scheduler_length(self) -> bool:
        """The length parameter of the scheduler that holds it (`total_steps` of OneCycleLR)."""
        return self.scheduler is not None and self.name == SCHEDULER_LENGTHS[self.scheduler][0]


def parse_int(text: str) -> int | None:
    try:
        return int(text.replace("_", ""), 0)
    except ValueError:
        try:
            return int(text.replace("_", ""))
        except ValueError:
            return None


def _value(node: yaml.Node) -> Value:
    if isinstance(node, yaml.ScalarNode):
        return parse_int(node.value) if node.tag == INT_TAG else None
    if isinstance(node, yaml.SequenceNode) and node.value:
        values = [_value(item) if isinstance(item, yaml.ScalarNode) else None for item in node.value]
        return tuple(values) if None not in values else None  # type: ignore[arg-type]
    return None


def _scheduler(mapping: yaml.MappingNode) -> str | None:
    for key, value in mapping.value:
        if isinstance(key, yaml.ScalarNode) and key.value in TARGET_KEYS and isinstance(value, yaml.ScalarNode):
            leaf = value.value.rsplit(".", 1)[-1]
            if leaf in SCHEDULER_LENGTHS:
                return leaf
    return None


def settings(doc: yaml.Node) -> list[YamlSetting]:
    """Every string key of every mapping under `doc`, each node visited once."""
    out: list[YamlSetting] = []
    seen: set[int] = set()
    todo: list[tuple[yaml.Node, str, str | None]] = [(doc, "", None)]
    while todo:
        node, path, scheduler = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            scheduler = _scheduler(node) or scheduler
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag != STR_TAG:
                    todo.append((value, path, scheduler))
                    continue
                full = f"{path}.{key.value}" if path else key.value
                out.append(YamlSetting(key, key.value, full, _value(value), scheduler))
                todo.append((value, full, scheduler))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend((item, path, scheduler) for item in node.value)
    return out


def _documents(ctx: FileContext, _key: str) -> list[list[YamlSetting]]:
    from mllint.analysis.hydra.configs import BoundedLoader  # refuses nesting that would take seconds to scan

    return [settings(doc) for doc in yaml.compose_all(ctx.source, Loader=BoundedLoader) if doc is not None]


def yaml_settings(ctx: FileContext) -> list[list[YamlSetting]]:
    """The settings of each document of the file; raises PyYAML's errors for a malformed file."""
    return ctx.memo.get(_documents, ctx, "yaml")
