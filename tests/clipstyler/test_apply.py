import pytest
import torch

from clipstyler.adain import FastStyleNet
from clipstyler.apply import apply_stylenet, auto_chunk_size
from clipstyler.errors import CLIPstylerError
from clipstyler.stylenet import build_stylenet


def test_one_forward_per_frame_in_chunks_matches_unchunked():
    net = build_stylenet(seed=0).eval()
    frames = torch.rand(5, 3, 32, 40)
    calls = []
    chunked = apply_stylenet(net, frames, chunk_size=2, on_chunk=lambda done, total: calls.append((done, total)))
    whole = apply_stylenet(net, frames, chunk_size=8)
    assert chunked.shape == (5, 3, 32, 40)
    # oneDNN may pick another convolution algorithm for another batch size: equal up to float rounding
    assert torch.allclose(chunked, whole, atol=1e-5)
    assert calls == [(2, 5), (4, 5), (5, 5)]
    with torch.no_grad():
        assert torch.allclose(whole, net(frames), atol=1e-5)


def test_any_size_is_padded_and_cropped_back():
    out = apply_stylenet(build_stylenet(seed=0), torch.rand(2, 3, 37, 53))
    assert out.shape == (2, 3, 37, 53) and 0 <= out.min() and out.max() <= 1


def test_processing_size_resizes_there_and_back():
    out = apply_stylenet(build_stylenet(seed=0), torch.rand(1, 3, 60, 90), size=32)
    assert out.shape == (1, 3, 60, 90)


def test_out_of_memory_halves_the_chunk(monkeypatch):
    from clipstyler import apply as apply_module

    seen = []
    real_forward = apply_module._forward

    def flaky_forward(net, images, *args):
        seen.append(images.shape[0])
        if images.shape[0] > 2:
            raise torch.OutOfMemoryError("simulated")
        return real_forward(net, images, *args)

    monkeypatch.setattr(apply_module, "_forward", flaky_forward)
    out = apply_stylenet(build_stylenet(seed=0), torch.rand(6, 3, 16, 16), chunk_size=8)
    assert out.shape == (6, 3, 16, 16)
    assert seen == [6, 4, 2, 2, 2]  # 8 (6 left) fails, 4 fails, then three chunks of 2


def test_cpu_allocator_failure_also_halves_but_other_errors_propagate(monkeypatch):
    from clipstyler import apply as apply_module

    real_forward = apply_module._forward

    def cpu_oom(net, images, *args):
        if images.shape[0] > 1:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")
        return real_forward(net, images, *args)

    monkeypatch.setattr(apply_module, "_forward", cpu_oom)
    assert apply_stylenet(build_stylenet(seed=0), torch.rand(3, 3, 16, 16), chunk_size=4).shape == (3, 3, 16, 16)

    def broken(net, images, *args):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(apply_module, "_forward", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        apply_stylenet(build_stylenet(seed=0), torch.rand(3, 3, 16, 16), chunk_size=4)


def test_auto_chunk_size_follows_the_pixel_budget():
    assert (auto_chunk_size(512, 512), auto_chunk_size(1024, 1024), auto_chunk_size(2048, 2048)) == (8, 2, 1)


@pytest.mark.parametrize("height, width", [(1, 1), (8, 8), (4, 200), (3, 17)])
@pytest.mark.parametrize("kind", ["unet", "adain"])
def test_images_smaller_than_the_networks_need_are_padded_and_come_back_whole(height, width, kind):
    """Instance norms need more than one value at the nets' smallest scale (1/8): tiny frames are padded, then
    cropped; for both kinds of net (the U-Net StyleNet and the fast mode's AdaIN encoder-decoder)."""
    torch.manual_seed(0)
    net = build_stylenet(seed=0) if kind == "unet" else FastStyleNet()
    frames = torch.rand(2, 3, height, width)
    out = apply_stylenet(net, frames)
    assert out.shape == (2, 3, height, width) and torch.isfinite(out).all()


def test_bad_frames_and_devices_are_refused_before_any_work():
    net = build_stylenet(seed=0)
    with pytest.raises(CLIPstylerError, match="empty batch"):
        apply_stylenet(net, torch.zeros(0, 3, 16, 16))
    with pytest.raises(CLIPstylerError, match="divide 0-255 values by 255"):
        apply_stylenet(net, torch.rand(1, 3, 16, 16) * 255)
    with pytest.raises(CLIPstylerError, match="unknown device 'gpu0'"):
        apply_stylenet(net, torch.rand(1, 3, 16, 16), device="gpu0")
    with pytest.raises(CLIPstylerError, match="precision must be one of auto, fp32, bf16, fp16, got 'fp8'"):
        apply_stylenet(net, torch.rand(1, 3, 16, 16), precision="fp8")
