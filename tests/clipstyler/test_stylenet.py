import pytest
import torch

from clipstyler.stylenet import StyleNet, build_stylenet


def test_parameter_count_matches_the_reference():
    assert sum(p.numel() for p in StyleNet().parameters()) == 615_267


def test_shape_and_range():
    out = StyleNet()(torch.rand(2, 3, 40, 56))
    assert out.shape == (2, 3, 40, 56)
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_channel_widths():
    net = StyleNet(16)
    assert [net.down1.down.out_channels, net.down2.down.out_channels, net.down3.down.out_channels] == [16, 32, 64]
    assert net.bottleneck.skip.out_channels == 128


def test_size_not_multiple_of_8_is_a_clear_error():
    with pytest.raises(ValueError, match="multiples of 8"):
        StyleNet()(torch.rand(1, 3, 30, 32))


def test_seeded_init_is_reproducible_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = build_stylenet(seed=5), build_stylenet(seed=5)
    after = torch.rand(1)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert torch.equal(before, after)
    c = build_stylenet(seed=6)
    assert not torch.equal(a.conv_init.weight, c.conv_init.weight)
