"""What training frameworks do for you: the calls and hooks through which Lightning, Fabric,
Accelerate, DeepSpeed and the HF Trainer run a part of the training step, so that a rule judges the
code around them (and credits the framework for its part) instead of switching itself off for a
whole file because a framework's name appears in it.

- **Backward through a framework** (`accelerator.backward(loss)`, `fabric.backward(loss)`,
  DeepSpeed's `engine.backward(loss)` / `model_engine.backward(loss)`, `trainer.backward(loss)`,
  Lightning's `self.manual_backward(loss)`): the framework scales the loss for mixed precision, and
  Accelerate divides it by the accumulation steps inside `with accelerator.accumulate(model):`
  (`ACCUMULATE`). The timeline marks these backwards with `Event.framework`.
- **Clipping methods of an engine** (`accelerator.clip_grad_norm_`, FSDP's `model.clip_grad_norm_`,
  DeepSpeed's): they unscale before clipping, unlike `torch.nn.utils.clip_grad_norm_`.
- **Lightning**: `LightningModule` subclasses are modules (`LIGHTNING_MODULES`, any import path);
  the trainer runs the evaluation hooks under `no_grad` in eval mode (`LIGHTNING_NO_GRAD_HOOKS`),
  gives the batch hooks a per-epoch batch index (`LIGHTNING_BATCH_HOOKS`,
  `BATCH_INDEX_PARAMS`), and counts optimizer steps in `self.global_step`.
- **Handing over**: a loader or sampler passed to `accelerator.prepare(...)` or `trainer.fit(...)`
  is the framework's to iterate (the data rules treat any call they cannot follow this way).
"""

from __future__ import annotations

import re

# Receivers whose `.backward(loss)` is a framework's (the last part of the dotted name).
_FRAMEWORK_RECEIVER = re.compile(r"(^|_)(accelerator|engine|fabric|model_engine|deepspeed|ds_engine|trainer)$",
                                 re.IGNORECASE)
BACKWARD_METHODS = ("backward", "manual_backward")  # `self.manual_backward(loss)`: Lightning's
ACCUMULATE = "accumulate"  # `with accelerator.accumulate(model):`

LIGHTNING_MODULES = frozenset({
    "pytorch_lightning.LightningModule", "pytorch_lightning.core.LightningModule",
    "pytorch_lightning.core.module.LightningModule", "lightning.LightningModule",
    "lightning.pytorch.LightningModule", "lightning.pytorch.core.LightningModule",
})
LIGHTNING_MODULE_NAMES = ("LightningModule",)  # a base written as a bare or dotted name
# Lightning runs these under no_grad (and restores train mode itself).
LIGHTNING_NO_GRAD_HOOKS = re.compile(r"^(validation_step|test_step|predict_step|on_(validation|test|predict)_\w+)$")
# Lightning's per-epoch batch index (`training_step(self, batch, batch_idx)`) and the hooks that get it.
BATCH_INDEX_PARAMS = ("batch_idx", "batch_nb", "batch_index", "batch_num")
LIGHTNING_BATCH_HOOKS = ("training_step", "validation_step", "on_train_batch_start", "on_train_batch_end")


def framework_backward(receiver: str) -> bool:
    """`receiver.backward(loss)` is a framework's backward (`accelerator`, `self.model_engine`,
    `self` in a LightningModule or a trainer class)."""
    return bool(_FRAMEWORK_RECEIVER.search(receiver.rsplit(".", 1)[-1])) or receiver in ("self", "self.accelerator")
