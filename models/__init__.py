"""PyTorch networks for guided LST downscaling.

Every model is an ``nn.Module`` with ``forward(lst_lr, guidance_hr) -> lst_hr`` on normalised
tensors: ``lst_lr`` is (B, 1, h, w), ``guidance_hr`` is (B, K, h*s, w*s), the output is
(B, 1, h*s, w*s). No I/O happens inside models. Build them by name through
:func:`models.registry.build_model`.
"""

from models.registry import ModelSpec, build_model, get_spec, list_models

__all__ = ["ModelSpec", "build_model", "get_spec", "list_models"]
