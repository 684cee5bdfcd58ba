import subprocess
import sys

from PIL import Image
from tests_support import REPO

from clipstyler.cli import main
from clipstyler.stylenet_file import load_style

FAST = ["--steps", "2", "--size", "64", "--crop-size", "32", "--crops", "4", "--device", "cpu"]


def test_stylize_then_apply(tmp_path, tiny_clip_file, vgg_file):
    source = tmp_path / "in.png"
    Image.new("RGB", (90, 60), (200, 120, 40)).save(source)
    out, style = tmp_path / "out.png", tmp_path / "style.safetensors"
    code = main(["stylize", str(source), "white wool", "-o", str(out), "--clip", tiny_clip_file, "--vgg", vgg_file,
                 "--save-stylenet", str(style), *FAST])
    assert code == 0
    assert Image.open(out).size == (90, 60)
    assert load_style(str(style)).style_text == "white wool"

    frames = tmp_path / "frames"
    assert main(["apply", str(style), str(source), str(out), "-o", str(frames), "--device", "cpu"]) == 0
    assert sorted(p.name for p in frames.iterdir()) == ["in.png", "out.png"]


def test_bad_input_exits_2_with_a_message(tmp_path, tiny_clip_file, vgg_file, capsys):
    source = tmp_path / "in.png"
    Image.new("RGB", (64, 64)).save(source)
    code = main(["stylize", str(source), "", "-o", str(tmp_path / "o.png"), "--clip", tiny_clip_file,
                 "--vgg", vgg_file, *FAST])
    assert code == 2
    assert "style text is empty" in capsys.readouterr().err
    assert main(["stylize", str(tmp_path / "missing.png"), "fire", "-o", "x.png", "--clip", tiny_clip_file]) == 2


def test_module_entry_point_shows_help():
    result = subprocess.run([sys.executable, "-m", "clipstyler", "stylize", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--steps" in result.stdout and "--precision" in result.stdout
