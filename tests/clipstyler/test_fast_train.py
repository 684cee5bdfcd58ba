"""Fast style transfer training: one step equals a plain computation of the authors' train_fast.py formulas on the
same crops and warps, written here independently of clipstyler (torchvision's perspective, torch.norm, nn.MSELoss).
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import transforms
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from clipstyler.adain import FastStyleNet
from clipstyler.clip.model import OPENAI_MEAN, OPENAI_STD
from clipstyler.errors import SettingError
from clipstyler.fast_settings import FastSettings
from clipstyler.fast_train import (
    FastObjective,
    ImageOrder,
    cut_training_crops,
    learning_rate,
    sample_fast_batch,
    shared_views,
    train_fast_stylenet,
)

CROP = 32


def start_net(seed: int = 0) -> FastStyleNet:
    torch.manual_seed(seed)
    return FastStyleNet()


def training_images() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    return [torch.rand(3, 48, 56, generator=generator), torch.rand(3, 40, 40, generator=generator),
            torch.rand(3, 64, 36, generator=generator)]


def settings(**changes) -> FastSettings:
    # threshold 1.06: with these random CLIP weights the view losses lie at 1.058-1.064, so some are rejected
    return FastSettings(**{"steps": 1, "batch_size": 2, "crop_size": CROP, "num_views": 3, "threshold": 1.06,
                           **changes})


def clip_normalize(images: torch.Tensor) -> torch.Tensor:
    """train_fast.py's clip_normalize: bicubic to 224, then CLIP's mean and std."""
    images = F.interpolate(images, size=224, mode="bicubic")
    mean = torch.tensor(OPENAI_MEAN).view(1, -1, 1, 1)
    std = torch.tensor(OPENAI_STD).view(1, -1, 1, 1)
    return (images - mean) / std


def plain_train_fast_loss(net: FastStyleNet, clip_model, direction, content, batch, s: FastSettings):
    """train_fast.py's loop body for one batch, with its own calls: (loss, the four terms, per-view losses)."""
    mse = nn.MSELoss()
    content_features = net.encoder(content)
    out_img = net.decoder(net.encoder(content))
    loss_c = mse(net.encoder(out_img), content_features)
    resize = transforms.Resize(224, antialias=False)
    start = [[0, 0], [CROP - 1, 0], [CROP - 1, CROP - 1], [0, CROP - 1]]
    views = batch.views
    aug_img = torch.cat([resize(TF.perspective(out_img, start, views.endpoints[k * s.batch_size].long().tolist(),
                                               InterpolationMode.BILINEAR, [0.0, 0.0, 0.0]))
                         for k in range(s.num_views)], dim=0)
    source_features = clip_model.encode_image(clip_normalize(content))
    source_features = source_features / source_features.norm(dim=-1, keepdim=True)
    image_features = clip_model.encode_image(clip_normalize(aug_img))
    image_features = image_features / image_features.norm(dim=-1, keepdim=True)
    img_direction = image_features - source_features.repeat(s.num_views, 1)
    img_direction = img_direction / img_direction.norm(dim=-1, keepdim=True)
    text_direction = direction.view(1, -1)
    loss_temp = 1 - torch.cosine_similarity(img_direction, text_direction.repeat(image_features.size(0), 1), dim=1)
    loss_temp = torch.where(loss_temp < s.threshold, torch.zeros_like(loss_temp), loss_temp)
    loss_patch = loss_temp.mean()
    glob_features = clip_model.encode_image(clip_normalize(out_img))
    glob_features = glob_features / glob_features.norm(dim=-1, keepdim=True)
    glob_direction = glob_features - source_features
    glob_direction = glob_direction / glob_direction.norm(dim=-1, keepdim=True)
    loss_glob = (1 - torch.cosine_similarity(glob_direction, text_direction.repeat(glob_features.size(0), 1),
                                             dim=1)).mean()
    diffs = (out_img[:, :, :, :-1] - out_img[:, :, :, 1:], out_img[:, :, :-1, :] - out_img[:, :, 1:, :],
             out_img[:, :, 1:, :-1] - out_img[:, :, :-1, 1:], out_img[:, :, :-1, :-1] - out_img[:, :, 1:, 1:])
    reg_tv = sum(torch.norm(d) for d in diffs)
    loss = (s.lambda_content * loss_c + s.lambda_patch * loss_patch + s.lambda_dir * loss_glob
            + s.lambda_tv * reg_tv)
    return loss, {"content": loss_c, "patch": loss_patch, "dir": loss_glob, "tv": reg_tv}, loss_temp


def draw(s: FastSettings, images):
    generator = torch.Generator().manual_seed(s.seed)
    order = ImageOrder(len(images), generator)
    return sample_fast_batch(order, [tuple(i.shape[-2:]) for i in images], s, generator)


@pytest.mark.parametrize("view_batch", [0, 1, 2])
def test_one_step_loss_and_gradient_equal_train_fast(clip, target, view_batch):
    s = settings(view_batch=view_batch)
    images = training_images()
    batch = draw(s, images)
    content = cut_training_crops(images, batch, CROP)
    ours_net, plain_net = start_net(), start_net()
    objective = FastObjective(clip, target, s, "fp32", torch.device("cpu"))
    with torch.no_grad():
        content_features = ours_net.encode(content)
    output = ours_net(content)
    ours = objective.backward(ours_net, output, content_features, objective.sources(content), batch.views)
    loss, terms, per_view = plain_train_fast_loss(plain_net, clip.model, target.direction, content, batch, s)
    loss.backward()
    assert 0 < int((per_view == 0).sum()) < len(per_view)  # some views rejected, some kept
    for name, value in terms.items():
        torch.testing.assert_close(ours[name], value.detach(), rtol=1e-5, atol=1e-6, msg=name)
    torch.testing.assert_close(ours["total"], loss.detach(), rtol=1e-5, atol=1e-6)
    for (name, a), b in zip(ours_net.decoder.named_parameters(), plain_net.decoder.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-7, msg=name)
    assert all(p.grad is None for p in ours_net.encoder.parameters())


def test_views_share_one_warp_across_the_batch():
    views = shared_views(4, 3, CROP, 0.5, torch.Generator().manual_seed(0))
    assert len(views) == 12 and views.image_index.tolist() == [0, 1, 2] * 4
    for k in range(4):
        block = views.endpoints[3 * k:3 * k + 3]
        assert torch.equal(block, block[:1].expand_as(block))
    assert not torch.equal(views.endpoints[0], views.endpoints[3])
    assert (views.top == 0).all() and (views.left == 0).all()


def test_image_order_draws_every_image_once_per_pass():
    order = ImageOrder(5, torch.Generator().manual_seed(0))
    drawn = order.take(3).tolist() + order.take(3).tolist() + order.take(4).tolist()
    assert sorted(drawn[:5]) == list(range(5)) and sorted(drawn[5:]) == list(range(5))


def test_learning_rate_is_train_fast_decay():
    s = FastSettings()
    assert learning_rate(0, s) == pytest.approx(1e-4)
    assert learning_rate(199, s) == pytest.approx(1e-4 / (1 + 5e-5 * 199))


def test_training_step_equals_a_plain_adam_step(clip, target):
    s = settings(view_batch=1)
    images = training_images()
    start = start_net()
    before = copy.deepcopy(start.state_dict())
    trained, losses = train_fast_stylenet(images, clip, target, start, s, "cpu")
    assert all(torch.equal(v, start.state_dict()[k]) for k, v in before.items())  # the start is left as it was
    plain = start_net()
    batch = draw(s, images)
    content = cut_training_crops(images, batch, CROP)
    loss, _, _ = plain_train_fast_loss(plain, clip.model, target.direction, content, batch, s)
    optimizer = torch.optim.Adam(plain.decoder.parameters(), lr=learning_rate(0, s))
    loss.backward()
    optimizer.step()
    assert losses["total"] == pytest.approx(float(loss.detach()), rel=1e-5)
    for key, value in plain.state_dict().items():
        torch.testing.assert_close(trained.state_dict()[key], value, rtol=1e-5, atol=1e-6, msg=key)
    moved = [k for k in before if k.startswith("decoder.") and not torch.equal(before[k], trained.state_dict()[k])]
    assert moved and all(torch.equal(before[k], trained.state_dict()[k]) for k in before if k.startswith("encoder."))


def test_training_reports_progress_and_takes_a_video_batch(clip, target):
    reports = []
    frames = torch.rand(5, 3, 40, 48, generator=torch.Generator().manual_seed(1))
    train_fast_stylenet(frames, clip, target, start_net(), settings(steps=3), "cpu", reports.append)
    assert [r.step for r in reports] == [1, 2, 3] and reports[-1].steps == 3
    assert reports[0].image.shape == (2, 3, CROP, CROP)
    assert 0 <= float(reports[0].image.min()) and float(reports[0].image.max()) <= 1
    assert set(reports[0].losses) == {"total", "patch", "dir", "content", "tv"}
    assert reports[1].lr == pytest.approx(1e-4 / (1 + 5e-5))


def test_same_seed_same_net(clip, target):
    frames = torch.rand(3, 3, 40, 40, generator=torch.Generator().manual_seed(2))
    a, _ = train_fast_stylenet(frames, clip, target, start_net(), settings(steps=2), "cpu")
    b, _ = train_fast_stylenet(frames, clip, target, start_net(), settings(steps=2), "cpu")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_images_smaller_than_a_crop_are_refused(clip, target):
    with pytest.raises(SettingError, match="smaller than crop_size.*lower crop_size"):
        train_fast_stylenet(torch.rand(2, 3, 24, 64), clip, target, start_net(), settings(), "cpu")
    with pytest.raises(SettingError, match="lower crop_size"):
        train_fast_stylenet(torch.rand(1, 3, 64, 64), clip, target, start_net(), settings(size=24), "cpu")
