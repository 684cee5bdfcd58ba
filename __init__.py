"""ComfyUI-CLIPstyler: text-driven style transfer (CLIPstyler, Kwon & Ye, CVPR 2022) as ComfyUI nodes.

ComfyUI loads this file from custom_nodes/. The nodes are schema-API (io.ComfyNode) classes listed in
NODE_CLASS_MAPPINGS, the one route ComfyUI's loader checks first; comfy_entrypoint is deliberately not exported.

The nodes import the method from this folder's own `clipstyler` package, relatively (`..clipstyler`): nothing is
added to sys.path, so the pack cannot shadow another module, and a `clipstyler` installed elsewhere (another
version, say) cannot shadow the pack's own.
"""


def _node_mappings() -> tuple[dict, dict]:
    """The nodes, where this file is imported as ComfyUI imports it: as the package of this folder."""
    if not __package__:
        return {}, {}  # run as a plain module (pytest importing a folder's __init__.py): no package, no nodes
    try:
        from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
    except ImportError as error:
        if error.name != "comfy":
            raise  # a ComfyUI too old for the schema API, or a broken one: its message says what to do
        # No ComfyUI at all (the library's own tests, packaging tools): no nodes to offer; importing the nodes
        # themselves (`.nodes`) raises the error that says so.
        return {}, {}
    return NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS


NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = _node_mappings()

WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
