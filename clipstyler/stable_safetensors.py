"""safetensors bytes that depend only on the tensors and the metadata.

safetensors (0.8 at least) writes the metadata's keys in a random order on every save (safetensors issue 584), so
two identical runs saved different bytes. The header is JSON with explicit data offsets, so re-writing it with
sorted keys gives an equally valid file: the same tensors and metadata, the same bytes every time.
"""

from __future__ import annotations

import json

import torch
from safetensors.torch import save

HEADER_LENGTH_BYTES = 8  # a little-endian u64 before the JSON header
HEADER_ALIGNMENT = 8  # safetensors pads its header with spaces to a multiple of 8 bytes


def stable_safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """safetensors.torch.save's file, its header's keys sorted (the data section is already in a fixed order)."""
    data = save(tensors, metadata=metadata)
    length = int.from_bytes(data[:HEADER_LENGTH_BYTES], "little")
    header = json.loads(data[HEADER_LENGTH_BYTES:HEADER_LENGTH_BYTES + length])
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % HEADER_ALIGNMENT)
    return len(text).to_bytes(HEADER_LENGTH_BYTES, "little") + text + data[HEADER_LENGTH_BYTES + length:]
