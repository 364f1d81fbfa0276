"""The 8 dihedral transforms (4 rotations x optional flip) used to enrich the single training example."""

from __future__ import annotations

import torch

__all__ = ["dihedral", "dihedral_inverse", "N_TRANSFORMS"]

N_TRANSFORMS = 8


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """Apply transform ``k`` in ``0..7`` to the last two axes.

    Flip up-down if ``k >= 4``, then rotate by ``k % 4`` x 90 degrees.
    """
    if k >= 4:
        x = torch.flip(x, dims=(-2,))
    return torch.rot90(x, k % 4, dims=(-2, -1)) if k % 4 else x


def dihedral_inverse(x: torch.Tensor, k: int) -> torch.Tensor:
    """Undo :func:`dihedral` with the same ``k``."""
    if k % 4:
        x = torch.rot90(x, -(k % 4), dims=(-2, -1))
    return torch.flip(x, dims=(-2,)) if k >= 4 else x
