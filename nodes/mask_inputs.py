"""The optional mask and feather inputs shared by StyleNet Optimize, Train Fast StyleNet and Fast Style Apply.

They come after every input the nodes had before, so saved workflows keep their widget values: the MASK socket
is not a widget, the feather Int is one; widgets added since go after it (Train Fast StyleNet's temporal_crops).
"""

from __future__ import annotations

from ..clipstyler.mask import as_mask_batch, check_feather
from .comfy import io

MAX_FEATHER = 256

_CONVENTION = ("1 = stylize, 0 = keep the input; resized to the image and repeated over the batch as core's "
               "composite nodes do. Load Image's MASK is 1 where the image is transparent, and for an image without "
               "alpha it is an all-zero 64x64 mask, which styles nothing (the image is passed through, with a "
               "warning): invert it (Invert Mask) or paint one in the mask editor.")


def mask_inputs(what: str) -> list[io.Input]:
    """The mask and feather inputs; `what` says what the mask does on this node."""
    return [
        io.Mask.Input("mask", optional=True, tooltip=f"Optional: {what} {_CONVENTION}"),
        io.Int.Input("feather", default=0, min=0, max=MAX_FEATHER, step=1, optional=True,
                     tooltip="With a mask: soften its edge over this many pixels (at the image's size), inside the "
                     "mask, so pixels outside it stay exactly as they were. 0: a hard edge."),
    ]


def check_mask_inputs(mask, feather: int) -> None:
    """Refuse a malformed mask or feather before any model loads (the library checks again where it uses them)."""
    if mask is not None:
        as_mask_batch(mask)
    check_feather(feather)
