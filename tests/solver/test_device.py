import pytest
import torch

from napari_doubledip import _validation as validation
from napari_doubledip.solver import device as device_mod
from napari_doubledip.solver.device import resolve_precision


def test_resolve_precision_names(monkeypatch):
    monkeypatch.delenv("NAPARI_DOUBLEDIP_PRECISION", raising=False)
    cpu = torch.device("cpu")
    assert resolve_precision("float32", cpu) is None
    assert resolve_precision("bfloat16", cpu) is torch.bfloat16
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("half", cpu)


def test_auto_precision_follows_the_cpu(monkeypatch):
    monkeypatch.delenv("NAPARI_DOUBLEDIP_PRECISION", raising=False)
    cpu = torch.device("cpu")
    monkeypatch.setattr(device_mod, "_cpu_has_amx", lambda: True)
    assert resolve_precision("auto", cpu) is torch.bfloat16
    monkeypatch.setattr(device_mod, "_cpu_has_amx", lambda: False)
    assert resolve_precision("auto", cpu) is None
    monkeypatch.setenv("NAPARI_DOUBLEDIP_PRECISION", "bfloat16")  # the environment pins what "auto" means
    assert resolve_precision("auto", cpu) is torch.bfloat16
    assert resolve_precision("float32", cpu) is None  # an explicit choice wins


def test_device_names_are_case_insensitive():
    assert device_mod.resolve_device("CPU") == torch.device("cpu")
    assert device_mod.resolve_device(" Cpu ") == torch.device("cpu")
    with pytest.raises(ValueError, match="device"):
        device_mod.resolve_device("cpu:x")


def test_device_indices(monkeypatch):
    assert device_mod.resolve_device("cpu:0") == torch.device("cpu")  # e.g. a tensor's .device
    for name in ("cpu:5", "auto:3", "mps:1"):  # only CUDA has devices to choose from
        with pytest.raises(ValueError, match="only 'cuda' takes an index"):
            device_mod.resolve_device(name)
    monkeypatch.setattr(device_mod, "available_devices", lambda: ["cuda", "cpu"])  # a one-GPU machine
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert device_mod.resolve_device("cuda:0") == torch.device("cuda", 0)
    assert device_mod.resolve_device("cuda") == torch.device("cuda")
    with pytest.raises(ValueError, match="1 CUDA device"):
        device_mod.resolve_device("cuda:5")


def test_unknown_precision_environment_value_warns(monkeypatch):
    import warnings

    cpu = torch.device("cpu")
    monkeypatch.setattr(device_mod, "_cpu_has_amx", lambda: False)
    monkeypatch.setattr(validation, "_SAID_ONCE", set())
    monkeypatch.setenv("NAPARI_DOUBLEDIP_PRECISION", "bf16")
    with pytest.warns(UserWarning, match="NAPARI_DOUBLEDIP_PRECISION='bf16'"):
        assert resolve_precision("auto", cpu) is None  # ignored: "auto" as without the variable
    with warnings.catch_warnings():  # said once a process, not at every run (as the threads' setting)
        warnings.simplefilter("error")
        assert resolve_precision("auto", cpu) is None
    monkeypatch.setenv("NAPARI_DOUBLEDIP_PRECISION", "fp16")
    with pytest.warns(UserWarning, match="NAPARI_DOUBLEDIP_PRECISION"):
        resolve_precision("float32", cpu)  # a typo is reported whatever the task asks for
    for value in ("auto", "", "Float32"):
        monkeypatch.setenv("NAPARI_DOUBLEDIP_PRECISION", value)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert resolve_precision("auto", cpu) is None


def test_mps_needs_a_torch_that_runs_the_solver_there(monkeypatch):
    """(A review's case.) torch 2.3-2.6 has no antialiased resize on MPS: every run on a Mac would have raised
    NotImplementedError at its first resize. MPS counts only from torch 2.7; asked for, an older one says why."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_mod, "_mps_present", lambda: True)
    monkeypatch.setattr(torch, "__version__", "2.6.0")
    assert device_mod.available_devices() == ["cpu"]
    assert device_mod.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"device 'mps' needs torch >= 2\.7 .* this is torch 2\.6\.0"):
        device_mod.resolve_device("mps")
    for version in ("2.7.0", "2.13.0+cpu", "3.0.0a0"):
        monkeypatch.setattr(torch, "__version__", version)
        assert device_mod.available_devices() == ["mps", "cpu"]
        assert device_mod.resolve_device("auto") == torch.device("mps")


def test_auto_prefers_cuda_over_mps(monkeypatch):
    """A machine with both gets CUDA."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(device_mod, "_mps_present", lambda: True)
    monkeypatch.setattr(torch, "__version__", "2.7.0")
    assert device_mod.available_devices() == ["cuda", "mps", "cpu"]
    assert device_mod.resolve_device("auto") == torch.device("cuda")


def test_a_cuda_index_one_past_the_last_device_is_refused(monkeypatch):
    """cuda:1 on a one-GPU machine (mutation: ``>`` for ``>=`` in the index check; the existing test uses
    cuda:5)."""
    monkeypatch.setattr(device_mod, "available_devices", lambda: ["cuda", "cpu"])
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="1 CUDA device"):
        device_mod.resolve_device("cuda:1")


def test_unknown_device_names_say_what_is_accepted():
    """(Mutation: the name check dropped; a later check still raises, but says "not available here".)"""
    for name in ("tpu", "gpu", "xpu:0"):
        with pytest.raises(ValueError, match="must be one of"):
            device_mod.resolve_device(name)


def test_auto_precision_is_float32_off_the_cpu_even_with_amx(monkeypatch):
    """bfloat16 "auto" only on AMX CPUs: a GPU run on an AMX host stays float32 (mutation: the device type
    check dropped)."""
    monkeypatch.delenv("NAPARI_DOUBLEDIP_PRECISION", raising=False)
    monkeypatch.setattr(device_mod, "_cpu_has_amx", lambda: True)
    assert resolve_precision("auto", torch.device("cuda")) is None
    assert resolve_precision("auto", torch.device("mps")) is None


def test_bfloat16_on_a_cuda_gpu_without_it_is_refused(monkeypatch):
    """(Mutation: the CUDA bf16 support check dropped.)"""
    monkeypatch.delenv("NAPARI_DOUBLEDIP_PRECISION", raising=False)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with pytest.raises(ValueError, match="no bfloat16 support"):
        resolve_precision("bfloat16", torch.device("cuda"))
