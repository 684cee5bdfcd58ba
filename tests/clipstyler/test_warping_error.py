import pytest
import torch
from tests_support import REPO

from clipstyler.errors import CLIPstylerError
from clipstyler.image_io import load_image
from clipstyler.warping_error import synthetic_clip, warping_error


def shift_flow(frames: int, height: int, width: int, dx: float, dy: float) -> torch.Tensor:
    flow = torch.zeros(frames, 2, height, width)
    flow[:, 0], flow[:, 1] = dx, dy
    return flow


def test_hand_computed_two_frames():
    before = torch.tensor([[[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]]])
    after = torch.tensor([[[[9.0, 1.0, 3.0], [9.0, 4.0, 4.0]]]])
    # flow dx = 1: frame 0's pixel (y, x) is frame 1's (y, x + 1); the last column leaves the frame (masked)
    # kept: row 0: (1 - 0)^2, (3 - 1)^2; row 1: (4 - 3)^2, (4 - 4)^2 -> 6 over 4 values
    error = warping_error(torch.cat([before, after]), shift_flow(1, 2, 3, 1.0, 0.0))
    assert error == pytest.approx(6 / 4)


def test_a_clip_that_follows_the_flow_scores_zero_and_flicker_scores_its_square():
    generator = torch.Generator().manual_seed(0)
    base = torch.rand(1, 3, 12, 16, generator=generator)
    frames = torch.cat([torch.roll(base, shifts=-t, dims=-1) for t in range(4)])  # content moves 1 px left a frame
    flows = shift_flow(3, 12, 16, -1.0, 0.0)
    assert warping_error(frames, flows) == pytest.approx(0.0, abs=1e-12)
    offsets = torch.tensor([0.0, 0.1, -0.1, 0.0]).view(4, 1, 1, 1)
    # the mean over pairs of the squared frame-to-frame change: (0.1^2 + 0.2^2 + 0.1^2) / 3
    assert warping_error(frames + offsets, flows) == pytest.approx((0.01 + 0.04 + 0.01) / 3, rel=1e-6)


def test_given_masks_are_used():
    frames = torch.stack([torch.zeros(3, 4, 4), torch.ones(3, 4, 4)])
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 0, 0] = 1
    assert warping_error(frames, torch.zeros(1, 2, 4, 4), mask) == pytest.approx(1.0)


def test_bad_shapes_are_named():
    with pytest.raises(CLIPstylerError, match="T >= 2"):
        warping_error(torch.rand(1, 3, 4, 4), torch.zeros(0, 2, 4, 4))
    with pytest.raises(CLIPstylerError, match=r"\(2, 2, H, W\) flows"):
        warping_error(torch.rand(3, 3, 4, 4), torch.zeros(3, 2, 4, 4))


@pytest.fixture(scope="module")
def astronaut() -> torch.Tensor:
    return load_image(f"{REPO}/assets/astronaut.jpg")


def test_synthetic_pan_has_the_exact_flow_and_only_the_border_occluded(astronaut):
    clip = synthetic_clip(astronaut, frames=5, height=32, width=40, pan=2.0, zoom=0.0)
    assert clip.frames.shape == (5, 3, 32, 40) and clip.flows.shape == (4, 2, 32, 40)
    assert 0 <= clip.frames.min() and clip.frames.max() <= 1
    # content moves 2 px left per frame: frame t-1's pixel x is at x - 2 in frame t
    assert torch.allclose(clip.flows[:, 0], torch.full((4, 32, 40), -2.0), atol=1e-5)
    assert torch.allclose(clip.flows[:, 1], torch.zeros(4, 32, 40), atol=1e-5)
    assert (clip.masks[..., :2] == 0).all() and (clip.masks[..., 2:] == 1).all()
    assert torch.allclose(clip.frames[1, :, :, :-2], clip.frames[0, :, :, 2:], atol=1e-5)
    assert warping_error(clip.frames, clip.flows, clip.masks) < 1e-10


def test_synthetic_zoom_moves_points_outwards_and_the_flow_stays_exact(astronaut):
    clip = synthetic_clip(astronaut, frames=4, height=64, pan=2.0, zoom=0.02)
    flow_x = clip.flows[0, 0]
    # zooming in: the right edge moves further right than the left edge; the centre moves by the pan alone
    assert flow_x[32, 63] - flow_x[32, 0] == pytest.approx(63 * (1 / 0.98 - 1), rel=1e-3)
    assert flow_x[32, 31:33].mean() == pytest.approx(-2 / 0.98, abs=0.05)
    # the input follows its own flow up to the bilinear resampling: far below a 1 px misalignment
    exact = warping_error(clip.frames, clip.flows, clip.masks)
    off_by_one = warping_error(clip.frames, clip.flows + torch.tensor([1.0, 0.0]).view(1, 2, 1, 1), clip.masks)
    assert exact < 0.05 * off_by_one


def test_synthetic_clip_refuses_bad_motion(astronaut):
    with pytest.raises(CLIPstylerError, match="at least 2 frames"):
        synthetic_clip(astronaut, frames=1, height=32)
    with pytest.raises(CLIPstylerError, match="zoom in"):
        synthetic_clip(astronaut, frames=3, height=32, zoom=0.6)
