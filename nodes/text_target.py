"""Text Style Target (CLIPstyler): the style and source texts as one CLIP direction, encoded once."""

from __future__ import annotations

from ..clipstyler.text import DEFAULT_SOURCE_TEXT, encode_style_target
from .comfy import io
from .device import on_compute_device
from .types import CATEGORY, ClipType, TargetType

TEXT_WORKING_BYTES = 256 * 2**20  # 79 short prompts through CLIP's text tower, no gradients


class TextStyleTarget(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CLIPstylerTextStyleTarget",
            display_name="Text Style Target (CLIPstyler)",
            category=CATEGORY,
            description="Encodes the change from the source text to the style text through CLIP's prompt "
            "templates. Connect it to any number of StyleNet Optimize nodes.",
            inputs=[
                ClipType.Input("clip", tooltip="The CLIP from Load CLIP (CLIPstyler); use the same one to optimise."),
                io.String.Input(
                    "style_text",
                    default="oil painting by Van Gogh",
                    multiline=True,
                    tooltip="The style to move towards: a texture or a look ('white wool', 'fire'). Over-specific "
                    "prompts ('a painting of a forest') draw objects rather than texture. CLIP reads 77 tokens "
                    "(about 60 words with the prompt templates); a longer text is cut, with a warning.",
                ),
                io.String.Input(
                    "source_text",
                    default=DEFAULT_SOURCE_TEXT,
                    tooltip="What the input looks like now; the paper uses 'a Photo'.",
                ),
            ],
            outputs=[TargetType.Output(display_name="target", tooltip="The unit text direction in CLIP space.")],
        )

    @classmethod
    def validate_inputs(cls, style_text: str | None = None) -> bool | str:
        # Only style_text is declared: ComfyUI reports a message once for each input this function takes, and
        # skips its own checks for them. An empty source_text is refused when the node runs, before any work.
        if isinstance(style_text, str) and not style_text.strip():
            return "style_text is empty: type the style you want, e.g. 'oil painting by Van Gogh'"
        return True

    @classmethod
    def execute(cls, clip, style_text: str, source_text: str = DEFAULT_SOURCE_TEXT) -> io.NodeOutput:
        with on_compute_device(clip.model, working_bytes=TEXT_WORKING_BYTES):
            target = encode_style_target(clip, style_text, source_text)
        return io.NodeOutput(target, ui={"text": list(target.notes)} if target.notes else None)
