import logging

import pytest
import torch

import clipstyler.optimize as optimize
import clipstyler.precision as precision
from clipstyler.errors import CLIPstylerError
from clipstyler.precision import grad_scaler, resolve_precision
from clipstyler.settings import StyleSettings
from clipstyler.stylenet import build_stylenet


@pytest.fixture
def fresh_bf16_probe():
    """_cpu_has_native_bf16 asks the CPU again in the test, and again after it (it is cached per process)."""
    precision._cpu_has_native_bf16.cache_clear()
    yield
    precision._cpu_has_native_bf16.cache_clear()


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_on_the_cpu_is_bf16_only_where_the_cpu_has_native_bf16(monkeypatch, native, expected):
    monkeypatch.setattr(precision, "_cpu_has_native_bf16", lambda: native)
    assert resolve_precision("auto", "cpu") == expected
    assert resolve_precision("auto", torch.device("cpu")) == expected


def test_auto_logs_its_choice_once(monkeypatch, caplog):
    monkeypatch.setattr(precision, "_cpu_has_native_bf16", lambda: False)
    precision._log_auto_choice.cache_clear()
    with caplog.at_level(logging.INFO, logger="clipstyler"):
        for _ in range(3):
            resolve_precision("auto", "cpu")
    assert caplog.text.count("precision auto on cpu: fp32 (no native bf16 on this CPU)") == 1


@pytest.mark.parametrize("flags, native", [
    ("fpu sse2 avx2 fma", False),
    ("fpu avx2 avx512f avx512bw avx512_vnni", False),  # AVX512 without BF16: oneDNN would emulate bf16
    ("fpu avx2 avx512f avx512_bf16", True),  # Cooper Lake, Zen 4
    ("fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8", True),  # Sapphire Rapids
])
def test_native_bf16_is_read_from_the_cpu_flags(fresh_bf16_probe, tmp_path, monkeypatch, flags, native):
    monkeypatch.setattr(precision, "torch_cpu_capabilities", lambda: None)  # a torch that cannot say
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    assert precision.cpu_flags(str(cpuinfo)) == set(flags.split())
    read_flags = precision.cpu_flags
    monkeypatch.setattr(precision, "cpu_flags", lambda: read_flags(str(cpuinfo)))
    assert precision._cpu_has_native_bf16() is native


@pytest.mark.parametrize("capabilities, native", [
    ({"architecture": "x86_64", "avx2": True, "avx512_f": True, "avx512_bf16": False, "amx_bf16": False}, False),
    ({"architecture": "x86_64", "avx2": True, "avx512_f": True, "avx512_bf16": True, "amx_bf16": False}, True),
    ({"architecture": "x86_64", "avx512_bf16": True, "amx_bf16": True, "amx_tile": True}, True),
    ({"architecture": "arm64", "neon": True, "bf16": True}, False),  # not measured on ARM: fp32 stays
])
def test_native_bf16_is_asked_of_torch_where_it_can_say(fresh_bf16_probe, monkeypatch, capabilities, native):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities, raising=False)
    monkeypatch.setattr(precision, "cpu_flags", lambda: pytest.fail("read /proc/cpuinfo although torch could say"))
    assert precision.torch_cpu_capabilities() == capabilities
    assert precision._cpu_has_native_bf16() is native


@pytest.mark.parametrize("get_capabilities", ["missing", "failing"])
def test_a_torch_that_cannot_say_falls_back_to_proc_cpuinfo(fresh_bf16_probe, monkeypatch, get_capabilities):
    if get_capabilities == "missing":
        monkeypatch.delattr(torch.cpu, "get_capabilities", raising=False)
    else:
        monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: (_ for _ in ()).throw(RuntimeError("no cpuinfo")),
                            raising=False)
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"fpu", "avx2", "avx512_bf16"})
    assert precision.torch_cpu_capabilities() is None
    assert precision._cpu_has_native_bf16() is True


@pytest.mark.skipif(not hasattr(torch.cpu, "get_capabilities") or not precision.cpu_flags(),
                    reason="needs both torch.cpu.get_capabilities and /proc/cpuinfo")
def test_torch_and_proc_cpuinfo_agree_on_this_cpu():
    flags, capabilities = precision.cpu_flags(), precision.torch_cpu_capabilities()
    for flag in precision.NATIVE_BF16_FLAGS:
        assert bool(capabilities.get(flag)) == (flag in flags), flag


def test_no_cpuinfo_means_no_flags(tmp_path):
    assert precision.cpu_flags(str(tmp_path / "missing")) == set()


@pytest.mark.parametrize("bf16_supported, expected", [(True, "bf16"), (False, "fp16")])
def test_auto_on_cuda_is_bf16_where_supported_else_fp16(monkeypatch, bf16_supported, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16_supported)
    assert resolve_precision("auto", "cuda") == expected
    assert resolve_precision("auto", "cuda:1") == expected


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("chosen", ["fp32", "bf16", "fp16"])
def test_a_concrete_precision_passes_through(monkeypatch, device, chosen):
    monkeypatch.setattr(precision, "_cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert resolve_precision(chosen, device) == chosen


@pytest.mark.parametrize("unknown", ["fp64", "FP32", "", "half"])
def test_an_unknown_precision_is_refused(unknown):
    with pytest.raises(CLIPstylerError, match="precision must be one of auto, fp32, bf16, fp16"):
        resolve_precision(unknown, "cpu")


@pytest.mark.parametrize("chosen", ["bf16", "fp16"])
def test_half_precision_on_a_cpu_without_native_bf16_is_warned_about_once(monkeypatch, caplog, chosen):
    monkeypatch.setattr(precision, "_cpu_has_native_bf16", lambda: False)
    precision._warn_slow_half_precision.cache_clear()
    with caplog.at_level(logging.WARNING, logger="clipstyler"):
        for _ in range(3):  # e.g. per image of a batch
            assert resolve_precision(chosen, "cpu") == chosen
    assert caplog.text.count(f"precision {chosen} on a CPU without native bf16") == 1


@pytest.mark.parametrize("chosen, device, native",
                         [("fp32", "cpu", False), ("auto", "cpu", False), ("bf16", "cpu", True), ("fp16", "cpu", True),
                          ("fp16", "cuda", False), ("bf16", "cuda", False)])
def test_no_warning_where_the_precision_is_not_slow(monkeypatch, caplog, chosen, device, native):
    monkeypatch.setattr(precision, "_cpu_has_native_bf16", lambda: native)
    with caplog.at_level(logging.WARNING, logger="clipstyler"):
        resolve_precision(chosen, device)
    assert caplog.text == ""


def test_fp16_scales_the_loss_starting_at_1():
    """GradScaler's usual first scale, 2**16, times CLIPstyler's loss (lambda_patch 9000) overflows fp16."""
    scaler = grad_scaler("fp16", "cpu")
    assert scaler.is_enabled() and scaler.get_scale() == 1.0
    loss = torch.tensor(2.0)
    assert scaler.scale(loss).item() == 2.0 * scaler.get_scale()


@pytest.mark.parametrize("chosen", ["fp32", "bf16"])
def test_other_precisions_get_a_pass_through_scaler(chosen):
    scaler = grad_scaler(chosen, "cpu")
    assert not scaler.is_enabled()
    loss = torch.tensor(2.0)
    assert scaler.scale(loss) is loss
    # step() is then optimizer.step() on the gradients as they are, and update() does nothing
    weight = torch.nn.Parameter(torch.tensor([1.0]))
    optimizer = torch.optim.SGD([weight], lr=0.5)
    (3.0 * weight).sum().backward()
    scaler.step(optimizer)
    scaler.update()
    assert weight.item() == 1.0 - 0.5 * 3.0


def one_step(clip, vgg, target, monkeypatch, **options):
    """One train_stylenet update on a 32 px image; returns the trained and the initial weights and the loop's
    GradScaler."""
    scalers = []

    def spy(chosen, device):
        scalers.append(grad_scaler(chosen, device))
        return scalers[-1]

    monkeypatch.setattr(optimize, "grad_scaler", spy)
    settings = StyleSettings(steps=1, size=32, crop_size=16, num_crops=2, crop_batch=1, **options)
    content = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    net, losses = optimize.train_stylenet(content, clip, vgg, target, settings, "cpu")
    assert all(torch.isfinite(value) for value in losses.values())
    start = build_stylenet(settings.ngf, settings.seed).state_dict()
    (scaler,) = scalers
    return net.state_dict(), start, scaler


# Small weights: the fp16 and fp32 gradients then agree closely enough to compare the update's signs.
SMALL_WEIGHTS = {"lambda_patch": 1.0, "lambda_dir": 1.0, "lambda_content": 1.0}
FIRST_SCALE = grad_scaler("fp16", "cpu").get_scale()


def test_the_first_fp16_step_at_the_papers_weights_is_taken(clip, vgg, target, monkeypatch):
    """With GradScaler's usual first scale the first ten or so steps overflowed and were skipped."""
    trained, start, scaler = one_step(clip, vgg, target, monkeypatch, precision="fp16")
    assert scaler.get_scale() == FIRST_SCALE  # no overflow: update() kept the scale
    assert any(not torch.equal(trained[name], start[name]) for name in start)  # and the weights moved


def test_an_fp16_step_on_the_cpu_is_scaled_and_updates_the_weights(clip, vgg, target, monkeypatch):
    trained, start, scaler = one_step(clip, vgg, target, monkeypatch, precision="fp16", **SMALL_WEIGHTS)
    assert scaler.is_enabled()
    assert scaler.get_scale() == FIRST_SCALE  # no overflow: update() kept the scale and the step was taken
    assert all(torch.isfinite(trained[name]).all() for name in start)
    # Adam's first update moves each weight by about lr * sign(gradient): the same signs as the fp32 step's
    reference, _, fp32_scaler = one_step(clip, vgg, target, monkeypatch, precision="fp32", **SMALL_WEIGHTS)
    assert not fp32_scaler.is_enabled()
    moved, moved_fp32 = (torch.cat([(state[name] - start[name]).flatten() for name in start
                                    if start[name].is_floating_point()]) for state in (trained, reference))
    assert (moved.abs() > 0.5 * StyleSettings().lr).float().mean() > 0.5
    assert (moved.sign() == moved_fp32.sign()).float().mean() > 0.9


def test_an_fp16_step_whose_gradients_overflow_is_skipped_not_applied(clip, vgg, target, monkeypatch):
    """A loss this large overflows fp16 at any scale: the scaler must skip the update (the weights stay as they
    were, finite) and halve its scale."""
    trained, start, scaler = one_step(clip, vgg, target, monkeypatch, precision="fp16", lambda_patch=1e8)
    assert scaler.get_scale() == FIRST_SCALE / 2
    assert all(torch.equal(trained[name], start[name]) for name in start)
