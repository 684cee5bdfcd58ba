"""The README's library example runs as written: every name exists and the calls fit together. The test swaps in its
tiny CLIP and random VGG for the downloads, and caps the run at 2 steps of 4 patches at 128 px (the example's own
settings, 50 steps at 256 px, would take minutes here)."""

import os
import re

from PIL import Image
from tests_support import REPO

import clipstyler


def readme_python_blocks() -> list[str]:
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_library_example_runs_as_written(tmp_path, monkeypatch, clip, vgg):
    (example,) = readme_python_blocks()
    monkeypatch.setattr(clipstyler, "load_pretrained_clip", lambda *args, **kwargs: clip)
    monkeypatch.setattr(clipstyler, "load_vgg19_from_folder", lambda *args, **kwargs: vgg)
    settings_class = clipstyler.StyleSettings
    monkeypatch.setattr(clipstyler, "StyleSettings", lambda **given: settings_class(
        **{**given, "steps": 2, "size": 128, "crop_size": 64, "num_crops": 4}))
    os.symlink(os.path.join(REPO, "assets"), tmp_path / "assets")
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})
    with Image.open(tmp_path / "astronaut_wool.png") as result, Image.open(tmp_path / "assets/astronaut.jpg") as src:
        assert result.size == src.size
