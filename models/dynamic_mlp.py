"""Dynamic MLP (Yang et al., CVPR 2022) as used by MoCoLSK's weight-generation pathway.

A dynamic MLP layer multiplies "image" tokens by a matrix that is itself predicted from
"condition" tokens. In MoCoLSK the image tokens are pyramid-pooled LST features and the
condition tokens pyramid-pooled guidance features, so the generated convolution weights are
conditioned on the guidance modality. Every operation here is per token and per sample.
"""

from __future__ import annotations

import torch
from torch import nn

DMLP_VERSIONS = ("A", "B", "C")


class _LinearReLU(nn.Sequential):
    """Linear -> (LayerNorm when bias-free) -> ReLU."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        layers: list[nn.Module] = [nn.Linear(in_features, out_features, bias=bias)]
        if not bias:
            layers.append(nn.LayerNorm(out_features))
        layers.append(nn.ReLU())
        super().__init__(*layers)


class DynamicLayer(nn.Module):
    """One dynamic MLP layer of version A, B or C mapping ``in_features`` -> ``out_features``.

    A: the condition alone predicts the (in x out) matrix.
    B: the image tokens are embedded first and the condition predicts the matrix.
    C: both the embedding and the matrix are predicted from [image, condition].
    """

    def __init__(self, in_features: int, out_features: int, cond_features: int, version: str):
        super().__init__()
        version = version.upper()
        if version not in DMLP_VERSIONS:
            raise ValueError(f"dynamic MLP version must be one of {DMLP_VERSIONS}, got {version!r}")
        self.version = version
        self.in_features = in_features
        self.out_features = out_features
        matrix_size = in_features * out_features
        if version == "A":
            self.matrix = nn.Linear(cond_features, matrix_size)
        else:
            source = cond_features if version == "B" else in_features + cond_features
            embed_source = in_features if version == "B" else in_features + cond_features
            self.embed = nn.Sequential(
                _LinearReLU(embed_source, in_features), nn.Linear(in_features, in_features)
            )
            self.matrix = nn.Sequential(
                _LinearReLU(source, in_features), nn.Linear(in_features, matrix_size)
            )
            self.refine = _LinearReLU(out_features, out_features, bias=False)
        self.norm = nn.Sequential(nn.LayerNorm(out_features), nn.ReLU())

    def forward(self, tokens: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """``tokens`` (B, N, in), ``condition`` (B, N, cond) -> (B, N, out)."""
        if self.version == "A":
            matrix_source, image = condition, tokens
        elif self.version == "B":
            matrix_source, image = condition, self.embed(tokens)
        else:
            joint = torch.cat([tokens, condition], dim=-1)
            matrix_source, image = joint, self.embed(joint)
        matrix = self.matrix(matrix_source).unflatten(-1, (self.in_features, self.out_features))
        mixed = (image.unsqueeze(-2) @ matrix).squeeze(-2)
        out = self.norm(mixed)
        return self.refine(out) if self.version != "A" else out


class DynamicWeightGenerator(nn.Module):
    """Tokens of X conditioned on tokens of Y -> one ``out_features`` vector per sample.

    embed X -> ``layers`` dynamic layers (hidden width ``hidden`` between them) -> linear +
    LayerNorm, plus a linear shortcut from X; the result is averaged over the tokens of each
    sample (never over the batch, so a sample's weights do not depend on its batch mates).
    """

    def __init__(
        self,
        channels: int,
        out_features: int,
        planes: int = 32,
        hidden: int = 32,
        layers: int = 1,
        version: str = "A",
    ):
        super().__init__()
        if layers < 1:
            raise ValueError(f"the dynamic MLP needs at least one layer, got {layers}")
        self.embed = nn.Linear(channels, planes)
        widths = [planes] + [hidden] * (layers - 1) + [planes]
        self.layers = nn.ModuleList(
            DynamicLayer(widths[i], widths[i + 1], channels, version) for i in range(layers)
        )
        self.head = nn.Sequential(nn.Linear(planes, out_features), nn.LayerNorm(out_features))
        self.shortcut = nn.Linear(channels, out_features)

    def forward(self, x_tokens: torch.Tensor, y_tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, C) and (B, N, C) -> (B, out_features)."""
        h = self.embed(x_tokens)
        for layer in self.layers:
            h = layer(h, y_tokens)
        out = self.head(h) + self.shortcut(x_tokens)
        return out.mean(dim=1)
