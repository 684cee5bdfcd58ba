"""The fast mode's commands (the paper's section 4): `train-fast` fine-tunes AdaIN's decoder on many images for a
text, `interpolate` blends two styles, `convert` turns an authors' released decoder into a .safetensors style.

Imported by cli.py when the parser is built; torch and the models load only when a command runs.
"""

from __future__ import annotations

import argparse
import os

from .cli import (
    FAST_FLAGS,
    IMAGE_SUFFIXES,
    _add_clip_arguments,
    _add_device_argument,
    _add_plot_argument,
    _add_settings_arguments,
    _device,
    _HelpFormatter,
    _load_clip,
    _loss_history,
    _settings,
    default_cache,
    log,
    write_loss_plot,
)
from .errors import CLIPstylerError
from .fast_settings import FastSettings


def add_fast_commands(commands) -> None:
    _add_train_fast(commands)
    _add_interpolate(commands)
    _add_convert(commands)


def _add_adain_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--encoder", metavar="FILE", help="AdaIN's vgg_normalised.pth (default: in the cache's adain/ "
                   "folder, downloaded there if missing)")


def _add_train_fast(commands) -> None:
    p = commands.add_parser("train-fast", help="the paper's fast mode: fine-tune AdaIN's decoder on many images "
                            "for a text, then stylize any image in one pass with `apply`",
                            formatter_class=_HelpFormatter)
    p.add_argument("images", nargs="+", help="training images: files and/or folders of images (e.g. video frames)")
    p.add_argument("text", help='style text, e.g. "oil painting by Van Gogh"')
    p.add_argument("-o", "--output", required=True, help="the trained style to write (.safetensors), for `apply`, "
                   "`interpolate` or ComfyUI's Load StyleNet")
    p.add_argument("--source-text", default="a Photo", help="what the inputs look like now")
    _add_plot_argument(p)
    _add_device_argument(p)
    _add_clip_arguments(p)
    _add_adain_arguments(p)
    p.add_argument("--decoder", metavar="FILE", help="the decoder to start from (default: AdaIN's decoder.pth in the "
                   "cache's adain/ folder, downloaded there if missing)")
    p.add_argument("--random-weights", action="store_true", help="random CLIP, encoder and decoder (testing only)")
    p.add_argument("--mask", metavar="FILE_OR_FOLDER", help="train only on crops at least half white in the mask: "
                   "one mask image for every training image, or a folder of one mask per image (in name order); "
                   "the images must then share one size. Give `apply` the same mask")
    p.add_argument("--invert-mask", action="store_true", help="train where --mask is black instead")
    p.add_argument("--feather", type=int, default=0, help="soften the mask's edge over this many px, inside it")
    _add_settings_arguments(p, FastSettings, FAST_FLAGS)


def _add_interpolate(commands) -> None:
    p = commands.add_parser("interpolate", help="blend two saved styles: (1 - w) * a + w * b, one image per weight "
                            "and input", formatter_class=_HelpFormatter)
    p.add_argument("style_a", help="style at weight 0 (.safetensors, or a released clip_decoder_*.pth.tar)")
    p.add_argument("style_b", help="style at weight 1")
    p.add_argument("images", nargs="*", help="images to stylize at every weight")
    p.add_argument("-o", "--output-dir", help="folder for the images: NAME_w0.50.png per input and weight")
    p.add_argument("--weights", default="0, 0.25, 0.5, 0.75, 1", help="weights from 0 (a) to 1 (b)")
    p.add_argument("--save-style", metavar="FILE.safetensors", help="also write the blended style (one weight only)")
    p.add_argument("--size", type=int, default=0, help="long side for the pass in px (0: each image's own size)")
    _add_adain_arguments(p)
    p.add_argument("--cache-dir", default=default_cache(), help="where downloaded weights go (also $CLIPSTYLER_CACHE)")
    _add_device_argument(p)


def _add_convert(commands) -> None:
    p = commands.add_parser("convert", help="turn one of the authors' released fast-mode decoders "
                            "(clip_decoder_*.pth.tar) into this pack's .safetensors style",
                            formatter_class=_HelpFormatter)
    p.add_argument("decoder", help="the decoder file (a plain state dict saved with torch.save)")
    p.add_argument("-o", "--output", required=True, help="the .safetensors style to write")
    p.add_argument("--text", help="the style text it was trained for (default: from the file name)")
    _add_adain_arguments(p)
    p.add_argument("--cache-dir", default=default_cache(), help="where downloaded weights go (also $CLIPSTYLER_CACHE)")


def _adain_folder(args) -> str:
    return os.path.join(args.cache_dir, "adain")


def _encoder_path(args) -> str:
    from .adain import ENCODER_FILENAME
    from .adain_weights import adain_file

    return os.path.expanduser(args.encoder) if args.encoder else adain_file(_adain_folder(args), ENCODER_FILENAME)


def load_style_or_decoder(args, path: str):
    """A saved style, or a released decoder with AdaIN's encoder (--encoder, or the cache's, downloaded if missing)."""
    from .stylenet_file import is_released_decoder, load_any_style

    path = os.path.expanduser(path)
    return load_any_style(path, _encoder_path(args) if is_released_decoder(path) else None)


def training_files(paths: list[str]) -> list[str]:
    """Image files from files and folders (a folder's images in name order, not recursive)."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if n.lower().endswith(IMAGE_SUFFIXES))
            if not names:
                raise CLIPstylerError(f"{path}: no images in this folder ({', '.join(IMAGE_SUFFIXES)})")
            found += [os.path.join(path, name) for name in names]
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise CLIPstylerError(f"{path}: no such file or folder")
    return found


def training_masks(path: str, invert: bool, count: int, size: tuple[int, int]):
    """train-fast's --mask: a (1 or count, H, W) batch at the images' size (H, W) from one mask file, or a folder
    with one mask per training image (name order)."""
    import torch

    from .mask import fit_mask, load_mask

    files = training_files([path])
    if os.path.isdir(path) and len(files) != count:
        raise CLIPstylerError(f"--mask {path}: {len(files)} mask(s) for {count} training image(s); give one mask per "
                              "image (in name order), or one mask file for all")
    return torch.cat([fit_mask(load_mask(file, invert), 1, *size)[:, 0] for file in files])


def one_size_batch(images: list, files: list[str]):
    """The training images as one (N, 3, H, W) batch, which a mask needs; refused if their sizes differ."""
    import torch

    sizes = {tuple(image.shape[-2:]) for image in images}
    if len(sizes) > 1:
        first = tuple(images[0].shape[-2:])
        other = next(i for i, image in enumerate(images) if tuple(image.shape[-2:]) != first)
        raise CLIPstylerError(f"--mask needs training images of one size (e.g. video frames): {files[0]} is "
                              f"{first[1]}x{first[0]}, {files[other]} is {images[other].shape[-1]}x"
                              f"{images[other].shape[-2]}")
    return torch.cat(images)


def _start_net(args):
    from .adain import DECODER_FILENAME, FastStyleNet
    from .adain_weights import adain_file, load_fast_stylenet

    if args.random_weights:
        return FastStyleNet()
    encoder = _encoder_path(args)
    decoder = os.path.expanduser(args.decoder) if args.decoder else adain_file(_adain_folder(args), DECODER_FILENAME)
    return load_fast_stylenet(encoder, decoder)


def run_train_fast(args) -> None:
    from .text_checks import check_style_texts

    settings = _settings(args, FastSettings)
    check_style_texts(args.text, args.source_text)  # before the heavy imports and the models

    from tqdm import tqdm

    from .fast_train import prepare_training_images, train_fast_stylenet
    from .image_io import load_image
    from .mask import check_feather, training_crop_positions
    from .stylenet_file import TrainedStyle, check_style_output, save_style, weights_digest
    from .text import encode_style_target

    check_style_output(args.output)
    history = _loss_history(args)
    files = training_files(args.images)
    images = [load_image(path) for path in files]
    region = {}
    if args.mask:  # checked now, before any model loads
        images = one_size_batch(images, files)
        region = {"mask": training_masks(args.mask, args.invert_mask, len(files), tuple(images.shape[-2:])),
                  "feather": check_feather(args.feather)}
        work_size = tuple(prepare_training_images(images[:1], settings)[0].shape[-2:])
        training_crop_positions(images, region["mask"], args.feather, work_size, settings.crop_size)  # not empty
    else:
        images = prepare_training_images(images, settings)
    device = _device(args.device)
    log.info("loading AdaIN's encoder and decoder")  # first: the smaller files, and the fast mode's own
    start = _start_net(args)
    log.info("loading CLIP %s", "(random weights)" if args.random_weights else args.clip)
    clip = _load_clip(args)
    log.info("encoding the style text %r on %s", args.text, device)
    target = encode_style_target(clip.to(device), args.text, args.source_text)
    log.info("training the fast StyleNet: %d iterations on %d image(s), %d crops of %d px each%s, on %s",
             settings.steps, len(images), settings.batch_size, settings.crop_size,
             " inside the mask" if region else "", device)
    with tqdm(total=settings.steps, desc=args.text[:40], unit="it") as bar:
        def on_step(report) -> None:
            bar.update(1)
            if history is not None:
                history.record(report)  # kept on the device: no sync
            if report.step % 10 == 0 or report.step == report.steps:
                bar.set_postfix(loss=f"{float(report.losses['total']):.3f}")

        net, _ = train_fast_stylenet(images, clip, target, start, settings, device, on_step, **region)
    style = TrainedStyle(net, target.style_text, target.source_text, clip.name, settings.to_dict(),
                         weights_digest(start.decoder))
    save_style(style, args.output)
    log.info("wrote %s (apply it with: python -m clipstyler apply %s IMAGES -o FOLDER)", args.output, args.output)
    write_loss_plot(history, args.plot, args.text)


def interpolation_outputs(images: list[str], weights: list[float], output_dir: str) -> list[list[str]]:
    """Per weight, one output path per input: NAME_w0.25.png."""
    from .output_names import plan_outputs

    planned = plan_outputs(images, output_dir)
    return [[f"{os.path.splitext(path)[0]}_w{weight:.2f}.png" for path in planned] for weight in weights]


def run_interpolate(args) -> None:
    from .image_io import load_image, save_image
    from .interpolate import blend_styles, interpolation_frames, parse_weights, why_not_shared
    from .output_paths import check_output_folder
    from .stylenet_file import check_style_output, save_style

    weights = parse_weights(args.weights)
    if args.save_style:
        if len(weights) != 1:
            raise CLIPstylerError(f"--save-style writes one style: give one weight (--weights 0.5), not {len(weights)}")
        check_style_output(args.save_style)
    if args.images and not args.output_dir:
        raise CLIPstylerError("-o/--output-dir: where should the interpolated images go?")
    if not args.images and not args.save_style:
        raise CLIPstylerError("nothing to do: give images (with -o FOLDER) and/or --save-style FILE")
    outputs = []
    if args.images:
        check_output_folder(args.output_dir, "-o")
        outputs = interpolation_outputs(args.images, weights, args.output_dir)
    a, b = load_style_or_decoder(args, args.style_a), load_style_or_decoder(args, args.style_b)
    reason = why_not_shared(a, b)
    log.info("%s %r and %r", "interpolating the weights of" if reason is None else "blending the outputs of",
             a.style_text, b.style_text)
    device = _device(args.device)
    for number, source in enumerate(args.images):
        frames = interpolation_frames(a, b, load_image(source), weights, device, size=args.size)
        for index, frame in enumerate(frames):
            save_image(frame[None], outputs[index][number])
    if args.images:
        log.info("wrote %d image(s) to %s", len(args.images) * len(weights), args.output_dir)
    if args.save_style:
        save_style(blend_styles(a, b, weights[0], warn=False), args.save_style)
        log.info("wrote %s", args.save_style)


def run_convert(args) -> None:
    from .stylenet_file import check_style_output, load_released_decoder, save_style

    check_style_output(args.output)
    style = load_released_decoder(os.path.expanduser(args.decoder), _encoder_path(args), args.text)
    save_style(style, args.output)
    log.info("wrote %s (style text %r)", args.output, style.style_text)
