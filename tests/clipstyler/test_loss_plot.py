import os

import numpy as np
import pytest
from PIL import Image

from clipstyler.errors import CLIPstylerError
from clipstyler.loss_history import LossPoint
from clipstyler.loss_plot import COLOURS, EXTRA_COLOURS, draw_loss_curves, save_loss_plot, term_colours


def points(total, patch, steps=None, run=0, **others):
    steps = steps or len(total)
    return [LossPoint(run, i + 1, steps, {"total": t, "patch": p, **{k: v[i] for k, v in others.items()}})
            for i, (t, p) in enumerate(zip(total, patch))]


DECREASING = points([1000 * 0.5**i for i in range(20)], [0.9 - 0.01 * i for i in range(20)],
                    content=[0.05] * 20, tv=[200.0 + i for i in range(20)])


def pixels_of(image: Image.Image, colour) -> np.ndarray:
    """(y, x) of every pixel of exactly this colour."""
    return np.argwhere((np.asarray(image) == np.array(colour, dtype=np.uint8)).all(axis=-1))


def test_writes_a_png_with_a_curve_per_term(tmp_path):
    path = tmp_path / "plots" / "losses.png"  # a missing folder is created
    save_loss_plot(DECREASING, str(path), size=(640, 400))
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (640, 400) and image.mode == "RGB"
        picture = image.copy()
    for name in ("total", "patch", "content", "tv"):
        assert len(pixels_of(picture, COLOURS[name])) > 100, name  # a line across the plot, not a legend mark only
    assert len(pixels_of(picture, COLOURS["dir"])) == 0  # no such term, no such colour
    assert [p for p in os.listdir(path.parent)] == ["losses.png"]  # no temporary file left


def test_curves_fall_where_the_values_fall_on_a_log_scale():
    picture = draw_loss_curves(DECREASING, size=(800, 480))
    total = pixels_of(picture, COLOURS["total"])
    plot = total[total[:, 1] < 800 * 0.75]  # leave out the legend on the right
    first, last = plot[plot[:, 1] == plot[:, 1].min()], plot[plot[:, 1] == plot[:, 1].max()]
    drop = last[:, 0].mean() - first[:, 0].mean()  # y grows downwards
    content = pixels_of(picture, COLOURS["content"])
    content = content[content[:, 1] < 800 * 0.75]
    assert drop > 0 and np.ptp(content[:, 0]) <= 3  # the total falls; a constant term is a flat line
    # Equal ratios, equal heights: the total halves each step, so its slope is straight on a log axis.
    middle = plot[np.abs(plot[:, 1] - (plot[:, 1].min() + plot[:, 1].max()) / 2) <= 1]
    assert abs(middle[:, 0].mean() - (first[:, 0].mean() + last[:, 0].mean()) / 2) < 4


def test_different_histories_give_different_pictures_and_the_same_one_the_same_bytes(tmp_path):
    other = points([1000 * 0.9**i for i in range(20)], [0.5] * 20, content=[0.05] * 20, tv=[200.0] * 20)
    a, b, again = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "again.png"
    save_loss_plot(DECREASING, str(a))
    save_loss_plot(other, str(b))
    save_loss_plot(DECREASING, str(again))
    assert not np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
    assert a.read_bytes() == again.read_bytes()


def test_values_that_cannot_go_on_a_log_axis_break_the_line():
    zero_patch = points([100.0 / (i + 1) for i in range(10)], [0.0] * 10)
    picture = draw_loss_curves(zero_patch, size=(800, 480))
    red = pixels_of(picture, COLOURS["patch"])
    assert len(red) and red[:, 1].min() > 800 * 0.75  # the legend's mark only: no line for a term that is 0
    gap = points([10.0, 5.0, float("nan"), 2.0, 1.0], [0.5, 0.4, -1.0, 0.3, 0.2])
    assert draw_loss_curves(gap).size == (800, 480)


def test_runs_follow_one_another_and_extra_terms_get_their_own_colours():
    two = points([10.0, 5.0, 2.0], [0.5, 0.4, 0.3], temporal=[0.1, 0.1, 0.1], mystery=[1.0, 1.0, 1.0])
    two += points([9.0, 4.0, 1.0], [0.5, 0.4, 0.3], run=1, temporal=[0.1] * 3, mystery=[1.0] * 3)
    assert [p.position for p in two] == [1, 2, 3, 4, 5, 6]
    picture = draw_loss_curves(two)
    assert len(pixels_of(picture, COLOURS["temporal"])) > 50 and len(pixels_of(picture, EXTRA_COLOURS[0])) > 50
    assert term_colours(["total", "x", "temporal", "y"]) == {
        "total": COLOURS["total"], "x": EXTRA_COLOURS[0], "temporal": COLOURS["temporal"], "y": EXTRA_COLOURS[1]}


def test_refuses_what_it_cannot_draw_or_write(tmp_path):
    with pytest.raises(CLIPstylerError, match="no losses were recorded"):
        draw_loss_curves([])
    with pytest.raises(CLIPstylerError, match="at least 240x160 px"):
        draw_loss_curves(DECREASING, size=(100, 100))
    with pytest.raises(CLIPstylerError, match=r"has '.jpg': use one of .png"):
        save_loss_plot(DECREASING, str(tmp_path / "losses.jpg"))
    assert not (tmp_path / "losses.jpg").exists()
