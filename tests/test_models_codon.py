"""CODON: size against the reference, every scale, gradients, the reference's forward, the CLI.

The shared interface (batch independence, checkpoint round trip, guidance checks) is tested
for CODON with every other model in test_models_baselines.py.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from groklst_cli.app import run
from models.blocks import bicubic_upsample
from models.codon import CrossDomainAttention
from models.cost import count_parameters
from models.registry import build_model, get_spec, list_models

# The reference at x4 with the 10 GrokLST bands: groklst/models/editors/codon/codon.py
# CODONNet4/CODONNet8(gui_channels=10) of the GrokLST toolkit (the authors' CODON_X4/CODON_x4.py
# CODONNet with a 10-band guidance input), CAC_channel/CAC_spatial as in the authors'
# CAC_module.py, ChannelGate as in their attention/ResCBAM.py. Counted by instantiating a
# transcription of its __init__ outside this repository: 1,871,320 parameters, of which 630
# (attention_c5, a ChannelGate(64): 580; attention_s5, a CAC_spatial: 50) are never called by
# its forward and are left out here. Every convolution is bias-free: 8 3x3/5x5/1x1 convolutions
# per branch and fusion path, 5 CAC channel MLPs (128 -> 8 -> 64, 1,608 each) and 5 spatial
# 5x5 convolutions (50 each).
REFERENCE_X4 = 1_871_320
UNUSED_IN_REFERENCE = 630
PARAMS_X4 = REFERENCE_X4 - UNUSED_IN_REFERENCE  # 1,870,690

TINY = {"channels": 8, "recursions": 2, "fusion_recursions": 1, "reduction": 4}


def inputs(scale: int, bands: int = 3, batch: int = 2, h: int = 5, w: int = 4, dtype=torch.float32):
    gen = torch.Generator().manual_seed(1)
    lst = torch.randn(batch, 1, h, w, generator=gen, dtype=dtype)
    return lst, torch.randn(batch, bands, h * scale, w * scale, generator=gen, dtype=dtype)


def test_parameter_count_matches_the_reference_at_x4():
    with torch.device("meta"):
        net = build_model("codon", scale=4, guidance_channels=10)
        gray = build_model("codon", scale=4, guidance_channels=1)  # the authors' 1-band guide
    assert count_parameters(net) == PARAMS_X4 == 1_870_690
    # only the guidance stem's first 3x3 convolution (64 x K x 9) depends on the band count
    assert count_parameters(net) - count_parameters(gray) == 9 * 64 * 9


def test_recursions_share_their_convolutions():
    """Each recursion adds one CAC (its own weights), never a convolution."""
    def size(**kwargs):
        with torch.device("meta"):
            return count_parameters(build_model("codon", scale=2, guidance_channels=10, **kwargs))

    cac = count_parameters(CrossDomainAttention(64))
    assert cac == (128 * 8 + 8) + (8 * 64 + 64) + 2 * 25
    assert size(recursions=2) == size() - 3 * cac
    assert size(fusion_recursions=1) == size()


def test_is_registered_for_every_scale():
    spec = get_spec("codon")
    assert spec.guided and spec.learned and spec.scales is None
    names = [s.name for s in list_models()]
    assert "codon" in names and names.index("dsrn") < names.index("codon") < names.index("rdn")


@pytest.mark.parametrize("scale", [2, 3, 4, 5, 8, 16])
def test_output_shape_and_finite_at_every_scale(scale):
    torch.manual_seed(0)
    net = build_model("codon", scale=scale, guidance_channels=3, **TINY).eval()
    lst, guidance = inputs(scale, h=3 if scale == 16 else 5)
    with torch.no_grad():
        out = net(lst, guidance)
    assert out.shape == (2, 1, lst.shape[2] * scale, lst.shape[3] * scale)
    assert torch.isfinite(out).all()


def test_every_parameter_gets_a_gradient_at_the_reference_depth():
    """5 attended recursions and 3 fusion recursions (narrow): all 5 CACs train."""
    torch.manual_seed(0)
    net = build_model("codon", scale=3, guidance_channels=3, channels=8, reduction=4).train()
    lst, guidance = inputs(3, batch=4)
    level, contrast = torch.linspace(-2, 2, 4), torch.linspace(0.5, 3.0, 4)
    lst = lst * contrast.view(4, 1, 1, 1) + level.view(4, 1, 1, 1)  # pooled inputs differ
    net(lst, guidance).square().mean().backward()
    dead = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert dead == []
    assert len(net.attentions) == 5


def test_the_output_is_a_residual_on_the_bicubic_upsample():
    net = build_model("codon", scale=4, guidance_channels=3, **TINY).eval()
    with torch.no_grad():
        net.head[-1].weight.zero_()
        lst, guidance = inputs(4)
        assert torch.allclose(net(lst, guidance), bicubic_upsample(lst, 4), atol=1e-6)


def test_reference_initialisation_starts_far_from_the_upsample():
    """N(0, 2 / (k^2 out)) on bias-free convolutions: a residual of std ~15-40 on unit-variance
    inputs; PyTorch's default initialisation (``reference_init=False``) starts near zero."""
    lst, guidance = inputs(2, bands=10, batch=1, h=8, w=8)
    spread = {}
    for reference_init in (True, False):
        torch.manual_seed(0)
        net = build_model("codon", scale=2, guidance_channels=10,
                          reference_init=reference_init).eval()
        with torch.no_grad():
            spread[reference_init] = (net(lst, guidance) - bicubic_upsample(lst, 2)).std().item()
    assert spread[True] > 5.0 and spread[False] < 0.1


def test_cross_domain_attention_is_one_mask_from_both_domains():
    torch.manual_seed(0)
    cac = CrossDomainAttention(8, reduction=4)
    lst, guidance = torch.randn(2, 8, 6, 5), torch.randn(2, 8, 6, 5)
    mask = cac(lst, guidance)
    assert mask.shape == (2, 8, 6, 5) and bool(((mask > 0) & (mask < 1)).all())
    assert not torch.allclose(mask, cac(lst, torch.randn_like(guidance)))
    assert not torch.allclose(mask, cac(torch.randn_like(lst), guidance))


def test_refuses_no_recursion():
    with pytest.raises(ValueError, match="recursions"):
        build_model("codon", scale=4, guidance_channels=3, recursions=0)


def test_matches_the_reference_forward():
    """The reference's forward restated layer by layer (its names, its concatenation orders)
    on our weights, in float64: the guidance branch and the fusion path concatenate their
    (5x5, 3x3) outputs where ours has (3x3, 5x5), so their mixing weights are the permutation."""
    torch.manual_seed(0)
    c, bands, scale = 8, 3, 3
    net = build_model("codon", scale=scale, guidance_channels=bands, channels=c, reduction=4)
    net = net.double().eval()
    swap = lambda w: torch.cat([w[:, c:], w[:, :c]], dim=1)  # noqa: E731
    conv = lambda x, w: F.conv2d(x, w, padding=w.shape[-1] // 2)  # noqa: E731

    def mlp(a, v):
        hidden = F.relu(F.linear(v, a.channel_mlp[0].weight, a.channel_mlp[0].bias))
        return F.linear(hidden, a.channel_mlp[2].weight, a.channel_mlp[2].bias)

    def reference(x, y):
        x = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
        inputs_d = F.relu(conv(F.relu(conv(x, net.lst_stem[0].weight)), net.lst_stem[2].weight))
        inputs_c = F.relu(conv(F.relu(conv(y, net.guidance_stem[0].weight)),
                               net.guidance_stem[2].weight))
        out, out_c = inputs_d, inputs_c
        lu, gu, fu = net.lst_unit, net.guidance_unit, net.fusion_unit
        for a in net.attentions:
            stage = torch.cat((F.relu(conv(out, lu.small.weight)),
                               F.relu(conv(out, lu.large.weight))), 1)
            stage_c = torch.cat((F.relu(conv(out_c, gu.large.weight)),
                                 F.relu(conv(out_c, gu.small.weight))), 1)
            out = conv(F.relu(conv(stage, lu.mix.weight)), lu.squeeze.weight)
            out_c = conv(F.relu(conv(stage_c, swap(gu.mix.weight))), gu.squeeze.weight)
            cat = torch.cat((out_c, out), 1)
            pooled_avg = F.avg_pool2d(cat, cat.shape[2:]).flatten(1)
            pooled_max = F.max_pool2d(cat, cat.shape[2:]).flatten(1)
            channel = torch.sigmoid(mlp(a, pooled_avg) + mlp(a, pooled_max))[..., None, None]
            compress = torch.cat((cat.max(1)[0][:, None], cat.mean(1)[:, None]), 1)
            mask = channel * torch.sigmoid(conv(compress, a.spatial.weight))
            out, out_c = out * mask + inputs_d, out_c * mask + inputs_c
        fuse = F.relu(conv(torch.cat((out, out_c), 1), net.fuse[0].weight))
        out_fuse = fuse
        for _ in range(3):
            stage = torch.cat((F.relu(conv(out_fuse, fu.large.weight)),
                               F.relu(conv(out_fuse, fu.small.weight))), 1)
            out_fuse = conv(F.relu(conv(stage, swap(fu.mix.weight))), fu.squeeze.weight) + fuse
        return conv(F.relu(conv(out_fuse, net.head[0].weight)), net.head[2].weight) + x

    lst, guidance = inputs(scale, bands, h=7, w=6, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(net(lst, guidance), reference(lst, guidance), rtol=0, atol=1e-9)


def test_groklst_models_lists_it(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GROKLST_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("models.registry.list_models", lambda: [get_spec("codon")])
    assert run(["models", "--scale", "4", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["name"] == "codon" and row["guided"] is True and row["learned"] is True
    assert row["params"] == PARAMS_X4 and row["scales"] == "any"
    # every convolution at HR: about 14.9 MFLOP per output pixel
    assert row["gflop_per_mpx"] == pytest.approx(14_866, rel=0.01)
    assert run(["models", "--scale", "3"]) == 0
    assert "codon" in capsys.readouterr().out
