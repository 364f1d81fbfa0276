import pytest
import torch

from napari_doubledip.solver.augment import N_TRANSFORMS, dihedral, dihedral_inverse


@pytest.mark.parametrize("k", range(N_TRANSFORMS))
def test_dihedral_inverts_exactly(k):
    x = torch.rand(2, 3, 5, 7)
    assert torch.equal(dihedral_inverse(dihedral(x, k), k), x)


def test_transforms_are_distinct():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    outs = {tuple(dihedral(x, k).flatten().tolist()) for k in range(N_TRANSFORMS)}
    assert len(outs) == N_TRANSFORMS
