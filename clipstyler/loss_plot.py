"""The loss curves as a picture: the total and each term over the steps, on a log scale, drawn with PIL alone.

The terms differ by orders of magnitude (the weighted total is in the hundreds or thousands, the terms are near 1
or below), so the y axis is logarithmic, with a grid line per power of ten. Zero, negative and non-finite values
cannot be placed on it: they break the line. Several runs (per-image mode on a batch) follow one another along x,
separated by a vertical line. The same points give the same pixels with the same Pillow (its own built-in font,
no system fonts), and the PNG is written atomically. web/loss_curve.js draws the same curves in ComfyUI, with the
same colours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from .atomic_write import atomic_write
from .errors import CLIPstylerError
from .loss_history import LossHistory, LossPoint, term_names
from .output_paths import check_output_file

PLOT_EXTENSIONS = (".png",)
DEFAULT_SIZE = (800, 480)  # (width, height) in px
MIN_SIZE = (240, 160)
BACKGROUND, AXIS, GRID, MINOR_GRID, TEXT = (255, 255, 255), (60, 60, 60), (205, 205, 205), (235, 235, 235), (30, 30, 30)
# One colour per term, the same in web/loss_curve.js; terms not listed here take EXTRA_COLOURS in order.
COLOURS = {"total": (17, 17, 17), "patch": (214, 39, 40), "dir": (31, 119, 180), "content": (44, 160, 44),
           "tv": (148, 103, 189), "temporal": (255, 127, 14)}
EXTRA_COLOURS = ((140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


def term_colours(names: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    """The colour of each term: its own if it has one, else the next of EXTRA_COLOURS (cycling)."""
    others = iter([name for name in names if name not in COLOURS])
    extra = {name: EXTRA_COLOURS[i % len(EXTRA_COLOURS)] for i, name in enumerate(others)}
    return {name: COLOURS.get(name) or extra[name] for name in names}


def draw_loss_curves(history: LossHistory | Sequence[LossPoint], size: tuple[int, int] = DEFAULT_SIZE,
                     title: str = "losses") -> Image.Image:
    """An RGB image (size = (width, height)) of every term of history over the steps; raises if it is empty."""
    points = history.points if isinstance(history, LossHistory) else list(history)
    if not points:
        raise CLIPstylerError("no losses were recorded: there is no curve to draw")
    width, height = size
    if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
        raise CLIPstylerError(f"the loss plot must be at least {MIN_SIZE[0]}x{MIN_SIZE[1]} px, got {width}x{height}")
    names = term_names(points)
    colours = term_colours(names)
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = _font(12)
    text_height = _text_size(draw, "0123456789e-", font)[1]
    legend = [f"{name}  {_last_value(points, name)}" for name in names]
    legend_width = max(_text_size(draw, text, font)[0] for text in legend) + 34
    left, top = _text_size(draw, "1e-10", font)[0] + 16, text_height * 3 + 20
    right, bottom = width - legend_width - 14, height - text_height * 2 - 20
    if right - left < 60 or bottom - top < 40:
        raise CLIPstylerError(f"the loss plot of {width}x{height} px is too small for its {len(names)} terms' legend")

    draw.text(((left + right - _text_size(draw, title, font)[0]) // 2, 8), title, fill=TEXT, font=font)
    draw.text((left - _text_size(draw, "1e-10", font)[0] - 10, top - text_height - 10), "loss (log scale)", fill=TEXT,
              font=font)
    x_low = min(p.position for p in points)
    x_high = max(max(p.position for p in points), x_low + 1)
    y_low, y_high = _decades([value for p in points for value in p.losses.values()])

    def x_of(position: float) -> float:
        return left + (position - x_low) / (x_high - x_low) * (right - left)

    def y_of(value: float) -> float:
        return top + (y_high - math.log10(value)) / (y_high - y_low) * (bottom - top)

    _grid(draw, font, left, right, top, bottom, x_low, x_high, y_low, y_high, x_of, y_of, text_height)
    for run_start in sorted({p.run * p.steps for p in points if p.run > 0}):
        x = round(x_of(run_start + 0.5))
        draw.line([(x, top), (x, bottom)], fill=AXIS, width=1)
    for name in reversed(names):  # the total last, on top
        _curve(draw, points, name, colours[name], 3 if name == "total" else 2, x_of, y_of)
    draw.rectangle([left, top, right, bottom], outline=AXIS, width=1)
    for row, (name, text) in enumerate(zip(names, legend)):
        y = top + row * (text_height + 10)
        draw.line([(right + 14, y + text_height // 2 + 1), (right + 34, y + text_height // 2 + 1)],
                  fill=colours[name], width=3)
        draw.text((right + 40, y), text, fill=TEXT, font=font)
    return image


def check_plot_output(path: str, what: str = "--plot") -> None:
    """Raise a CLIPstylerError now, before any long work, if the plot cannot be written to path later."""
    check_output_file(path, PLOT_EXTENSIONS, what)


def save_loss_plot(history: LossHistory | Sequence[LossPoint], path: str, size: tuple[int, int] = DEFAULT_SIZE,
                   title: str = "losses") -> None:
    """Draw the curves and write them as a PNG, atomically (a failed or cancelled write leaves no file)."""
    check_plot_output(path, "loss plot")
    image = draw_loss_curves(history, size, title)
    with atomic_write(path) as temporary:
        image.save(temporary, format="PNG")


def _last_value(points: Sequence[LossPoint], name: str) -> str:
    values = [p.losses[name] for p in points if name in p.losses and math.isfinite(p.losses[name])]
    return f"{values[-1]:.4g}" if values else "-"


def _decades(values: list[float]) -> tuple[int, int]:
    """The powers of ten around every positive finite value (at least one decade apart)."""
    positive = [v for v in values if math.isfinite(v) and v > 0]
    if not positive:
        return -1, 1
    low, high = math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
    return low, max(high, low + 1)


def _nice_step(span: float, ticks: int = 6) -> int:
    """A step of 1, 2 or 5 times a power of ten that puts about `ticks` ticks over span (at least 1)."""
    raw = max(span / ticks, 1.0)
    magnitude = 10 ** math.floor(math.log10(raw))
    return int(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))


def _grid(draw, font, left, right, top, bottom, x_low, x_high, y_low, y_high, x_of, y_of, text_height) -> None:
    decades = y_high - y_low
    every = max(1, math.ceil(decades / 8))  # at most about 8 labelled powers of ten
    for power in range(y_low, y_high + 1):
        y = round(y_of(10.0**power))
        if decades <= 4 and power < y_high:  # minor lines at 2..9 times the power when there is room
            for factor in range(2, 10):
                minor = round(y_of(factor * 10.0**power))
                draw.line([(left, minor), (right, minor)], fill=MINOR_GRID, width=1)
        if (power - y_low) % every:
            continue
        draw.line([(left, y), (right, y)], fill=GRID, width=1)
        label = _power_label(power)
        label_width = _text_size(draw, label, font)[0]
        draw.text((left - label_width - 6, y - text_height // 2 - 1), label, fill=TEXT, font=font)
    step = _nice_step(x_high - x_low)
    first = math.ceil(x_low / step) * step
    for position in range(first, x_high + 1, step):
        x = round(x_of(position))
        draw.line([(x, top), (x, bottom)], fill=GRID, width=1)
        label = str(position)
        draw.text((x - _text_size(draw, label, font)[0] // 2, bottom + 6), label, fill=TEXT, font=font)
    label = "step"
    draw.text(((left + right - _text_size(draw, label, font)[0]) // 2, bottom + text_height + 12), label, fill=TEXT,
              font=font)


def _power_label(power: int) -> str:
    return str(10**power) if 0 <= power <= 3 else f"1e{power}"


def _curve(draw, points, name, colour, width, x_of, y_of) -> None:
    """The term's polyline, broken where a value cannot go on a log axis (zero, negative, NaN, infinite)."""
    segment: list[tuple[float, float]] = []
    run = points[0].run

    def flush() -> None:
        if len(segment) == 1:
            (x, y), radius = segment[0], width
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
        elif segment:
            draw.line(segment, fill=colour, width=width, joint="curve")
        segment.clear()

    for point in points:
        if point.run != run:  # each run's curve starts afresh
            flush()
            run = point.run
        if name not in point.losses:
            continue  # a step without this term (e.g. it starts later): the line goes on over it
        value = point.losses[name]
        if math.isfinite(value) and value > 0:
            segment.append((round(x_of(point.position)), round(y_of(value))))
        else:
            flush()
    flush()


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)  # Pillow 10.1+ with FreeType: a scalable font
    except (TypeError, OSError, ImportError):  # older Pillow, or no FreeType: the built-in bitmap font
        return ImageFont.load_default()


def _text_size(draw: ImageDraw.ImageDraw, text: str, font) -> tuple[int, int]:
    box = draw.textbbox((0, 0), text, font=font)
    return box[2] - box[0], box[3] - box[1]
