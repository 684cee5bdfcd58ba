import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from tests_support import REPO

from clipstyler import cli, vgg
from clipstyler.cli import main
from clipstyler.clip import loading as clip_loading
from clipstyler.stylenet import build_stylenet
from clipstyler.stylenet_file import TrainedStyle, load_style, save_style

FAST = ["--steps", "2", "--size", "64", "--crop-size", "32", "--crops", "4", "--device", "cpu"]


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "in.png"
    Image.new("RGB", (90, 60), (200, 120, 40)).save(path)
    return path


@pytest.fixture
def models(tiny_clip_file, vgg_file):
    return ["--clip", tiny_clip_file, "--vgg", vgg_file]


@pytest.fixture
def no_model_loading(monkeypatch):
    """Fails the test if the command gets as far as loading a model (checks must come first)."""
    def fail(*args, **kwargs):
        pytest.fail("loaded a model before checking the arguments")

    for name in ("load_clip_file", "load_pretrained_clip"):
        monkeypatch.setattr(clip_loading, name, fail)
    monkeypatch.setattr(vgg, "load_vgg19", fail)


def error_of(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_stylize_then_apply(tmp_path, photo, models):
    out, style = tmp_path / "sub" / "out.png", tmp_path / "style.safetensors"  # a missing folder is created
    code = main(["stylize", str(photo), "white wool", "-o", str(out), *models, "--save-stylenet", str(style), *FAST])
    assert code == 0
    assert Image.open(out).size == (90, 60)
    assert load_style(str(style)).style_text == "white wool"

    frames = tmp_path / "frames"
    assert main(["apply", str(style), str(photo), str(out), "-o", str(frames), "--device", "cpu"]) == 0
    assert sorted(p.name for p in frames.iterdir()) == ["in.png", "out.png"]


def test_says_what_it_does_before_and_after(tmp_path, photo, models, caplog):
    with caplog.at_level("INFO", logger="clipstyler"):
        assert main(["stylize", str(photo), "fire", "-o", str(tmp_path / "o.png"), *models, *FAST]) == 0
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith("loading CLIP") and any(m.startswith("encoding the style text") for m in messages)
    assert messages[-1] == f"wrote {tmp_path / 'o.png'}"


def test_bad_input_exits_2_with_a_message(tmp_path, photo, models, capsys):
    code = main(["stylize", str(photo), "", "-o", str(tmp_path / "o.png"), *models, *FAST])
    assert code == 2
    assert "style text is empty" in error_of(capsys)
    assert main(["stylize", str(tmp_path / "missing.png"), "fire", "-o", str(tmp_path / "x.png"), *models]) == 2
    assert "missing.png': no such file" in error_of(capsys)


@pytest.mark.parametrize("arguments, message", [
    (["--crops", "0"], "error: --crops must be >= 1, got 0"),
    (["--lr", "nan"], "error: --lr must be a finite number, got nan"),
    (["--lambda-patch", "inf"], "error: --lambda-patch must be a finite number, got inf"),
    (["--size", "8"], "error: --size must be >= 16, got 8"),
    (["--device", "cdua"], "error: unknown device 'cdua': use cpu, cuda, cuda:N or mps"),
    (["--clip", "/models/ViT-B-32.pt"], "error: --clip /models/ViT-B-32.pt: no such file"),
    (["--clip", "ViT-B-32/opnai"], "did you mean ViT-B-32/openai"),
])
def test_errors_name_the_flag_in_one_line(tmp_path, photo, capsys, arguments, message, monkeypatch):
    monkeypatch.setattr(vgg, "load_vgg19_from_folder", lambda *a, **k: pytest.fail("loaded VGG"))
    assert main(["stylize", str(photo), "fire", "-o", str(tmp_path / "o.png"), *arguments]) == 2
    err = error_of(capsys)
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize("command", ["stylize", "train-fast"])
@pytest.mark.parametrize("text, source, problem", [("  ", "a Photo", "style text is empty"),
                                                   ("fire", " ", "source text is empty"),
                                                   ("fire", "fire", "are the same")])
def test_empty_or_equal_texts_are_refused_before_any_model_loads(tmp_path, photo, no_model_loading, monkeypatch,
                                                                 capsys, command, text, source, problem):
    from clipstyler import adain_weights

    monkeypatch.setattr(adain_weights, "load_fast_stylenet", lambda *a: pytest.fail("loaded AdaIN first"))
    output = str(tmp_path / ("o.png" if command == "stylize" else "s.safetensors"))
    assert main([command, str(photo), text, "-o", output, "--source-text", source]) == 2
    assert problem in error_of(capsys)


def test_stylize_never_writes_over_its_input(tmp_path, photo, no_model_loading, capsys):
    before = photo.read_bytes()
    assert main(["stylize", str(photo), "fire", "-o", str(tmp_path / "." / photo.name)]) == 2
    assert "the result would replace the input image; give another name" in error_of(capsys)
    assert photo.read_bytes() == before


@pytest.mark.parametrize("arguments, flag", [(["--steps", "2.5"], "argument --steps: invalid int value: '2.5'"),
                                             (["--bogus"], "unrecognized arguments: --bogus"),
                                             (["--precision", "fp8"], "argument --precision: invalid choice")])
def test_mistyped_flags_are_one_line_too(tmp_path, photo, capsys, arguments, flag):
    with pytest.raises(SystemExit) as exit_:
        main(["stylize", str(photo), "fire", "-o", str(tmp_path / "o.png"), *arguments])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and flag in err and err.count("\n") == 1 and "usage" not in err
    assert err.rstrip().endswith(" --help)")


def test_a_style_text_too_long_for_clip_is_warned_about(tmp_path, photo, models, caplog):
    text = "a beautiful oil painting of a stormy sea " * 12
    with caplog.at_level("INFO", logger="clipstyler"):
        assert main(["stylize", str(photo), text, "-o", str(tmp_path / "o.png"), *models, *FAST]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "is too long for CLIP" in warnings[0] and "CLIP reads 77" in warnings[0]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_a_gpu_is_one_line(tmp_path, photo, capsys, no_model_loading):
    assert main(["stylize", str(photo), "fire", "-o", str(tmp_path / "o.png"), "--device", "cuda"]) == 2
    err = error_of(capsys)
    assert "no CUDA GPU is usable here" in err and err.count("\n") == 1


def test_a_too_thin_image_is_refused_before_loading_models(tmp_path, capsys, no_model_loading):
    wide = tmp_path / "wide.png"
    Image.new("RGB", (4000, 50)).save(wide)
    assert main(["stylize", str(wide), "fire", "-o", str(tmp_path / "o.png"), "--crop-size", "8"]) == 2
    assert "raise --size to 960 or more" in error_of(capsys)


@pytest.mark.parametrize("arguments, message", [
    (["-o", "{tmp}/out.xyz"], "has '.xyz': use one of .png"),
    (["-o", "{tmp}"], "is a folder"),
    (["-o", "{tmp}/o.png", "--save-stylenet", "{tmp}"], "StyleNet file '{tmp}' is a folder"),
    (["-o", "{tmp}/o.png", "--save-stylenet", "{tmp}/style.pt"], "has '.pt': use one of .safetensors"),
])
def test_output_paths_are_checked_before_any_work(tmp_path, photo, capsys, no_model_loading, arguments, message):
    arguments = [a.format(tmp=tmp_path) for a in arguments]
    assert main(["stylize", str(photo), "fire", *arguments]) == 2
    assert message.format(tmp=tmp_path) in error_of(capsys)


def test_offline_first_run_explains_where_the_weights_go(tmp_path, photo, capsys, monkeypatch):
    monkeypatch.setattr(clip_loading, "unreachable_reason", lambda url: "cannot resolve huggingface.co")
    code = main(["stylize", str(photo), "fire", "-o", str(tmp_path / "o.png"), "--cache-dir", str(tmp_path / "c")])
    assert code == 2
    err = error_of(capsys)
    assert err.count("\n") <= 5
    assert "cannot resolve huggingface.co" in err and "ViT-B-32.pt" in err and "https://openaipublic" in err
    assert "--clip /path/to/ViT-B-32.pt" in err and str(tmp_path / "c" / "open_clip") in err
    assert not (tmp_path / "o.png").exists()


def test_offline_vgg_explains_the_cache_layout_and_flag(tmp_path, photo, tiny_clip_file, capsys, monkeypatch):
    monkeypatch.setattr(vgg, "unreachable_reason", lambda url: "cannot resolve download.pytorch.org")
    cache = tmp_path / "cache"
    assert main(["stylize", str(photo), "fire", "-o", str(tmp_path / "o.png"), "--clip", tiny_clip_file,
                 "--cache-dir", str(cache), *FAST]) == 2
    err = error_of(capsys)
    assert f"put it in {cache / 'vgg'}/" in err and "--vgg /path/to/vgg19-dcbb9e9d.pth" in err
    assert not cache.exists()  # a failed first run leaves no empty folders behind


def test_ctrl_c_is_one_line_and_leaves_no_file(tmp_path, photo, models, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("clipstyler.optimize.stylize", interrupted)
    assert main(["stylize", str(photo), "fire", "-o", str(tmp_path / "o.png"), *models, *FAST]) == 130
    assert error_of(capsys).strip().splitlines()[-1].startswith("interrupted: files already written are complete")
    assert not (tmp_path / "o.png").exists()


def test_a_real_ctrl_c_while_optimising_ends_in_one_line_with_no_file(tmp_path, photo, models):
    """SIGINT, as a terminal's Ctrl-C sends it, to a real process in the middle of its steps."""
    import signal
    import time

    outputs = [tmp_path / "o.png", tmp_path / "s.safetensors"]
    command = [sys.executable, "-m", "clipstyler", "stylize", str(photo), "fire", "-o", str(outputs[0]),
               "--save-stylenet", str(outputs[1]), *models, *FAST, "--steps", "100000"]
    # A shell that starts jobs in the background (as CI may be started) makes them ignore SIGINT, and Python then
    # installs no KeyboardInterrupt handler: give the child the terminal's default back.
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": REPO},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    for line in process.stderr:  # the log says when the steps begin
        seen.append(line)
        if line.startswith("optimising:"):
            break
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    try:
        rest = process.communicate(timeout=60)[1]
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("still running 60 s after SIGINT:\n" + "".join(seen))
    err = "".join(seen) + rest
    assert process.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted: files already written")
    assert not any(path.exists() for path in outputs) and not list(tmp_path.glob(".*partial"))


@pytest.fixture
def style_file(tmp_path):
    return save_style(TrainedStyle(build_stylenet(ngf=8, seed=0), "fire"), str(tmp_path / "fire.safetensors"))


def test_apply_never_overwrites_an_input(tmp_path, photo, style_file, capsys):
    before = photo.read_bytes()
    assert main(["apply", style_file, str(photo), "-o", str(photo.parent), "--device", "cpu"]) == 2
    assert "would replace an input image; choose another folder" in error_of(capsys)
    assert photo.read_bytes() == before


def test_apply_gives_inputs_with_the_same_name_their_own_outputs(tmp_path, style_file, caplog):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        Image.new("RGB", (20, 20), (10, 200, 30) if folder == "a" else (200, 10, 30)).save(tmp_path / folder / "f.png")
    out = tmp_path / "out"
    (out).mkdir()
    Image.new("RGB", (4, 4)).save(out / "f.png")  # from an earlier run: replaced, and said so
    with caplog.at_level("INFO", logger="clipstyler"):
        assert main(["apply", style_file, str(tmp_path / "a" / "f.png"), str(tmp_path / "b" / "f.png"),
                     "-o", str(out), "--device", "cpu"]) == 0
    assert sorted(os.listdir(out)) == ["f.png", "f_2.png"]
    assert Image.open(out / "f.png").size == (20, 20)
    assert "writing the one of" in caplog.text and "as f_2.png" in caplog.text and "will be replaced" in caplog.text
    assert f"wrote 2 image(s) to {out}" in caplog.text


def test_inputs_written_under_the_same_name_are_told_apart_by_that_name(tmp_path, style_file, caplog):
    """f.png and f.gif both become f.png (gif is not written): the warning names the result, f.png."""
    Image.new("RGB", (12, 12)).save(tmp_path / "f.png")
    Image.new("RGB", (12, 12)).save(tmp_path / "f.gif")
    with caplog.at_level("INFO", logger="clipstyler"):
        assert main(["apply", style_file, str(tmp_path / "f.png"), str(tmp_path / "f.gif"), "-o",
                     str(tmp_path / "out"), "--device", "cpu"]) == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["f.png", "f_2.png"]
    assert f"two results would be named f.png: writing the one of {tmp_path / 'f.gif'} as f_2.png" in caplog.text


def test_apply_writes_png_for_inputs_in_formats_it_cannot_write(tmp_path, style_file):
    source = tmp_path / "clip.gif"
    Image.new("RGB", (16, 16)).save(source)
    assert main(["apply", style_file, str(source), "-o", str(tmp_path / "out"), "--device", "cpu"]) == 0
    assert os.listdir(tmp_path / "out") == ["clip.png"]


def test_help_lists_every_setting_with_its_default_without_loading_torch():
    script = ("import sys\nfrom clipstyler.cli import build_parser\n"
              "p = build_parser()\n"
              "print(p._subparsers._group_actions[0].choices['stylize'].format_help())\n"
              "print('torch loaded' if 'torch' in sys.modules else 'torch not loaded')\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    help_text = result.stdout
    assert help_text.rstrip().endswith("torch not loaded")
    for flag, default in (("--steps", "200"), ("--crops", "64"), ("--distortion", "0.5"), ("--ngf", "16"),
                          ("--images-per-step", "1"), ("--lr-step-size", "100"), ("--lr-gamma", "0.5"),
                          ("--precision", "fp32"), ("--cache-dir", "")):
        section = help_text.split(f"\n  {flag} ", 1)[1].split("\n  --", 1)[0]  # the flag's own help
        assert f"(default: {default}" in " ".join(section.split()), flag
    assert "--reference-lr-schedule, --no-reference-lr-schedule" in help_text


def test_module_entry_point_shows_help():
    result = subprocess.run([sys.executable, "-m", "clipstyler", "stylize", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--steps" in result.stdout and "--precision" in result.stdout


def test_every_setting_has_a_flag():
    parser = cli.build_parser()
    stylize = parser._subparsers._group_actions[0].choices["stylize"]
    destinations = {action.dest for action in stylize._actions}
    assert set(cli.FLAGS) <= destinations


def test_resize_pil_optimises_the_references_image_and_keeps_its_size(tmp_path, photo, models, caplog):
    out = tmp_path / "out.png"
    with caplog.at_level("INFO", logger="clipstyler"):
        assert main(["stylize", str(photo), "white wool", "-o", str(out), *models, *FAST, "--resize", "pil"]) == 0
    assert Image.open(out).size == (64, 40)  # the processing size of 90x60 at --size 64, as the reference's output
    assert "with PIL" in caplog.text


@pytest.mark.parametrize("method", ["torch", "pil"])
def test_resize_flag_chooses_what_stylize_gets(tmp_path, models, monkeypatch, method):
    from clipstyler import optimize
    from clipstyler.image import resize
    from clipstyler.image_io import load_image

    path = tmp_path / "noisy.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 90, 3), dtype=np.uint8)).save(path)
    seen = []

    def record(images, *args, **kwargs):
        seen.append(images)
        raise KeyboardInterrupt  # enough: the image is what this test is about

    monkeypatch.setattr(optimize, "stylize", record)
    main(["stylize", str(path), "white wool", "-o", str(tmp_path / "out.png"), *models, *FAST, "--resize", method])
    full = load_image(str(path))
    expected = load_image(str(path), (40, 64), method="pil") if method == "pil" else full
    assert torch.equal(seen[0], expected)
    assert not torch.equal(resize(full, (40, 64)), load_image(str(path), (40, 64), method="pil"))


def test_resize_flag_is_in_the_help_with_its_default():
    stylize = cli.build_parser()._subparsers._group_actions[0].choices["stylize"]
    action = next(a for a in stylize._actions if a.dest == "resize")
    assert action.default == "torch" and tuple(action.choices) == ("torch", "pil")
    formatter = stylize._get_formatter()
    formatter.add_argument(action)
    assert "(default: torch)" in " ".join(formatter.format_help().split())


@pytest.fixture
def adain_dir(tmp_path):
    from clipstyler.adain import build_decoder, full_normalised_vgg

    folder = tmp_path / "cache" / "adain"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(full_normalised_vgg().state_dict(), folder / "vgg_normalised.pth")
    torch.save(build_decoder().state_dict(), folder / "decoder.pth")
    return folder


FAST_TRAIN = ["--steps", "1", "--batch", "2", "--crop-size", "32", "--views", "2", "--device", "cpu"]


def test_train_fast_from_a_folder_then_apply_interpolate_convert(tmp_path, adain_dir, tiny_clip_file):
    frames = tmp_path / "frames"
    frames.mkdir()
    for number in range(3):
        Image.new("RGB", (48, 40), (40 * number, 100, 200)).save(frames / f"f{number}.png")
    cache = ["--cache-dir", str(adain_dir.parent), "--clip", tiny_clip_file]
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    assert main(["train-fast", str(frames), "stone wall", "-o", str(a), *cache, *FAST_TRAIN]) == 0
    assert main(["train-fast", str(frames), "desert sand", "-o", str(b), *cache, *FAST_TRAIN, "--seed", "1"]) == 0
    assert load_style(str(a)).kind == "adain" and load_style(str(a)).settings["batch_size"] == 2
    out = tmp_path / "out"
    assert main(["apply", str(a), str(frames / "f0.png"), "-o", str(out), "--device", "cpu"]) == 0
    assert Image.open(out / "f0.png").size == (48, 40)
    anim = tmp_path / "anim"
    assert main(["interpolate", str(a), str(b), str(frames / "f1.png"), "-o", str(anim), "--weights", "0,0.5,1",
                 "--device", "cpu"]) == 0
    assert sorted(p.name for p in anim.iterdir()) == ["f1_w0.00.png", "f1_w0.50.png", "f1_w1.00.png"]
    released = tmp_path / "clip_decoder_stone_wall.pth.tar"
    torch.save({k.removeprefix("decoder."): v for k, v in load_style(str(a)).stylenet.state_dict().items()
                if k.startswith("decoder.")}, released)
    converted = tmp_path / "converted.safetensors"
    assert main(["convert", str(released), "-o", str(converted), "--cache-dir", str(adain_dir.parent)]) == 0
    assert load_style(str(converted)).style_text == "stone wall"
    again = tmp_path / "again"
    assert main(["apply", str(released), str(frames / "f0.png"), "-o", str(again), "--device", "cpu",
                 "--cache-dir", str(adain_dir.parent)]) == 0
    assert np.array_equal(np.asarray(Image.open(again / "f0.png")), np.asarray(Image.open(out / "f0.png")))


def test_train_fast_errors_name_its_flags(tmp_path, adain_dir, tiny_clip_file, capsys):
    small = tmp_path / "small.png"
    Image.new("RGB", (20, 20)).save(small)
    code = main(["train-fast", str(small), "fire", "-o", str(tmp_path / "s.safetensors"), "--cache-dir",
                 str(adain_dir.parent), *FAST_TRAIN])
    assert code == 2 and "--crop-size" in error_of(capsys)
    assert main(["train-fast", str(tmp_path / "nothing"), "fire", "-o", str(tmp_path / "s.safetensors")]) == 2
    assert "no such file or folder" in error_of(capsys)


def mask_frames(tmp_path, count=3, size=(64, 48)):
    frames = tmp_path / "frames"
    frames.mkdir()
    for number in range(count):
        Image.new("RGB", size, (60 * number, 100, 200)).save(frames / f"f{number}.png")
    return frames


def left_half_white(path, size=(64, 48)):
    mask = np.zeros((size[1], size[0]), np.uint8)
    mask[:, : size[0] // 2] = 255
    Image.fromarray(mask).save(path)
    return path


def test_train_fast_mask_from_a_file_or_a_folder_reaches_the_training(tmp_path, adain_dir, tiny_clip_file,
                                                                       monkeypatch):
    from clipstyler import fast_train

    calls, train = [], fast_train.train_fast_stylenet

    def recording(images, *args, **kwargs):
        calls.append((images, kwargs))
        return train(images, *args, **kwargs)

    monkeypatch.setattr(fast_train, "train_fast_stylenet", recording)
    frames = mask_frames(tmp_path)
    mask = left_half_white(tmp_path / "mask.png")
    common = ["--cache-dir", str(adain_dir.parent), "--clip", tiny_clip_file, *FAST_TRAIN, "--crop-size", "24"]
    style = tmp_path / "s.safetensors"
    assert main(["train-fast", str(frames), "fire", "-o", str(style), "--mask", str(mask), "--feather", "2",
                 *common]) == 0
    images, kwargs = calls[-1]
    assert images.shape == (3, 3, 48, 64) and kwargs["feather"] == 2
    assert kwargs["mask"].shape == (1, 48, 64)
    assert kwargs["mask"][0, :, :32].min() == 1 and kwargs["mask"][0, :, 32:].max() == 0
    assert load_style(str(style)).kind == "adain"

    assert main(["train-fast", str(frames), "fire", "-o", str(style), "--mask", str(mask), "--invert-mask",
                 *common]) == 0
    assert calls[-1][1]["mask"][0, :, 32:].min() == 1 and calls[-1][1]["mask"][0, :, :32].max() == 0

    folder = tmp_path / "masks"
    folder.mkdir()
    for number in range(3):  # one per frame, at half the frames' size: resized to them
        left_half_white(folder / f"m{number}.png", (32, 24))
    assert main(["train-fast", str(frames), "fire", "-o", str(style), "--mask", str(folder), *common]) == 0
    masks = calls[-1][1]["mask"]
    assert masks.shape == (3, 48, 64) and masks[:, :, :15].min() == 1 and masks[:, :, 33:].max() == 0


def test_train_fast_mask_errors_come_before_any_model_loads(tmp_path, no_model_loading, monkeypatch, capsys):
    from clipstyler import adain_weights

    monkeypatch.setattr(adain_weights, "load_fast_stylenet", lambda *a: pytest.fail("loaded AdaIN first"))
    frames = mask_frames(tmp_path)
    out = ["-o", str(tmp_path / "s.safetensors"), *FAST_TRAIN, "--crop-size", "24"]
    black = tmp_path / "black.png"
    Image.new("L", (64, 48), 0).save(black)
    assert main(["train-fast", str(frames), "fire", "--mask", str(black), *out]) == 2
    assert "zero everywhere" in error_of(capsys)

    two = tmp_path / "two"
    two.mkdir()
    for number in range(2):
        left_half_white(two / f"m{number}.png")
    assert main(["train-fast", str(frames), "fire", "--mask", str(two), *out]) == 2
    assert "2 mask(s) for 3 training image(s)" in error_of(capsys)

    Image.new("RGB", (50, 48)).save(frames / "other.png")
    assert main(["train-fast", str(frames), "fire", "--mask", str(black), *out]) == 2
    assert "--mask needs training images of one size" in (err := error_of(capsys)) and "50x48" in err


def test_offline_adain_explains_where_the_files_go(tmp_path, photo, tiny_clip_file, capsys, monkeypatch):
    from clipstyler import adain_weights

    monkeypatch.setattr(adain_weights, "unreachable_reason", lambda url: "cannot resolve github.com")
    code = main(["train-fast", str(photo), "fire", "-o", str(tmp_path / "s.safetensors"), "--clip", tiny_clip_file,
                 "--cache-dir", str(tmp_path / "c"), *FAST_TRAIN])
    err = error_of(capsys)
    assert code == 2 and "vgg_normalised.pth" in err and "--encoder" in err and str(tmp_path / "c" / "adain") in err
    assert not (tmp_path / "c" / "adain").exists()


def test_plot_writes_the_loss_curves_after_the_run(tmp_path, photo, models, adain_dir, tiny_clip_file, caplog):
    plot = tmp_path / "plots" / "losses.png"
    with caplog.at_level("INFO", logger="clipstyler"):
        assert main(["stylize", str(photo), "white wool", "-o", str(tmp_path / "o.png"), *models, *FAST,
                     "--plot", str(plot)]) == 0
    message = caplog.records[-1].getMessage()
    assert message.startswith(f"wrote {plot} (loss curves of total, patch, dir, content, tv")
    assert message.endswith("over 2 steps, log scale)")
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.size == (800, 480)
        stylize_plot = np.asarray(image.convert("RGB"))
    assert (np.abs(stylize_plot.astype(int) - 255).sum(axis=-1) > 0).sum() > 2000  # more than a blank page

    fast_plot = tmp_path / "fast.png"
    assert main(["train-fast", str(photo), "fire", "-o", str(tmp_path / "s.safetensors"), "--cache-dir",
                 str(adain_dir.parent), "--clip", tiny_clip_file, *FAST_TRAIN, "--steps", "3",
                 "--plot", str(fast_plot)]) == 0
    assert caplog.records[-1].getMessage().endswith("over 3 steps, log scale)")
    with Image.open(fast_plot) as image:
        assert image.size == (800, 480) and not np.array_equal(np.asarray(image.convert("RGB")), stylize_plot)


def test_plot_path_is_checked_before_any_work(tmp_path, photo, capsys, no_model_loading):
    assert main(["stylize", str(photo), "fire", "-o", str(tmp_path / "o.png"), "--plot",
                 str(tmp_path / "losses.jpg")]) == 2
    assert "--plot" in (err := error_of(capsys)) and "has '.jpg': use one of .png" in err
    assert main(["train-fast", str(photo), "fire", "-o", str(tmp_path / "s.safetensors"), "--plot",
                 str(tmp_path)]) == 2
    assert "is a folder" in error_of(capsys)
