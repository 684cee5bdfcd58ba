"""The pack's ComfyUI nodes: thin wrappers that translate between ComfyUI and the clipstyler library."""

from .apply import FastStyleApply
from .fast_train import TrainFastStyleNet
from .folders import register_folders
from .interpolate import InterpolateStyleNets
from .load_clip import LoadCLIP
from .optimize import StyleNetOptimize
from .stylenet_files import LoadStyleNet, SaveStyleNet
from .text_target import TextStyleTarget

register_folders()

NODES = [LoadCLIP, TextStyleTarget, StyleNetOptimize, TrainFastStyleNet, FastStyleApply, InterpolateStyleNets,
         SaveStyleNet, LoadStyleNet]
NODE_CLASS_MAPPINGS = {node.define_schema().node_id: node for node in NODES}
NODE_DISPLAY_NAME_MAPPINGS = {node.define_schema().node_id: node.define_schema().display_name for node in NODES}
