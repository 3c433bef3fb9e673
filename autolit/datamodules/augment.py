"""Augmentations from config through a plain registry of torchvision transforms v2.

A spec is a list of one-key maps, like the layer spec::

    augment:
      - RandomHorizontalFlip: {p: 0.5}
      - RandomResizedCrop: {size: 64, scale: [0.8, 1.0], antialias: true}

They run on uint8 ``(C, H, W)`` tensors in the loader workers, on the training split only.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from torchvision.transforms import v2

from autolit.errors import UserError

AUGMENTATIONS: dict[str, type] = {
    "RandomHorizontalFlip": v2.RandomHorizontalFlip,
    "RandomVerticalFlip": v2.RandomVerticalFlip,
    "RandomResizedCrop": v2.RandomResizedCrop,
    "RandomCrop": v2.RandomCrop,
    "RandomRotation": v2.RandomRotation,
    "RandomAffine": v2.RandomAffine,
    "ColorJitter": v2.ColorJitter,
    "RandomGrayscale": v2.RandomGrayscale,
    "RandomErasing": v2.RandomErasing,
    "GaussianBlur": v2.GaussianBlur,
    "RandAugment": v2.RandAugment,
    "TrivialAugmentWide": v2.TrivialAugmentWide,
}


def build_augment(spec: Sequence[dict[str, Any]] | None) -> v2.Compose | None:
    """Build a ``v2.Compose`` from an ``augment`` spec; ``None`` or ``[]`` means no augmentation."""
    if not spec:
        return None
    steps = []
    for i, entry in enumerate(spec):
        where = f"data.augment[{i}]"
        if not isinstance(entry, dict) or len(entry) != 1:
            raise UserError(f"{where} must be a one-key map like {{RandomHorizontalFlip: {{p: 0.5}}}}, got {entry!r}")
        (name, kwargs), = entry.items()
        if name not in AUGMENTATIONS:
            close = difflib.get_close_matches(str(name), AUGMENTATIONS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UserError(
                f"{where}: unknown augmentation {name!r}{hint}; valid: {', '.join(sorted(AUGMENTATIONS))}"
            )
        try:
            steps.append(AUGMENTATIONS[name](**(kwargs or {})))
        except (TypeError, ValueError) as exc:
            raise UserError(f"{where}.{name}: {exc}") from None
    return v2.Compose(steps)
