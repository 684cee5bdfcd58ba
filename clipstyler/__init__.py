"""CLIPstyler (Kwon & Ye, CVPR 2022) as a plain PyTorch library: text-driven style transfer with a CLIP-supervised
StyleNet. Usable without ComfyUI; the ComfyUI nodes in ../nodes only translate to and from it."""

from .apply import apply_stylenet
from .clip_loading import load_clip_file, load_pretrained_clip
from .clip_model import StylerCLIP
from .errors import CLIPstylerError
from .optimize import StepReport, StyleResult, stylize, train_stylenet
from .settings import StyleSettings
from .stylenet import StyleNet, build_stylenet
from .stylenet_file import TrainedStyle, load_style, save_style
from .text import DEFAULT_SOURCE_TEXT, StyleTarget, encode_style_target
from .vgg import VGGContent, load_vgg19, load_vgg19_from_folder

__version__ = "0.1.0"

__all__ = [
    "CLIPstylerError",
    "DEFAULT_SOURCE_TEXT",
    "StepReport",
    "StyleNet",
    "StyleResult",
    "StyleSettings",
    "StyleTarget",
    "StylerCLIP",
    "TrainedStyle",
    "VGGContent",
    "apply_stylenet",
    "build_stylenet",
    "encode_style_target",
    "load_clip_file",
    "load_pretrained_clip",
    "load_style",
    "load_vgg19",
    "load_vgg19_from_folder",
    "save_style",
    "stylize",
    "train_stylenet",
]
