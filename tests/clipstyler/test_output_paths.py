import os

import pytest

from clipstyler.errors import CLIPstylerError
from clipstyler.output_paths import check_output_file, check_output_folder


def test_a_missing_folder_that_can_be_created_is_fine(tmp_path):
    check_output_file(str(tmp_path / "a" / "b" / "out.png"), (".png",), "output")
    check_output_folder(str(tmp_path / "new"), "-o")
    assert not (tmp_path / "a").exists() and not (tmp_path / "new").exists()  # checking creates nothing


def test_a_folder_where_a_file_is_expected_and_the_other_way_round(tmp_path):
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(CLIPstylerError, match="is a folder"):
        check_output_file(str(tmp_path / "dir.png"), (".png",), "output image")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CLIPstylerError, match="is a file, not a folder"):
        check_output_folder(str(tmp_path / "file"), "-o")
    with pytest.raises(CLIPstylerError, match="the folder of output image .*file' is a file, not a folder"):
        check_output_file(str(tmp_path / "file" / "out.png"), (".png",), "output image")
    with pytest.raises(CLIPstylerError, match="cannot be created: .*file' is a file"):
        check_output_file(str(tmp_path / "file" / "sub" / "out.png"), (".png",), "output image")


def test_unknown_extension(tmp_path):
    with pytest.raises(CLIPstylerError, match=r"has '.txt': use one of .safetensors"):
        check_output_file(str(tmp_path / "style.txt"), (".safetensors",), "StyleNet file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_folder_without_write_permission(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(CLIPstylerError, match="no permission to write"):
        check_output_file(str(locked / "out.png"), (".png",), "output image")
