"""`python -m bench gpu`: every command it runs parses with the benchmarks' own flags, --quick shrinks them, the
table reads right, and without CUDA it stops with a message (no GPU here; the figures come from a CUDA machine)."""

import pytest
import torch

from bench import gpu
from bench.__main__ import parse_args


@pytest.mark.parametrize("quick", [False, True])
def test_every_figure_is_a_valid_benchmark_command(quick):
    for label, argv, key in gpu.figure_commands("cuda:0", quick):
        args = parse_args(argv)
        assert args.benchmark == argv[0] and args.device == "cuda:0", label
        assert key in {"total_s", "frames_per_s", "s_per_step", "psnr_db"}


def test_the_figures_are_the_issues():
    commands = {label: parse_args(argv) for label, argv, _ in gpu.figure_commands("cuda", quick=False)}
    optimize = [args for args in commands.values() if args.benchmark == "optimize"]
    assert {(a.size, a.num_crops, a.steps, a.precision) for a in optimize} == {(512, 64, 200, "auto"),
                                                                               (512, 64, 200, "fp32")}
    applied = {(a.size, a.kind) for a in commands.values() if a.benchmark == "apply"}
    assert applied == {(512, "unet"), (2048, "unet"), (512, "adain"), (2048, "adain")}


def test_quick_runs_fewer_steps_and_frames():
    quick = {label: parse_args(argv) for label, argv, _ in gpu.figure_commands("cuda", quick=True)}
    assert all(a.steps <= 20 for a in quick.values() if a.benchmark in ("optimize", "precision", "fast"))
    assert all(a.frames <= 32 for a in quick.values() if a.benchmark == "apply")


def test_markdown_table_has_a_row_per_figure_with_units_and_memory():
    rows = [("512², auto", {"total_s": 4.2, "peak_mem_mb": 2048.0}, "total_s"),
            ("apply 512²", {"frames_per_s": 310.5, "peak_mem_mb": 512.0}, "frames_per_s"),
            ("bf16 PSNR", {"psnr_db": 41.3}, "psnr_db"),
            ("bf16 PSNR, yardstick", {"psnr_db": 19.8, "rounding_psnr_db": 22.9}, "psnr_db"),
            ("apply 2048²", {"failed": "apply ... failed (exit 1)"}, "frames_per_s")]
    table = gpu.markdown(rows, "Test GPU").splitlines()
    assert table[0].startswith("GPU: Test GPU, torch ")
    assert table[-5:] == ["| 512², auto | 4.2 s | 2.00 GB |", "| apply 512² | 310.5 frames/s | 0.50 GB |",
                          "| bf16 PSNR | 41.3 dB | - |",
                          "| bf16 PSNR, yardstick | 19.8 dB (fp32 with other rounding: 22.9 dB) | - |",
                          "| apply 2048² | failed: apply ... failed (exit 1) | - |"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_without_cuda_it_says_so(tmp_path):
    with pytest.raises(SystemExit, match="no CUDA GPU here"):
        gpu.run(parse_args(["gpu", "--out", str(tmp_path)]))
