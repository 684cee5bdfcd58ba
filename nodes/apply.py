"""Fast Style Apply (CLIPstyler): a trained StyleNet on any image batch, one forward pass per frame."""

from __future__ import annotations

from ..clipstyler.apply import AUTO_CHUNK_PIXELS, apply_stylenet
from ..clipstyler.image import check_image, to_bchw, to_bhwc
from ..clipstyler.memory import apply_bytes
from ..clipstyler.settings import PRECISIONS
from .comfy import ProgressBar, io, model_management
from .device import on_compute_device
from .mask_inputs import check_mask_inputs, mask_inputs
from .types import CATEGORY, StyleNetType


class FastStyleApply(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CLIPstylerFastStyleApply",
            display_name="Fast Style Apply (CLIPstyler)",
            category=CATEGORY,
            description="Stylizes every image of a batch (e.g. video frames) with a trained StyleNet: no "
            "optimisation, one forward pass each.",
            inputs=[
                StyleNetType.Input("stylenet", tooltip="From StyleNet Optimize, Train Fast StyleNet, Interpolate "
                                   "StyleNets or Load StyleNet (either kind of net)."),
                io.Image.Input("image", tooltip="Image batch to stylize (any size, even a few pixels)."),
                io.Int.Input("chunk_size", default=0, min=0, max=1024,
                             tooltip="Frames per forward pass; 0 picks it from the frame size (8 at 512 px, 2 at "
                             "1024). Halved automatically when memory runs out."),
                io.Int.Input("size", default=0, min=0, max=8192, step=8,
                             tooltip="0: each frame at its own resolution. Otherwise the long side used for the "
                             "pass (e.g. the size the StyleNet was trained at); the result keeps the input's size."),
                io.Combo.Input("precision", options=list(PRECISIONS), default="auto",
                               tooltip="auto: half precision on GPUs and on CPUs with native bf16 (AMX, AVX512-BF16), "
                               "fp32 on other CPUs."),
                *mask_inputs("stylize each frame only inside it; frame i gets mask i of the batch (repeated when "
                             "there are fewer masks), and outside it the frame is unchanged."),
            ],
            outputs=[io.Image.Output(display_name="image", tooltip="The stylized batch.")],
        )

    @classmethod
    def execute(cls, stylenet, image, chunk_size=0, size=0, precision="auto", mask=None, feather=0
                ) -> io.NodeOutput:
        check_image(image, "image")
        check_mask_inputs(mask, feather)
        bar = ProgressBar(image.shape[0])

        def on_chunk(done: int, total: int) -> None:
            model_management.throw_exception_if_processing_interrupted()
            bar.update_absolute(done, total)

        net = stylenet.stylenet
        pixels = chunk_size * image.shape[1] * image.shape[2] if chunk_size else AUTO_CHUNK_PIXELS
        with on_compute_device(net, working_bytes=apply_bytes(pixels)) as device:
            result = apply_stylenet(net, to_bchw(image), device, chunk_size, size, precision, on_chunk, mask=mask,
                                    feather=feather)
        return io.NodeOutput(to_bhwc(result).to(model_management.intermediate_device()))
