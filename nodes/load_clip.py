"""Load CLIP (CLIPstyler): a joint image+text CLIP from open_clip's pretrained weights or a local file."""

from __future__ import annotations

import open_clip

from clipstyler.clip_loading import AUTO_ARCHITECTURE, load_clip_file, load_pretrained_clip

from . import folders
from .comfy import io, model_management
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
                    tooltip="'pretrained: ARCH/TAG' downloads open_clip weights into models/open_clip on first use "
                    "(ViT-B-32/openai is the paper's). Files are full CLIP checkpoints in models/clip or "
                    "models/clip_vision (OpenAI .pt, open_clip .safetensors/.bin).",
                ),
                io.Combo.Input(
                    "architecture",
                    options=[AUTO_ARCHITECTURE, *open_clip.list_models()],
                    default=AUTO_ARCHITECTURE,
                    tooltip="Only for files: 'auto' reads an OpenAI-style CLIP's shape from its weights; otherwise "
                    "the open_clip model the file was saved from.",
                ),
            ],
            outputs=[ClipType.Output(display_name="clip", tooltip="The CLIP, on ComfyUI's device.")],
        )

    @classmethod
    def execute(cls, model: str, architecture: str = AUTO_ARCHITECTURE) -> io.NodeOutput:
        if model.startswith(folders.PRETRAINED_PREFIX):
            name, _, tag = model.removeprefix(folders.PRETRAINED_PREFIX).partition("/")
            clip = load_pretrained_clip(name, tag, cache_dir=folders.first_folder(folders.OPEN_CLIP_CACHE))
        else:
            clip = load_clip_file(folders.clip_file_path(model), architecture)
        return io.NodeOutput(clip.to(model_management.get_torch_device()))
