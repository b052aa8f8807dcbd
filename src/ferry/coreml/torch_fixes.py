"""Fixes to coremltools' torch frontend, registered once before ferry converts a torch model to Core ML.

prelu: coremltools 9.0 lifts a rank-2 input ([N, C], a PReLU after a Linear layer, as MTCNN's R-Net and O-Net
have) to rank 3 for MIL's prelu, which takes one alpha per channel only at rank 4 and above, so the conversion
failed ("rank 3 or rank 5 input is only supported when all the values of alpha are same"). Lifting it to rank 4
([N, C, 1, 1]) computes the same per-channel PReLU and converts. Ranks 3 and above go as coremltools sends them.
"""

from __future__ import annotations

import numpy as np

_REGISTERED = False


def register() -> None:
    """Override coremltools' torch `prelu` translation with the rank-4 lift (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs
    from coremltools.converters.mil.frontend.torch.torch_op_registry import register_torch_op

    @register_torch_op(override=True)
    def prelu(context, node):
        x, alpha = _get_inputs(context, node, expected=2)
        if x.rank >= 2:
            alpha = np.ones((x.shape[1],), np.float32) * alpha.val
        if x.rank <= 2:
            axes = [1, 2, 3] if x.rank == 1 else [2, 3]
            lifted = mb.prelu(x=mb.expand_dims(x=x, axes=axes), alpha=alpha)
            context.add(mb.squeeze(x=lifted, axes=axes, name=node.name))
        else:
            context.add(mb.prelu(x=x, alpha=alpha, name=node.name))

    _REGISTERED = True
