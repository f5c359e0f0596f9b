"""The one per-file cache of derived facts, carried by the file context (`ctx.memo`).

A fact is a function `fact(ctx, key)`; `ctx.memo.get(fact, ctx, key)` computes it on first use and
returns the same object afterwards. Keys are tree nodes (LibCST nodes hash and compare by
identity, and the cache keeps them alive) or plain hashable values. One cache per file: nothing
outlives the file's context.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo:
    __slots__ = ("_facts",)

    def __init__(self) -> None:
        self._facts: dict[Callable, dict[Hashable, Any]] = {}

    def get(self, fact: Callable[[Any, K], V], ctx: Any, key: K) -> V:
        """`fact(ctx, key)`, computed once per (fact, key) for this file."""
        values = self._facts.get(fact)
        if values is None:
            values = self._facts[fact] = {}
        if key in values:
            return values[key]
        value = values[key] = fact(ctx, key)
        return value
