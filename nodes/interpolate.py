"""Interpolate StyleNets (CLIPstyler): blend two styles, (1 - w) * a + w * b, as the authors' test_intp.py does."""

from __future__ import annotations

from ..clipstyler.errors import CLIPstylerError
from ..clipstyler.image import check_image, to_bchw, to_bhwc
from ..clipstyler.interpolate import blend_styles, interpolation_frames, parse_weights
from ..clipstyler.settings import PRECISIONS
from .comfy import ProgressBar, io, model_management
from .device import on_compute_device
from .types import CATEGORY, StyleNetType


class InterpolateStyleNets(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CLIPstylerInterpolateStyleNets",
            display_name="Interpolate StyleNets (CLIPstyler)",
            category=CATEGORY,
            description="Blends two trained styles: (1 - w) * a + w * b in their weights, as the paper blends "
            "'Stone wall' into 'Desert sand'. That needs two nets of the same kind from the same start (fast "
            "StyleNets from AdaIN's decoder; U-Nets trained with the same seed); for others the outputs are "
            "blended instead, with a warning.",
            inputs=[
                StyleNetType.Input("stylenet_a", tooltip="The style at weight 0."),
                StyleNetType.Input("stylenet_b", tooltip="The style at weight 1."),
                io.Image.Input("image", tooltip="The image(s) to stylize at every weight."),
                io.String.Input("weights", default="0, 0.25, 0.5, 0.75, 1",
                                tooltip="Weights from 0 (a) to 1 (b), separated by commas. The output has one image "
                                "per weight and input image, weight after weight: an animation from a to b."),
                io.Int.Input("size", default=0, min=0, max=8192, step=8,
                             tooltip="0: each image at its own resolution; otherwise the long side used for the "
                             "pass (the result keeps the input's size)."),
                io.Combo.Input("precision", options=list(PRECISIONS), default="auto",
                               tooltip="auto: half precision on GPUs and on CPUs with native bf16 (AMX, AVX512-BF16), "
                               "fp32 on other CPUs."),
            ],
            outputs=[
                io.Image.Output(display_name="image", tooltip="Every image at every weight, weight-major."),
                StyleNetType.Output(display_name="stylenet", tooltip="The blend at the last weight, for Fast Style "
                                    "Apply or Save StyleNet."),
            ],
        )

    @classmethod
    def validate_inputs(cls, weights: str | None = None) -> bool | str:
        if weights is not None:
            try:
                parse_weights(weights)
            except CLIPstylerError as error:
                return str(error)
        return True

    @classmethod
    def execute(cls, stylenet_a, stylenet_b, image, weights="0, 0.25, 0.5, 0.75, 1", size=0,
                precision="auto") -> io.NodeOutput:
        check_image(image, "image")
        values = parse_weights(weights)
        bar = ProgressBar(len(values))
        done = []

        def on_chunk(finished: int, total: int) -> None:
            model_management.throw_exception_if_processing_interrupted()
            if finished == total:
                done.append(1)
                bar.update_absolute(len(done), len(values))

        with on_compute_device(stylenet_a.stylenet, stylenet_b.stylenet) as device:
            frames = interpolation_frames(stylenet_a, stylenet_b, to_bchw(image), values, device, size=size,
                                          precision=precision, on_chunk=on_chunk)
        blended = blend_styles(stylenet_a, stylenet_b, values[-1], warn=False)
        return io.NodeOutput(to_bhwc(frames).to(model_management.intermediate_device()), blended)
