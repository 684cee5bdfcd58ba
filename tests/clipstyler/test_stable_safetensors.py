import json

import torch
from safetensors.torch import load, safe_open, save

from clipstyler.stable_safetensors import stable_safetensors_bytes

METADATA = {name: f"value of {name} é" for name in ("kind", "ngf", "style_text", "source_text", "clip", "settings",
                                                     "digest", "version")}


def tensors():
    generator = torch.Generator().manual_seed(0)
    return {"b.weight": torch.randn(3, 4, generator=generator), "a.bias": torch.randn(5, generator=generator),
            "c.half": torch.randn(2, 2, generator=generator).half()}


def test_the_same_tensors_and_metadata_give_the_same_bytes_every_time():
    assert len({save(tensors(), metadata=METADATA) for _ in range(6)}) > 1  # what safetensors itself does
    assert len({stable_safetensors_bytes(tensors(), METADATA) for _ in range(6)}) == 1


def test_the_file_reads_back_the_same_tensors_and_metadata(tmp_path):
    data = stable_safetensors_bytes(tensors(), METADATA)
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    assert length % 8 == 0 and list(header) == sorted(header) and list(header["__metadata__"]) == sorted(METADATA)
    loaded = load(data)
    assert loaded.keys() == tensors().keys()
    for name, tensor in tensors().items():
        assert torch.equal(loaded[name], tensor) and loaded[name].dtype == tensor.dtype
    path = tmp_path / "s.safetensors"
    path.write_bytes(data)
    with safe_open(str(path), "pt") as file:
        assert file.metadata() == METADATA


def test_without_metadata():
    assert load(stable_safetensors_bytes(tensors())).keys() == tensors().keys()
