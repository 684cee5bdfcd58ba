"""Importing the pack where ComfyUI is too old, broken or absent: the error that says which, never a stand-in."""

import os
import subprocess
import sys

from tests_support import REPO

IMPORT_PACK = ("import importlib.util, sys\n"
               f"spec = importlib.util.spec_from_file_location('pack', {os.path.join(REPO, '__init__.py')!r},\n"
               f"    submodule_search_locations=[{REPO!r}])\n"
               "module = importlib.util.module_from_spec(spec); sys.modules['pack'] = module\n"
               "spec.loader.exec_module(module)\n")


def import_pack(comfyui_path: str, then: str = "") -> subprocess.CompletedProcess:
    environment = {**os.environ, "COMFYUI_PATH": comfyui_path}
    return subprocess.run([sys.executable, "-c", IMPORT_PACK + then], cwd="/", env=environment, capture_output=True,
                          text=True, timeout=120)


def fake_comfyui(folder, version: str):
    (folder / "comfy").mkdir()
    (folder / "comfy" / "__init__.py").write_text("")
    (folder / "comfy" / "model_management.py").write_text("")
    (folder / "comfy" / "cli_args.py").write_text("import types\nargs = types.SimpleNamespace(cpu=False)\n")
    (folder / "comfyui_version.py").write_text(f'__version__ = "{version}"\n')


def test_a_comfyui_without_the_schema_api_names_the_minimum_version(tmp_path):
    """ComfyUI 0.3.47 and older have comfy/ but no comfy_api.latest."""
    fake_comfyui(tmp_path, "0.3.40")
    result = import_pack(str(tmp_path))
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: ComfyUI-CLIPstyler needs ComfyUI 0.3.48 or newer")
    assert "this ComfyUI is 0.3.40: update ComfyUI" in last


def test_outside_comfyui_there_are_no_nodes_and_the_nodes_say_why(tmp_path):
    result = import_pack(str(tmp_path), "print(module.NODE_CLASS_MAPPINGS)\nimport pack.nodes\n")
    assert result.returncode != 0
    assert result.stdout.strip() == "{}"  # the package imports (tests and tools may load it); it offers no nodes
    last = result.stderr.strip().splitlines()[-1]
    assert "nodes run inside ComfyUI" in last and "python -m clipstyler" in last


def test_a_broken_comfyui_is_not_called_too_old(tmp_path):
    """The schema API is there but one of ComfyUI's own imports fails: that error, not "update ComfyUI"."""
    fake_comfyui(tmp_path, "0.3.64")
    (tmp_path / "comfy_api" / "latest").mkdir(parents=True)
    (tmp_path / "comfy_api" / "__init__.py").write_text("")
    (tmp_path / "comfy_api" / "latest" / "__init__.py").write_text("import numpy.dtypes_of_the_future\n")
    result = import_pack(str(tmp_path))
    last = result.stderr.strip().splitlines()[-1]
    assert last == "ModuleNotFoundError: No module named 'numpy.dtypes_of_the_future'"


def test_an_installed_clipstyler_of_another_version_does_not_shadow_the_packs_own(tmp_path):
    import comfy_env

    comfyui = comfy_env.require_comfyui()
    other = tmp_path / "site" / "clipstyler"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text('__version__ = "0.0.1"\n')  # an old, unrelated install
    check = ("import clipstyler\n"
             "print(clipstyler.__version__, module.nodes.optimize.stylize.__module__)\n")
    environment = {**os.environ, "COMFYUI_PATH": comfyui, "PYTHONPATH": str(tmp_path / "site")}
    result = subprocess.run([sys.executable, "-c", IMPORT_PACK + check], cwd="/", env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ["0.0.1", "pack.clipstyler.optimize"]
