import pytest
import torch

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
