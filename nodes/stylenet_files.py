"""Save StyleNet / Load StyleNet (CLIPstyler): a trained style as a .safetensors file in models/clipstyler."""

from __future__ import annotations

import os

from ..clipstyler.errors import CLIPstylerError
from ..clipstyler.stylenet_file import is_released_decoder, load_released_decoder, load_style, save_style
from . import folders
from .comfy import folder_paths, io
from .models import adain_encoder_path
from .types import CATEGORY, StyleNetType


class SaveStyleNet(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CLIPstylerSaveStyleNet",
            display_name="Save StyleNet (CLIPstyler)",
            category=CATEGORY,
            description="Saves a trained StyleNet to models/clipstyler with its texts and settings in the file's "
            "metadata, so the style can be shared and loaded again.",
            is_output_node=True,
            inputs=[
                StyleNetType.Input("stylenet", tooltip="From StyleNet Optimize."),
                io.String.Input("filename_prefix", default="style",
                                tooltip="File name inside models/clipstyler (may include subfolders); a counter is "
                                "added: style_00001_.safetensors."),
            ],
            outputs=[io.String.Output(display_name="filename", tooltip="The file written, as Load StyleNet lists it.")],
        )

    @classmethod
    def execute(cls, stylenet, filename_prefix="style") -> io.NodeOutput:
        root = folders.first_folder(folders.STYLENETS)
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(filename_prefix.strip() or "style", root)
        filename = f"{name}_{counter:05}_.safetensors"  # ComfyUI's counter only sees name_NNNNN_ names
        save_style(stylenet, os.path.join(folder, filename))
        listed = f"{subfolder}/{filename}" if subfolder else filename
        return io.NodeOutput(listed, ui={"text": [listed]})


class LoadStyleNet(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CLIPstylerLoadStyleNet",
            display_name="Load StyleNet (CLIPstyler)",
            category=CATEGORY,
            description="Loads a StyleNet saved by Save StyleNet from models/clipstyler, of either kind, or one of "
            "the authors' released fast-mode decoders (clip_decoder_*.pth.tar) put there.",
            inputs=[
                io.Combo.Input("stylenet_name", options=folders.stylenet_choices(),
                               tooltip="A .safetensors in models/clipstyler, written by Save StyleNet or shared by "
                               "someone else, or an authors' clip_decoder_*.pth.tar (it uses AdaIN's "
                               "vgg_normalised.pth from models/adain, downloaded on first use). Press R to refresh "
                               "the list after saving."),
            ],
            outputs=[
                StyleNetType.Output(display_name="stylenet", tooltip="The trained StyleNet."),
                io.String.Output(display_name="style_text", tooltip="The style text it was trained for."),
            ],
        )

    @classmethod
    def validate_inputs(cls, stylenet_name: str | None = None) -> bool | str:
        # Declaring stylenet_name makes ComfyUI skip its own "value not in list" check: done here instead.
        if stylenet_name == folders.NO_STYLENETS:
            return _no_style_yet()
        if stylenet_name is not None and stylenet_name not in folders.stylenet_choices():
            return f"{stylenet_name!r} is not in {folders.first_folder(folders.STYLENETS)} (press R to refresh)"
        return True

    @classmethod
    def execute(cls, stylenet_name) -> io.NodeOutput:
        if stylenet_name == folders.NO_STYLENETS:
            raise CLIPstylerError(_no_style_yet())
        path = folder_paths.get_full_path_or_raise(folders.STYLENETS, stylenet_name)
        style = load_released_decoder(path, adain_encoder_path()) if is_released_decoder(path) else load_style(path)
        return io.NodeOutput(style, style.style_text)


def _no_style_yet() -> str:
    return (f"no style is saved in {folders.first_folder(folders.STYLENETS)} yet: train one with StyleNet Optimize "
            "and Save StyleNet (or copy a shared .safetensors there), then press R to refresh the list")
