"""Command line: `python -m clipstyler stylize IN.png "oil painting" -o OUT.png`, `apply` for saved styles, and the
fast mode: `train-fast` (AdaIN's decoder fine-tuned on many images), `interpolate` and `convert`.

Only argparse and the settings are imported up front; torch, open_clip and the models load when a command runs, so
`--help` answers at once. The optimisation flags are built from StyleSettings' fields (help, default, choices).
Every output path is checked before the long work starts, files are written atomically, and errors are one or a
few lines naming the flag to change.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import fields

from .errors import CLIPstylerError, SettingError, WeightsUnavailable
from .fast_settings import FastSettings
from .settings import StyleSettings

log = logging.getLogger("clipstyler")

DEFAULT_CLIP = "ViT-B-32/openai"
RESIZE_METHODS = ("torch", "pil")  # clipstyler.image_io.RESIZE_METHODS, which would import torch for --help
CHECKPOINT_EXTENSIONS = (".pt", ".pth", ".bin", ".safetensors")


def default_cache() -> str:
    """Where downloaded weights go: $CLIPSTYLER_CACHE, else ~/.cache/clipstyler."""
    return os.environ.get("CLIPSTYLER_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "clipstyler")


def setting_flag(name: str, settings_class=StyleSettings) -> str:
    """The command-line flag of a settings field (e.g. num_crops -> --crops)."""
    spec = next(f for f in fields(settings_class) if f.name == name)
    return spec.metadata["flag"] or "--" + name.replace("_", "-")


FLAGS = {spec.name: setting_flag(spec.name) for spec in fields(StyleSettings)}
FAST_FLAGS = {spec.name: setting_flag(spec.name, FastSettings) for spec in fields(FastSettings)}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


# --- arguments -----------------------------------------------------------------------------------------------------


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each default, except where there is none to show (required, unset, or an off switch)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.required or action.default is None or action.default is False or "%(default)" in action.help:
            return action.help
        return super()._get_help_string(action)


def _add_settings_arguments(parser: argparse.ArgumentParser, settings_class=StyleSettings, flags=None) -> None:
    flags = flags or FLAGS
    group = parser.add_argument_group("optimisation settings (defaults are the paper's unless the help says not)")
    for spec in fields(settings_class):
        meta, kind = spec.metadata, type(spec.default)
        options = {"dest": spec.name, "default": spec.default, "help": meta["help"].replace("%", "%%")}  # argparse
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = kind
            options["choices"] = meta["choices"]
            options["metavar"] = None if meta["choices"] else flags[spec.name][2:].upper().replace("-", "_")
        group.add_argument(flags[spec.name], **options)


def _add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or mps; auto: a GPU if there is one")


def _add_plot_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plot", metavar="FILE.png", help="also write the loss curves (the total and each term, "
                        "per step, log scale) as a PNG image after the run")


def _add_clip_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clip", default=DEFAULT_CLIP, help="open_clip ARCH/TAG to download (into the cache), or a "
                   "full CLIP checkpoint file, e.g. OpenAI's ViT-B-32.pt")
    p.add_argument("--clip-arch", default="auto", help="architecture of a --clip file: auto (OpenAI-style files) or "
                   "an open_clip model name")
    p.add_argument("--cache-dir", default=default_cache(), help="where downloaded weights go (also $CLIPSTYLER_CACHE)")


def _add_stylize(commands) -> None:
    p = commands.add_parser("stylize", help="optimise a StyleNet on one image for a text (the paper's mode)",
                            formatter_class=_HelpFormatter)
    p.add_argument("image", help="content image file")
    p.add_argument("text", help='style text, e.g. "oil painting by Van Gogh"')
    p.add_argument("-o", "--output", required=True, help="stylized image file to write (.png, .jpg, .webp, ...)")
    p.add_argument("--source-text", default="a Photo", help="what the input looks like now")
    p.add_argument("--save-stylenet", metavar="FILE.safetensors", help="also write the trained StyleNet, to reuse "
                   "with `apply` or ComfyUI's Load StyleNet")
    _add_plot_argument(p)
    _add_mask_arguments(p)
    p.add_argument("--paper-display", action="store_true", help="the paper's contrast 1.5 + stretch on the output")
    p.add_argument("--resize", choices=RESIZE_METHODS, default="torch", help="how the image is brought to the "
                   "processing size: torch (float, antialiased bicubic; the result is resized back to the input's "
                   "size) or pil (the reference's: PIL's bicubic on the 8-bit image; the result stays at the "
                   "processing size, as the reference's does)")
    _add_device_argument(p)
    _add_clip_arguments(p)
    p.add_argument("--vgg", metavar="FILE", help="VGG-19 weights file (default: torchvision's vgg19-dcbb9e9d.pth "
                   "in the cache, downloaded there if missing)")
    p.add_argument("--random-weights", action="store_true", help="random CLIP and VGG (testing only: no style)")
    _add_settings_arguments(p)


def _add_mask_arguments(p) -> None:
    p.add_argument("--mask", metavar="FILE", help="stylize only where this image is white (a greyscale mask, resized "
                   "to the image): outside it the result is the input, bit for bit")
    p.add_argument("--invert-mask", action="store_true", help="stylize where --mask is black instead")
    p.add_argument("--feather", type=int, default=0, help="soften the mask's edge over this many px, inside it")


def _mask(args):
    """--mask as a (1, H, W) tensor, or None."""
    if not args.mask:
        return None
    from .mask import load_mask

    return load_mask(args.mask, args.invert_mask)


def _add_apply(commands) -> None:
    p = commands.add_parser("apply", help="stylize images with a saved StyleNet, one forward pass each",
                            formatter_class=_HelpFormatter)
    p.add_argument("stylenet", help=".safetensors written by stylize --save-stylenet, train-fast or ComfyUI's Save "
                   "StyleNet, or one of the authors' released clip_decoder_*.pth.tar")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("-o", "--output-dir", required=True, help="folder for the results (not an input's folder); "
                   "each keeps its input's name")
    p.add_argument("--size", type=int, default=0, help="long side for the pass in px (0: each image's own size)")
    p.add_argument("--encoder", metavar="FILE", help="for a released decoder: AdaIN's vgg_normalised.pth (default: "
                   "in the cache's adain/ folder, downloaded there if missing)")
    p.add_argument("--cache-dir", default=default_cache(), help="where downloaded weights go (also $CLIPSTYLER_CACHE)")
    _add_mask_arguments(p)
    _add_device_argument(p)


class _Parser(argparse.ArgumentParser):
    """A mistyped flag gets one line, as every other error here does, not argparse's usage block (its subcommands'
    parsers are of this class too)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    program = os.path.basename(sys.argv[0])  # "clipstyler" (the installed script) or python -m's "__main__.py"
    parser = _Parser(prog="python -m clipstyler" if program == "__main__.py" else program,
                     description="Text-driven image style transfer (CLIPstyler, Kwon & Ye, CVPR 2022). Weights "
                     "download on first use; offline, see --clip and --vgg.")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_stylize(commands)
    _add_apply(commands)
    from .cli_fast import add_fast_commands  # the fast mode's commands (the paper's section 4)

    add_fast_commands(commands)
    return parser


# --- stylize -------------------------------------------------------------------------------------------------------


def _device(name: str):
    from .device import default_device, resolve_device

    return resolve_device(default_device() if name == "auto" else name)


def _looks_like_a_path(text: str) -> bool:
    """--clip names a file (rather than ARCH/TAG) when it has a checkpoint extension or a path's shape."""
    return text.lower().endswith(CHECKPOINT_EXTENSIONS) or text.startswith((".", "~", os.sep)) or text.count("/") > 1


def _load_clip(args):
    from .clip import loading as clip_loading

    if args.random_weights:
        return clip_loading.random_clip("ViT-B-32")
    path = os.path.expanduser(args.clip)
    if os.path.isfile(path):
        return clip_loading.load_clip_file(path, args.clip_arch)
    if _looks_like_a_path(args.clip):
        raise CLIPstylerError(f"--clip {args.clip}: no such file")
    architecture, _, tag = args.clip.partition("/")
    return clip_loading.load_pretrained_clip(architecture, tag, os.path.join(args.cache_dir, "open_clip"))


def _load_vgg(args):
    from .vgg import VGGContent, load_vgg19, load_vgg19_from_folder

    if args.random_weights:
        return VGGContent()
    if args.vgg:
        return load_vgg19(os.path.expanduser(args.vgg))
    return load_vgg19_from_folder(os.path.join(args.cache_dir, "vgg"))


def _settings(args, settings_class=StyleSettings):
    return settings_class(**{spec.name: getattr(args, spec.name) for spec in fields(settings_class)})


def run_stylize(args) -> None:
    from .image import check_processing_size
    from .image_io import check_image_output, load_image
    from .stylenet_file import check_style_output
    from .text_checks import check_style_texts

    settings = _settings(args)
    check_style_texts(args.text, args.source_text)  # before the models load
    check_image_output(args.output)  # before the long work: a typo must not cost the result
    if os.path.realpath(args.output) == os.path.realpath(args.image):
        raise CLIPstylerError(f"-o {args.output}: the result would replace the input image; give another name")
    if args.save_stylenet:
        check_style_output(args.save_stylenet)
    history = _loss_history(args)
    image = load_image(args.image)
    _mask(args)  # a missing or unreadable --mask fails now, before the models load
    work_size = check_processing_size(*image.shape[-2:], settings.size, settings.crop_size)
    if args.resize == "pil":  # already at the processing size, stylize does not resize it (nor its result) again
        image = load_image(args.image, work_size, method="pil")
        log.info("resized %s to %dx%d px with PIL (the result keeps that size)", args.image, *work_size[::-1])
    device = _device(args.device)
    log.info("loading CLIP %s", "(random weights)" if args.random_weights else args.clip)
    clip = _load_clip(args)
    log.info("loading VGG-19")
    vgg = _load_vgg(args)
    result, target = _optimise(image, clip, vgg, settings, device, args, history)
    _write_results(result, target, clip, settings, args, image)
    write_loss_plot(history, args.plot, args.text)


def _optimise(image, clip, vgg, settings, device, args, history=None):
    from tqdm import tqdm

    from .optimize import StepReport, stylize
    from .text import encode_style_target

    log.info("encoding the style text %r on %s", args.text, device)
    target = encode_style_target(clip.to(device), args.text, args.source_text)
    log.info("optimising: %d steps at size %d on %s", settings.steps, settings.size, device)
    with tqdm(total=settings.steps, desc=args.text[:40], unit="step") as bar:
        def on_step(report: StepReport) -> None:
            bar.update(1)
            if history is not None:
                history.record(report)  # kept on the device: no sync
            if report.step % 10 == 0 or report.step == report.steps:  # reading the loss syncs the device
                bar.set_postfix(loss=f"{float(report.losses['total']):.1f}")

        return stylize(image, clip, vgg, target, settings, device, callback=on_step, mask=_mask(args),
                       feather=args.feather), target


def _write_results(result, target, clip, settings, args, source=None) -> None:
    from .image_io import save_image
    from .postprocess import paper_display
    from .stylenet_file import TrainedStyle, save_style

    images = paper_display(result.images) if args.paper_display else result.images
    if args.paper_display and args.mask and source is not None:  # the look inside the mask only, as the style
        from .mask import composite, prepare_mask

        images = composite(images, source, prepare_mask(_mask(args), 1, *source.shape[-2:], args.feather))
    save_image(images, args.output)
    log.info("wrote %s", args.output)
    if args.save_stylenet:
        style = TrainedStyle(result.stylenet, target.style_text, target.source_text, clip.name, settings.to_dict())
        save_style(style, args.save_stylenet)
        log.info("wrote %s (apply it with: python -m clipstyler apply %s IMAGES -o FOLDER)", args.save_stylenet,
                 args.save_stylenet)


def _loss_history(args):
    """A LossHistory to record the steps in when --plot is given (its path checked now, before the work), or None."""
    if not args.plot:
        return None
    from .loss_history import LossHistory
    from .loss_plot import check_plot_output

    check_plot_output(args.plot)
    return LossHistory()


def write_loss_plot(history, path: str | None, text: str) -> None:
    """Write --plot's PNG of the recorded losses and say what it shows (nothing without --plot)."""
    if history is None or path is None:
        return
    from .loss_plot import save_loss_plot

    save_loss_plot(history, path, title=f"losses: {text[:60]}")
    steps = len(history.points)
    log.info("wrote %s (loss curves of %s over %d step%s, log scale)", path, ", ".join(history.names()), steps,
             "" if steps == 1 else "s")


# --- apply ---------------------------------------------------------------------------------------------------------


def run_apply(args) -> None:
    from tqdm import tqdm

    from .apply import apply_stylenet
    from .image_io import load_image, save_image
    from .output_names import plan_outputs
    from .output_paths import check_output_folder
    check_output_folder(args.output_dir, "-o")
    outputs = plan_outputs(args.images, args.output_dir)
    existing = sum(os.path.exists(path) for path in outputs)
    if existing:
        log.warning("%d file(s) in %s have the names of results and will be replaced", existing, args.output_dir)
    device = _device(args.device)
    from .cli_fast import load_style_or_decoder

    style = load_style_or_decoder(args, args.stylenet)
    log.info("applying %r (%s) to %d image(s) on %s", style.style_text, os.path.basename(args.stylenet),
             len(outputs), device)
    mask = _mask(args)  # one mask for every image, resized to each
    for source, target in tqdm(list(zip(args.images, outputs)), unit="image"):
        save_image(apply_stylenet(style.stylenet, load_image(source), device, size=args.size, mask=mask,
                                  feather=args.feather), target)
    log.info("wrote %d image(s) to %s", len(outputs), args.output_dir)


# --- main ----------------------------------------------------------------------------------------------------------


def explain(error: CLIPstylerError, cache_dir: str, command: str = "stylize") -> str:
    """The message for the command line: flags instead of setting names, and where weights go when offline."""
    if isinstance(error, SettingError):
        return error.describe({**FLAGS, **FAST_FLAGS} if command == "train-fast" else FLAGS)
    if isinstance(error, WeightsUnavailable):
        if error.model == "clip":
            where = (f"then pass it with --clip /path/to/{error.file_name} (or copy the cache folder "
                     f"{os.path.join(cache_dir, 'open_clip')} from a machine where this command ran online)")
        elif error.model == "adain":
            flag = "--encoder" if error.file_name.startswith("vgg") else "--decoder"
            where = (f"then put it in {os.path.join(cache_dir, 'adain')}/ (see --cache-dir) or pass it with "
                     f"{flag} /path/to/{error.file_name}")
        else:
            where = (f"then put it in {os.path.join(cache_dir, 'vgg')}/ (see --cache-dir) or pass it with "
                     f"--vgg /path/to/{error.file_name}")
        return (f"could not load or download the {error.what} weights: {error.cause}\n"
                f"  Offline? Fetch {error.file_name} on a machine with internet access from\n    {error.url}\n"
                f"  {where}.")
    return str(error)


def enable_mps_fallback() -> None:
    """Before torch loads: on Apple's MPS, ops torch lacks there run on the CPU (torch warns, naming each) instead of
    failing. An explicit PYTORCH_ENABLE_MPS_FALLBACK (e.g. 0) is kept. (clipstyler.device.MPS_FALLBACK: importing
    that module would load torch.)"""
    os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    enable_mps_fallback()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    try:
        from . import cli_fast

        commands = {"stylize": run_stylize, "apply": run_apply, "train-fast": cli_fast.run_train_fast,
                    "interpolate": cli_fast.run_interpolate, "convert": cli_fast.run_convert}
        commands[args.command](args)
    except CLIPstylerError as error:
        print(f"error: {explain(error, getattr(args, 'cache_dir', default_cache()), args.command)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: files already written are complete; nothing is half-written", file=sys.stderr)
        return 130
    return 0
