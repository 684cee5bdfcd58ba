"""The pack's own socket types (ComfyUI's CLIP type is a text encoder only; ours is image+text)."""

from .comfy import io

ClipType = io.Custom("CLIPSTYLER_CLIP")  # clipstyler.StylerCLIP
TargetType = io.Custom("CLIPSTYLER_TARGET")  # clipstyler.StyleTarget
StyleNetType = io.Custom("CLIPSTYLER_STYLENET")  # clipstyler.TrainedStyle

CATEGORY = "CLIPstyler"
