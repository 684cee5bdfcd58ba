"""What every benchmark shares: the environment, peak memory, step timing, and the output (table + JSON line).

Each benchmark prints a human table, then as its LAST line one JSON object, so scripts can read
`python -m bench ... | tail -n 1`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from dataclasses import fields

import torch

from clipstyler.cli import FLAGS, _add_settings_arguments
from clipstyler.precision import cpu_flags as all_cpu_flags
from clipstyler.settings import PRECISIONS, StyleSettings

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSETS = os.path.join(REPO_ROOT, "assets")
DEFAULT_IMAGE = os.path.join(ASSETS, "astronaut.jpg")
# OpenAI's ViT-B/32 (QuickGELU): what the authors' clip.load("ViT-B/32") runs, and this pack's default CLIP
# (ViT-B-32/openai, built with QuickGELU). open_clip's plain "ViT-B-32" config has GELU instead.
DEFAULT_CLIP = "ViT-B-32-quickgelu"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's line breaks, and shows each option's default unless its help already names one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        # Escape each lone "%" of a plain-text help ("1-4 %"); keep "%(default)s" and a "%%" already escaped (the
        # settings' flags come from clipstyler.cli, which escapes them for argparse).
        text = re.sub(r"%[%(]?", lambda m: m.group() if len(m.group()) == 2 else "%%", action.help or "")
        if "default" in text or action.required or any(action.default is v for v in (None, False, argparse.SUPPRESS)):
            return text
        return text + " (default %(default)s)"


def add_settings_arguments(parser: argparse.ArgumentParser, **defaults) -> None:
    """A flag for every StyleSettings field, built by the command line's own helper (clipstyler.cli) from each
    field's help, range or choices and default; `defaults` changes a field's default for this benchmark.

    A benchmark's own --steps (how many steps to time) replaces the settings' --steps when the parser was made with
    conflict_handler="resolve" and adds it afterwards; its value still becomes StyleSettings.steps.
    """
    _add_settings_arguments(parser)
    parser.set_defaults(**defaults)


def settings_from(args: argparse.Namespace, **overrides) -> StyleSettings:
    """StyleSettings from parsed flags (added by add_settings_arguments); `overrides` win over the flags."""
    values = {spec.name: getattr(args, spec.name) for spec in fields(StyleSettings) if spec.name not in overrides}
    return StyleSettings(**values, **overrides)


def settings_argv(settings: StyleSettings, names=None) -> list[str]:
    """The flags that give these settings' non-default values (of the fields in `names`, default all but steps),
    to run a benchmark in a subprocess with the same settings."""
    defaults = StyleSettings()
    argv = []
    for spec in fields(StyleSettings):
        value = getattr(settings, spec.name)
        if spec.name == "steps" or (names is not None and spec.name not in names):
            continue
        if value == getattr(defaults, spec.name):
            continue
        flag = FLAGS[spec.name]
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + flag[2:])
        else:
            argv += [flag, repr(value) if isinstance(value, float) else str(value)]
    return argv


def add_common_arguments(parser, image_help: str, precision: str | None = None) -> None:
    """--device, --threads, --image, and --precision (with its default) where the benchmark has one and does not
    take it from add_settings_arguments."""
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")
    if precision is not None:
        parser.add_argument("--precision", default=precision, choices=PRECISIONS)
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default 0: leave)")
    parser.add_argument("--image", default=DEFAULT_IMAGE, help=f"{image_help} (default assets/astronaut.jpg)")


def set_threads(threads: int) -> None:
    """torch.set_num_threads(threads) when threads > 0; 0 leaves torch's default."""
    if threads > 0:
        torch.set_num_threads(threads)


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work so a timestamp means the work is done (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def now(device: torch.device) -> float:
    """A timestamp taken after the device has finished its queued work."""
    synchronize(device)
    return time.perf_counter()


def reset_peak_memory(device: torch.device) -> None:
    """Start CUDA's peak counter afresh (the CPU figure is the process's lifetime peak RSS and cannot be reset)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory in MiB: CUDA's max_memory_allocated on a GPU, else the process's peak resident set size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def _machine_busy_s() -> float | None:
    """CPU seconds all processes have used since boot (from /proc/stat), or None off Linux."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class OtherLoad:
    """How busy OTHER processes kept the machine during a run: their CPU seconds per wall second (cores' worth).

    On a 2-core machine 0.0 is a clean run; 1.0 means another process used a whole core, and the timings are not
    trustworthy (torch's threads then wait for a core at every parallel op).
    """

    def __init__(self) -> None:
        self.start_wall, self.start_machine, self.start_own = time.perf_counter(), _machine_busy_s(), _own_cpu_s()

    def cores(self) -> float | None:
        machine = _machine_busy_s()
        if machine is None or self.start_machine is None:
            return None
        wall = time.perf_counter() - self.start_wall
        other = (machine - self.start_machine) - (_own_cpu_s() - self.start_own)
        return round(max(0.0, other) / wall, 2) if wall > 0 else None


def other_load_now(seconds: float = 5.0) -> float | None:
    """How busy OTHER processes keep the machine right now: sleep `seconds` and measure (cores' worth)."""
    probe = OtherLoad()
    time.sleep(seconds)
    return probe.cores()


def wait_for_quiet(threshold: float, max_wait_s: float, seconds: float = 5.0) -> dict:
    """Wait until other processes use less than `threshold` cores (measured over `seconds`), for at most
    `max_wait_s` (0: measure once, do not wait). Returns the last measurement and how long was waited."""
    start = time.perf_counter()
    while True:
        load = other_load_now(seconds)
        waited = time.perf_counter() - start
        if load is None or load < threshold or waited >= max_wait_s:
            return {"other_load_before": load, "waited_s": round(waited, 1), "load_avg_1m_before": load_average()}
        print(f"  waiting for a quiet machine: other processes use {load} cores (want < {threshold}; "
              f"{waited:.0f} of {max_wait_s:.0f} s waited)", file=sys.stderr, flush=True)


def progress(step: int, steps: int, stamps: list[float]) -> None:
    """A line per finished step (on stderr, so stdout stays table + JSON), for long runs."""
    since = stamps[-1] - stamps[-2] if len(stamps) > 1 else None
    shown = f"{since:.2f} s since the previous step" if since is not None else "first step"
    print(f"  step {step}/{steps} done ({shown})", file=sys.stderr, flush=True)


def matmul_gflops(size: int = 1024, repeats: int = 5) -> float:
    """The CPU's fp32 matmul speed right now (best of `repeats`), in GFLOP/s: a yardstick recorded with the figures,
    since a shared or virtual machine can run the same code at very different speeds from one minute to the next."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return round(2 * size**3 / best / 1e9, 1)


def step_figures(start: float, stamps: list[float]) -> dict:
    """Timing from the loop's start and the end time of each step.

    first_step_s: the first step (it pays one-off costs: allocator warm-up, kernel selection).
    s_per_step: the mean of the later steps (the first step's time when there is only one).
    """
    durations = [b - a for a, b in zip([start, *stamps[:-1]], stamps)]
    later = durations[1:] or durations[:1]
    return {
        "first_step_s": round(durations[0], 4),
        "s_per_step": round(sum(later) / len(later), 4),
        "step_s": [round(d, 4) for d in durations],
    }


def git_commit() -> str | None:
    """The repository's short HEAD commit (with '+dirty' if the work tree differs from it), or None."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None


def device_name(device: torch.device) -> str:
    """A readable device name: the GPU's name, or the CPU model with the thread count torch uses."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{_cpu_model()} ({os.cpu_count()} cores, torch threads {torch.get_num_threads()})"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The CPU's vector and matrix extensions that decide fp32/bf16/fp16 speed (AVX2, AVX-512 ..., AMX ...)."""
    return sorted(f for f in all_cpu_flags() if f.startswith(("avx", "amx")) or f in ("fma", "f16c"))


def load_average() -> float | None:
    """The 1-minute load average (how busy the machine was around the run), or None where unknown."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def environment(device: torch.device, other_load: OtherLoad | None = None) -> dict:
    """Where and when the figures were taken (and how busy other processes kept the machine, if measured)."""
    return {
        "other_load_cores": other_load.cores() if other_load is not None else None,
        "cpu_matmul_gflops": matmul_gflops(),
        "device": str(device),
        "device_name": device_name(device),
        "cpu_flags": " ".join(cpu_flags()),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load_avg_1m": load_average(),
    }


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_format(v) for v in value)
    return str(value)


def print_table(title: str, rows: dict) -> None:
    """A two-column table of name: value."""
    width = max(len(name) for name in rows)
    print(f"== {title} ==")
    for name, value in rows.items():
        print(f"  {name.ljust(width)}  {_format(value)}")


def emit(title: str, result: dict, hide: tuple[str, ...] = ()) -> None:
    """The table (without the fields in `hide`), then the JSON line (always the last line of the output)."""
    print_table(title, {name: value for name, value in result.items() if name not in hide})
    sys.stdout.flush()
    print(json.dumps(result, sort_keys=False), flush=True)
