"""MoCoLSK-Net: sizes against the reference, shapes at any scale, the two fixed defects."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from models.blocks import RCAB, DepthwiseConv, ProjectionUnit, ResidualGroup, projection_geometry
from models.cost import count_parameters, flops_per_output_pixel, model_cost
from models.mocolsk import (
    ChannelSelection,
    MoCoLSKNet,
    SpatialSelection,
    channel_mean_max,
    pyramid_tokens,
)
from models.registry import build_model
from pipelines.checkpoint import Checkpoint, load_checkpoint, state_dict_of

TINY = {
    "base_dim": 8,
    "num_stages": 2,
    "blocks_per_group": 1,
    "reduction": 4,
    "dmlp_hidden": 8,
    "recon_hr_blocks": 1,
}


def tiny_net(scale: int, bands: int = 3, **overrides: object) -> MoCoLSKNet:
    torch.manual_seed(0)
    return build_model("mocolsk", scale=scale, guidance_channels=bands, **{**TINY, **overrides})


def inputs(batch: int, scale: int, h: int = 7, w: int = 9, bands: int = 3, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    lst = torch.randn(batch, 1, h, w, generator=gen)
    guidance = torch.randn(batch, bands, h * scale, w * scale, generator=gen)
    return lst, guidance


def test_single_module_matches_reference_size():
    # Table III: "0.04M / 1.03G" for one MoCoLSK module at 32 channels, 512 x 512; counted
    # on the meta device, so nothing is computed.
    module = SpatialSelection(32)
    assert count_parameters(module) == 41_392
    x = torch.empty(1, 32, 512, 512, device="meta")
    counter = FlopCounterMode(display=False)
    with counter:
        module.to("meta")(x, x)
    assert counter.get_total_flops() / 2 == pytest.approx(1.035e9, rel=0.005)


@pytest.mark.parametrize("scale, expected", [(2, 20.0e6), (4, 25.4e6), (8, 40.9e6)])
def test_full_model_parameter_count(scale, expected):
    net = build_model("mocolsk", scale=scale, guidance_channels=10)
    assert count_parameters(net) == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize("scale", [2, 3, 4, 5, 8])
def test_projection_units_give_exact_sizes(scale):
    kernel, stride, padding = projection_geometry(scale)
    assert (kernel - 2 * padding, stride) == (scale, scale)
    up = ProjectionUnit(4, 3, scale, up=True)
    down = ProjectionUnit(3, 5, scale, up=False)
    x = torch.randn(1, 4, 5, 11)
    hr = up(x)
    assert hr.shape == (1, 3, 5 * scale, 11 * scale)
    assert down(hr).shape == (1, 5, 5, 11)


@pytest.mark.parametrize("size", [(24, 24), (17, 23), (4, 5)])
@pytest.mark.parametrize("kernel, dilation", [(7, 3), (5, 2), (5, 1)])
def test_polyphase_depthwise_equals_dilated_convolution(size, kernel, dilation):
    torch.manual_seed(0)
    conv = DepthwiseConv(6, kernel, dilation)
    x = torch.randn(2, 6, *size)
    expected = F.conv2d(
        x, conv.weight, conv.bias, padding=dilation * (kernel // 2), dilation=dilation, groups=6
    )
    assert torch.allclose(conv(x), expected, atol=1e-5)


def _out_of_place(block: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The blocks' formulas written without in-place operations (what they computed before)."""
    if isinstance(block, ProjectionUnit):
        a0 = block.forward_1(x)
        return a0 + block.forward_2(block.backward(a0) - x)
    conv_1, act, conv_2, attention = block.body
    features = conv_2(F.leaky_relu(conv_1(x), act.negative_slope))
    return x + features * attention.gate(features)


@pytest.mark.parametrize("make", [lambda: RCAB(8, 4), lambda: ProjectionUnit(8, 6, 3, up=True),
                                  lambda: ProjectionUnit(8, 6, 3, up=False)])
def test_in_place_blocks_equal_their_formula_and_train(make):
    torch.manual_seed(0)
    block = make()
    x = torch.randn(2, 8, 12, 12)
    with torch.inference_mode():
        assert torch.equal(block(x.clone()), _out_of_place(block, x))
    leaf = x.clone().requires_grad_()
    block(leaf).square().sum().backward()  # no "modified by an inplace operation" error
    reference = x.clone().requires_grad_()
    _out_of_place(block, reference).square().sum().backward()
    assert torch.allclose(leaf.grad, reference.grad, atol=1e-6)


def test_residual_group_leaves_its_input_untouched():
    x = torch.randn(1, 8, 10, 10)
    kept = x.clone()
    with torch.inference_mode():
        ResidualGroup(8, 2, 4)(x)
    assert torch.equal(x, kept)


@pytest.mark.parametrize("size", [(36, 48), (37, 50)])  # coarse levels from the 6x6 one / direct
def test_pyramid_tokens_are_each_levels_average_pool(size):
    x = torch.randn(2, 5, *size)
    expected = torch.cat([F.adaptive_avg_pool2d(x, b).flatten(2) for b in (1, 2, 3, 6)], dim=2)
    tokens = pyramid_tokens(x)
    assert tokens.shape == (2, 50, 5)
    assert torch.allclose(tokens, expected.transpose(1, 2), atol=1e-6)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_channel_mean_max_is_that_of_the_concatenation(layout):
    u1, u2 = (torch.randn(2, 8, 12, 10).contiguous(memory_format=layout) for _ in range(2))
    both = torch.cat([u1, u2], dim=1)
    descriptor = channel_mean_max(u1, u2)
    assert descriptor.shape == (2, 2, 12, 10)
    assert torch.allclose(descriptor[:, :1], both.mean(dim=1, keepdim=True), atol=1e-6)
    assert torch.equal(descriptor[:, 1:], both.amax(dim=1, keepdim=True))
    with pytest.raises(ValueError, match="same shape"):
        channel_mean_max(u1, u2[:, :4])


def test_projection_geometry_matches_dbpn_and_x3():
    assert [projection_geometry(s) for s in (2, 3, 4, 8)] == [
        (6, 2, 2), (7, 3, 2), (8, 4, 2), (12, 8, 2)
    ]


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_output_shape_and_bicubic_residual(scale):
    net = tiny_net(scale).eval()
    lst, guidance = inputs(2, scale, h=5, w=7)
    with torch.no_grad():
        out = net(lst, guidance)
    assert out.shape == (2, 1, 5 * scale, 7 * scale)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    "overrides",
    [
        {"selection": ["C", "S"]},
        {"selection": "SC", "dmlp_version": "B", "dmlp_layers": 2},
        {"dmlp_version": "C", "dmlp_layers": 3, "weight_size": 5},
        {"kernels": [[3, 1], [5, 2]]},
    ],
)
def test_variants_run(overrides):
    net = tiny_net(3, **overrides).eval()
    lst, guidance = inputs(2, 3)
    with torch.no_grad():
        assert net(lst, guidance).shape == (2, 1, 21, 27)


def test_channel_selection_uses_channel_variant():
    net = tiny_net(2, selection=["C", "S"])
    assert isinstance(net.fusions[0].pathway, ChannelSelection)
    assert isinstance(net.fusions[1].pathway, SpatialSelection)


@pytest.mark.parametrize("selection", [["S", "S"], ["C", "C"]])
def test_every_parameter_gets_a_gradient(selection):
    # Reference defect 1: the generated weights were detached, so MCWG never trained.
    net = tiny_net(2, selection=selection).train()
    lst, guidance = inputs(2, 2)
    net(lst, guidance).square().mean().backward()
    dead = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert dead == []
    mcwg = [n for n, _ in net.named_parameters() if ".pathway.weights." in n]
    assert len(mcwg) > 0


@pytest.mark.parametrize("name", ["mocolsk", "mocolsk-lite"])
def test_samples_do_not_depend_on_batch_mates(name):
    # Reference defect 2: weights were averaged over the batch.
    torch.manual_seed(0)
    kwargs = TINY if name == "mocolsk" else {}
    net = build_model(name, scale=3, guidance_channels=3, **kwargs).eval()
    lst, guidance = inputs(4, 3, h=11, w=13)
    with torch.no_grad():
        together = net(lst, guidance)
        for i in range(4):
            alone = net(lst[i : i + 1], guidance[i : i + 1])
            assert (together[i : i + 1] - alone).abs().max().item() < 1e-5


def test_deterministic_given_seed():
    lst, guidance = inputs(1, 2)
    a, b = tiny_net(2).eval(), tiny_net(2).eval()
    with torch.no_grad():
        assert torch.equal(a(lst, guidance), b(lst, guidance))
        assert torch.equal(a(lst, guidance), a(lst, guidance))


def test_checkpoint_round_trip(tmp_path):
    net = tiny_net(3).eval()
    ckpt = Checkpoint(
        model="mocolsk", scale=3, bands=["b1", "b2", "b3"], model_kwargs=dict(TINY),
        state_dict=state_dict_of(net),
    )
    path = ckpt.save(tmp_path / "m.pt")
    rebuilt = load_checkpoint(path).build()
    lst, guidance = inputs(2, 3)
    with torch.no_grad():
        assert torch.equal(net(lst, guidance), rebuilt(lst, guidance))


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_lite_is_at_most_a_twentieth_of_the_paper_model(scale):
    full = model_cost("mocolsk", scale, guidance_channels=10)
    lite = model_cost("mocolsk-lite", scale, guidance_channels=10)
    assert full.gflop_per_mpx == pytest.approx(19_000, rel=0.2)  # ~19 MFLOP per output pixel
    assert lite.gflop_per_mpx <= full.gflop_per_mpx / 20


def test_flop_count_on_meta_matches_real_tensors():
    net = tiny_net(3)
    real = flops_per_output_pixel(net, 3, 3, lr_size=8)
    meta = flops_per_output_pixel(tiny_net(3).to("meta"), 3, 3, lr_size=8)
    assert real == meta > 0


def test_clear_errors():
    with pytest.raises(ValueError, match="single-image"):
        build_model("mocolsk", scale=2, guidance_channels=0)
    with pytest.raises(ValueError, match="one 'S'/'C' per stage"):
        tiny_net(2, selection=["S"])
    net = tiny_net(2).eval()
    lst, guidance = inputs(1, 2)
    with pytest.raises(ValueError, match="guidance_hr must be"):
        net(lst, guidance[..., :-1])
    with pytest.raises(ValueError, match="scale must be an integer"):
        build_model("mocolsk", scale=1, guidance_channels=3)


def test_lite_learns_detail_that_only_the_guidance_has():
    # HR target = smooth field + a guidance band; bicubic cannot recover the band's detail.
    torch.manual_seed(0)
    guidance = torch.randn(2, 2, 32, 32)
    target = F.interpolate(torch.randn(2, 1, 4, 4), size=32, mode="bicubic") + guidance[:, :1]
    lst = F.avg_pool2d(target, 2)
    net = build_model(
        "mocolsk-lite", scale=2, guidance_channels=2, base_dim=8, num_stages=2, dmlp_hidden=8
    )
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    bicubic_error = F.l1_loss(F.interpolate(lst, scale_factor=2, mode="bicubic"), target).item()
    for _ in range(30):
        optimiser.zero_grad()
        loss = F.l1_loss(net(lst, guidance), target)
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.6 * bicubic_error
