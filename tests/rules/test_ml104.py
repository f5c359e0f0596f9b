"""ML104 private-gradscaler-state: reads of GradScaler internals on objects known to be scalers."""

import textwrap

import pytest

from mllint.testing import lint


def _lint(src):
    return [(d.code, d.start.row, d.start.column) for d in lint(textwrap.dedent(src), "ML104")]


FLAGGED = {
    "seed: _per_optimizer_states on self.scaler": ("""
        import torch
        class T:
            def __init__(self):
                self.scaler = torch.amp.GradScaler("cuda")
            def step(self):
                state = self.scaler._per_optimizer_states[self.opt]
        """, (7, 17)),
    "_scale on a bound scaler": ("""
        import torch
        scaler = torch.cuda.amp.GradScaler()
        def log():
            return scaler._scale.item()
        """, (5, 12)),
    "alias and from-import": ("""
        from torch.amp import GradScaler as GS
        def f():
            s = GS()
            return s._growth_tracker
        """, (5, 12)),
    "annotated parameter": ("""
        import torch
        def f(s: torch.amp.GradScaler):
            return s._scale
        """, (4, 12)),
    "Optional annotation": ("""
        from typing import Optional
        from torch.cuda.amp import GradScaler
        def f(s: Optional[GradScaler]):
            return s._enabled
        """, (5, 12)),
    "used as a scaler: get_scale": ("""
        def f(s):
            before = s.get_scale()
            return s._scale
        """, (4, 12)),
    "used as a scaler: scale().backward() step update": ("""
        def f(s, opt, loss):
            s.scale(loss).backward()
            s.step(opt)
            found = s._found_inf_per_device(opt)
            s.update()
        """, (5, 13)),
    "scaler-only name on a scaler-named object": ("""
        def f(trainer):
            return trainer.amp_scaler._per_optimizer_states
        """, (3, 12)),
    "getattr with a string": ("""
        import torch
        def f():
            scaler = torch.amp.GradScaler()
            return getattr(scaler, "_scale", None)
        """, (5, 12)),
    "in a comprehension in a nested function": ("""
        import torch
        def outer(opt):
            scaler = torch.amp.GradScaler()
            def inner():
                return [scaler._per_optimizer_states[o] for o in [opt]]
            return inner
        """, (6, 17)),
    "IfExp binding": ("""
        import torch
        def f(amp):
            scaler = torch.amp.GradScaler() if amp else None
            return scaler._scale
        """, (5, 12)),
    "getattr with a default on a parameter named scaler": ("""
        def log(scaler):
            return getattr(scaler, "_scale", None)
        """, (3, 12)),
    "the found_inf_per_device entry of a state dict passed in": ("""
        def overflowed(opt_state):
            return any(v.item() > 0 for v in opt_state["found_inf_per_device"].values())
        """, (3, 38)),
    "the found_inf_per_device entry read with .get": ("""
        def overflowed(opt_state):
            return opt_state.get("found_inf_per_device", {})
        """, (3, 12)),
}


@pytest.mark.parametrize("src, where", FLAGGED.values(), ids=FLAGGED.keys())
def test_flagged(src, where):
    assert _lint(src) == [("ML104", *where)]


NOT_FLAGGED = {
    "public get_scale": """
        import torch
        def f(opt, loss):
            scaler = torch.amp.GradScaler()
            scaler.scale(loss).backward()
            scaler.step(opt)
            before = scaler.get_scale()
            scaler.update()
            return scaler.get_scale() < before
        """,
    "GradScaler subclass: its own attributes and methods": """
        import torch
        class MyScaler(torch.cuda.amp.GradScaler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self._found_inf = None
            def _unscale_grads_(self, optimizer, inv_scale, found_inf, allow_fp16):
                return super()._unscale_grads_(optimizer, inv_scale, found_inf, True)
            def unscale_(self, optimizer):
                self._unscale_grads_(optimizer, None, None, True)
                return self._found_inf, self._step_hint
        """,
    "a private name read through self in a class that is not a GradScaler": """
        import torch
        class Wrapper:
            def __init__(self):
                self.scaler = torch.cuda.amp.GradScaler()
            def f(self):
                return self._growth_tracker
        """,
    "a wrapper's underscored preprocessing scaler": """
        def f(self_like, x):
            self_like._scaler.fit(x)
        class Features:
            def __init__(self, scaler):
                self._scaler = scaler
            def transform(self, x):
                self._scaler.fit(x)
                return self._scaler.transform(x)
        """,
    "GradScaler class itself": """
        class GradScaler:
            def get_scale(self):
                return self._scale
        """,
    "_scale on an unrelated class": """
        import torch
        class Rotary(torch.nn.Module):
            def __init__(self):
                self._scale = 2.0
            def forward(self, x, other):
                return x * self._scale + other._scale
        """,
    "a preprocessing scaler": """
        from sklearn.preprocessing import StandardScaler
        def f(x):
            scaler = StandardScaler()
            scaler.fit(x)
            return scaler._scale, scaler.scale_
        """,
    "a scaler parameter used as a preprocessing scaler": """
        def f(scaler, x):
            scaler.fit(x)
            return scaler._scale
        """,
    "writing the key": """
        def f(state, t):
            state["found_inf_per_device"] = t
        """,
    "scaler-named object with a generic private name": """
        def f(image_scaler):
            return image_scaler._scale
        """,
    "writes": """
        import torch
        def f():
            scaler = torch.amp.GradScaler()
            scaler._scale = None
        """,
    "found_inf as a plain name": """
        def _single_tensor_adopt(params, grads, grad_scale, found_inf):
            assert grad_scale is None and found_inf is None
        """,
    "dunder": """
        import torch
        def f():
            scaler = torch.amp.GradScaler()
            return scaler.__class__
        """,
    "object with step is not a scaler": """
        def f(optimizer):
            optimizer.step()
            return optimizer._step_count
        """,
}


SUBCLASS_AND_WRAPPER = """
import torch
from torch.cuda.amp import GradScaler as _Base


class DynamicScaler(_Base):
    def overflowed(self, optimizer):
        state = self._per_optimizer_states[id(optimizer)]
        return sum(v.item() for v in state["found_inf_per_device"].values()) > 0

    def stats(self):
        return self._scale.item(), self._growth_tracker.item()


class AmpWrapper:
    def __init__(self, scaler):
        self._scaler = scaler

    def loss_scale(self):
        return self._scaler._scale.item()

    def skipped(self, optimizer):
        return self._scaler._per_optimizer_states[id(optimizer)]
"""


def test_subclass_and_wrapper_reading_inherited_or_wrapped_internals():
    """A library's GradScaler subclass reads the base class's internals through `self`; a wrapper
    reads them through its `self._scaler`: both break when PyTorch renames them."""
    assert _lint(SUBCLASS_AND_WRAPPER) == [("ML104", 8, 17), ("ML104", 12, 16), ("ML104", 12, 36),
                                           ("ML104", 20, 16), ("ML104", 23, 16)]
    inherited = lint(SUBCLASS_AND_WRAPPER, "ML104")[0]
    assert "inherited by this subclass" in inherited.message and "get_scale()` before" not in inherited.message


@pytest.mark.parametrize("src", NOT_FLAGGED.values(), ids=NOT_FLAGGED.keys())
def test_not_flagged(src):
    assert _lint(src) == []


HANDLERS = {
    "except Exception": ("except Exception as e:", "`except Exception`"),
    "bare except": ("except:", "`except:`"),
    "tuple with AttributeError": ("except (AttributeError, KeyError):", "`except AttributeError`"),
}


@pytest.mark.parametrize("handler, shown", HANDLERS.values(), ids=HANDLERS.keys())
def test_message_mentions_the_broad_handler(handler, shown):
    src = f"""
import torch
scaler = torch.amp.GradScaler()
def f(opt):
    try:
        state = scaler._per_optimizer_states[opt]
    {handler}
        state = None
    return state
"""
    diags = lint(src, "ML104")
    assert [d.start.row for d in diags] == [6]
    assert shown in diags[0].message
    assert "silent fallback" in diags[0].message


def test_message_shows_the_public_way_for_this_scaler():
    src = FLAGGED["seed: _per_optimizer_states on self.scaler"][0]
    (diag,) = lint(textwrap.dedent(src), "ML104")
    assert "compare `self.scaler.get_scale()` before and after `self.scaler.update()`" in diag.message
    assert "silent fallback" not in diag.message


def test_handler_only_counts_for_the_try_body():
    src = """
import torch
scaler = torch.amp.GradScaler()
def f(opt):
    try:
        pass
    except Exception:
        return scaler._scale
"""
    (diag,) = lint(src, "ML104")
    assert "silent fallback" not in diag.message


SHARDED = """
import torch
from torch.amp.grad_scaler import GradScaler


class ShardedGradScaler(GradScaler):
    def scale(self, outputs):
        if self._scale is None:
            self._lazy_init_scale_growth_tracker(outputs.device)
        return outputs * self._scale
"""


def _package(root, dotted, source):
    """Write `source` as module `dotted` under `root`, every directory a package."""
    *dirs, name = dotted.split(".")
    directory = root
    for part in dirs:
        directory = directory / part
        directory.mkdir(exist_ok=True)
        (directory / "__init__.py").write_text("")
    path = directory / f"{name}.py"
    path.write_text(source)
    return path


@pytest.mark.parametrize("module, flagged", [
    # PyTorch's own subclass ships with GradScaler: nothing there breaks on an upgrade
    ("torch.distributed.fsdp.sharded_grad_scaler", False),
    ("torch.cuda.amp.grad_scaler", False),
    # a library's copy of it (fairscale's ShardedGradScaler) breaks when PyTorch renames the state
    ("fairscale.optim.grad_scaler", True),
    ("myproject.amp", True),
])
def test_torch_own_modules_own_the_state(tmp_path, module, flagged):
    path = _package(tmp_path, module, SHARDED)
    rows = [d.start.row for d in lint(SHARDED, "ML104", path=str(path))]
    assert rows == ([8, 9, 10] if flagged else [])


def test_a_directory_named_torch_is_not_the_package(tmp_path):
    """A user's scripts in a folder called `torch` (no `__init__.py`): not PyTorch's code."""
    (tmp_path / "torch").mkdir()
    path = tmp_path / "torch" / "train.py"
    path.write_text(SHARDED)
    assert [d.start.row for d in lint(SHARDED, "ML104", path=str(path))] == [8, 9, 10]


def test_cached_result_depends_on_the_package_files(tmp_path, monkeypatch):
    """The cache knows the result was read from the `__init__.py` files: a copy that stops being
    part of a `torch` package is linted again, and then flagged."""
    from click.testing import CliRunner

    from mllint.frontends.cli import main

    (tmp_path / "pyproject.toml").write_text("[tool.mllint]\n")
    path = _package(tmp_path, "torch.distributed.sharded", SHARDED)
    monkeypatch.chdir(tmp_path)
    args = ["--jobs", "1", "--preview", "--select", "ML104", str(path.relative_to(tmp_path))]
    assert CliRunner().invoke(main, args).exit_code == 0
    (tmp_path / "torch" / "__init__.py").unlink()
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 1 and "ML104" in second.output
    third = CliRunner().invoke(main, args)  # replayed from the cache, still found
    assert third.exit_code == 1 and "ML104" in third.output


@pytest.mark.parametrize("attr, getter", [("_growth_factor", "get_growth_factor()"), ("_enabled", "is_enabled()"),
                                          ("_growth_interval", "get_growth_interval()")])
def test_message_names_the_public_getter(attr, getter):
    """Accelerate's tests read `scaler._growth_factor` to check a configuration: the getter is the fix."""
    src = f"""
import torch
def test_kwargs():
    scaler = torch.amp.GradScaler(growth_factor=2)
    assert scaler.{attr} == 2.0
"""
    (diag,) = lint(src, "ML104")
    assert f"use the public `scaler.{getter}`" in diag.message
    assert "skipped step" not in diag.message


def test_message_for_a_private_method_call():
    """Accelerate calls `scaler._lazy_init_scale_growth_tracker(device)`: a call, not a skipped-step check."""
    src = """
import torch
scaler = torch.amp.GradScaler()
def load(state):
    scaler.load_state_dict(state)
    scaler._lazy_init_scale_growth_tracker("cuda")
"""
    (diag,) = lint(src, "ML104")
    assert "calls a private method of GradScaler" in diag.message
    assert "skipped step" not in diag.message


def test_message_for_other_private_attributes():
    """`scaler._device` / `scaler._init_scale` are not about skipped steps: the general advice."""
    src = """
import torch
def f():
    scaler = torch.amp.GradScaler()
    return scaler._init_scale
"""
    (diag,) = lint(src, "ML104")
    assert "use its public API (`scaler.get_scale()`" in diag.message
    assert "skipped step" not in diag.message
