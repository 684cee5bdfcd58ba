"""Load CLIP (CLIPstyler): a joint image+text CLIP from open_clip's pretrained weights or a local file."""

from __future__ import annotations

import open_clip

from ..clipstyler.clip.loading import AUTO_ARCHITECTURE
from . import folders
from .comfy import io
from .models import load_clip
from .types import CATEGORY, ClipType


class LoadCLIP(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CLIPstylerLoadCLIP",
            display_name="Load CLIP (CLIPstyler)",
            category=CATEGORY,
            description="Loads a full CLIP (image and text encoders) to supervise CLIPstyler. Not core's Load CLIP, "
            "which is a text encoder for diffusion models.",
            inputs=[
                io.Combo.Input(
                    "model",
                    options=folders.clip_choices(),
                    default=folders.DEFAULT_CLIP,
                    tooltip="Your files first: full CLIP checkpoints in models/clip or models/clip_vision (OpenAI's "
                    "ViT-B-32.pt, open_clip .safetensors/.bin). Then 'pretrained: ARCH/TAG', downloaded into "
                    "models/open_clip on first use; ViT-B-32/openai is the paper's. Offline: put OpenAI's "
                    "ViT-B-32.pt in models/clip.",
                ),
                io.Combo.Input(
                    "architecture",
                    options=[AUTO_ARCHITECTURE, *open_clip.list_models()],
                    default=AUTO_ARCHITECTURE,
                    tooltip="Only for files: 'auto' reads an OpenAI-style CLIP's shape from its weights; otherwise "
                    "the open_clip model the file was saved from.",
                ),
            ],
            outputs=[ClipType.Output(display_name="clip", tooltip="The CLIP. It waits in CPU memory and moves to "
                                     "the GPU only while a CLIPstyler node uses it.")],
        )

    @classmethod
    def execute(cls, model: str, architecture: str = AUTO_ARCHITECTURE) -> io.NodeOutput:
        return io.NodeOutput(load_clip(model, architecture))
