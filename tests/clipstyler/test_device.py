import os

import pytest
import torch

from clipstyler.device import default_device, resolve_device
from clipstyler.errors import CLIPstylerError


def test_cpu_and_default():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device(default_device()).type in ("cpu", "cuda", "mps")


def test_unknown_name_is_one_clear_line():
    with pytest.raises(CLIPstylerError, match="unknown device 'cdua': use cpu, cuda, cuda:N or mps") as error:
        resolve_device("cdua")
    assert "\n" not in str(error.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(CLIPstylerError, match="no CUDA GPU is usable here"):
        resolve_device("cuda")
    with pytest.raises(CLIPstylerError, match="no CUDA GPU"):
        resolve_device("cuda:1")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_index_beyond_the_gpus():
    with pytest.raises(CLIPstylerError, match="CUDA GPU"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="needs a machine without Metal")
def test_mps_without_metal():
    with pytest.raises(CLIPstylerError, match="Metal backend is not available") as error:
        resolve_device("mps")
    assert "or mps" not in str(error.value) and "use cpu" in str(error.value)


@pytest.mark.parametrize("setting, warned", [(None, True), ("0", True), ("1", False)])
def test_mps_without_the_cpu_fallback_says_how_to_turn_it_on(monkeypatch, caplog, setting, warned):
    """torch.device("mps") is only a name here: the check before it is what is tested."""
    import clipstyler.device as device_module

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    if setting is None:
        monkeypatch.delenv("PYTORCH_ENABLE_MPS_FALLBACK", raising=False)
    else:
        monkeypatch.setenv("PYTORCH_ENABLE_MPS_FALLBACK", setting)
    device_module._warn_without_mps_fallback.cache_clear()
    with caplog.at_level("WARNING", logger="clipstyler"):
        assert resolve_device("mps") == torch.device("mps")
    assert ("start Python with PYTORCH_ENABLE_MPS_FALLBACK=1" in caplog.text) is warned


def test_the_command_line_turns_the_mps_fallback_on_but_keeps_an_explicit_choice(monkeypatch):
    from clipstyler.cli import enable_mps_fallback

    monkeypatch.delenv("PYTORCH_ENABLE_MPS_FALLBACK", raising=False)
    enable_mps_fallback()
    assert os.environ["PYTORCH_ENABLE_MPS_FALLBACK"] == "1"
    monkeypatch.setenv("PYTORCH_ENABLE_MPS_FALLBACK", "0")
    enable_mps_fallback()
    assert os.environ["PYTORCH_ENABLE_MPS_FALLBACK"] == "0"
