"""Random crops and dihedral augmentations applied identically to LR LST, guidance and HR LST."""

from __future__ import annotations

import numpy as np


def random_crop(
    lr: np.ndarray, guidance: np.ndarray, hr: np.ndarray, scale: int, crop: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``crop x crop`` HR window and the LR window under it (offsets on the LR grid).

    ``crop`` must be a multiple of ``scale`` and fit in the patch; the HR window starts on an
    LR pixel boundary so that LR and HR stay exactly co-registered.
    """
    if crop % scale:
        raise ValueError(f"crop {crop} is not a multiple of the scale {scale}")
    small = crop // scale
    h, w = lr.shape[-2:]
    if small > h or small > w:
        raise ValueError(f"crop {crop} px is larger than the {h * scale} px patch")
    top = int(rng.integers(0, h - small + 1))
    left = int(rng.integers(0, w - small + 1))
    hr_top, hr_left = top * scale, left * scale
    return (
        lr[..., top : top + small, left : left + small],
        guidance[..., hr_top : hr_top + crop, hr_left : hr_left + crop],
        hr[..., hr_top : hr_top + crop, hr_left : hr_left + crop],
    )


def dihedral(arrays: tuple[np.ndarray, ...], turns: int, flip: bool) -> tuple[np.ndarray, ...]:
    """Rotate every array by ``turns`` x 90 degrees in its last two axes, then mirror left-right."""
    out = []
    for array in arrays:
        moved = np.rot90(array, turns, axes=(-2, -1))
        if flip:
            moved = moved[..., ::-1]
        out.append(np.ascontiguousarray(moved))
    return tuple(out)


def augment(
    lr: np.ndarray, guidance: np.ndarray, hr: np.ndarray, scale: int, crop: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random crop, then one of the eight flips/rotations, the same for all three arrays."""
    cropped = random_crop(lr, guidance, hr, scale, crop, rng)
    turns, flip = int(rng.integers(0, 4)), bool(rng.integers(0, 2))
    lr_a, guidance_a, hr_a = dihedral(cropped, turns, flip)
    return lr_a, guidance_a, hr_a
