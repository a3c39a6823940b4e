"""Every registered model honours the shared interface: shapes, gradients, batches, checkpoints."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.registry import build_model, get_spec, list_models
from pipelines.checkpoint import Checkpoint, load_checkpoint, state_dict_of

# Tiny widths so the whole interface is exercised in seconds (the parameter counts of the full
# configurations are in test_models_zoo.py).
TINY: dict[str, dict[str, object]] = {
    "bicubic": {},
    "bilinear": {},
    "mocolsk": {"base_dim": 8, "num_stages": 2, "blocks_per_group": 1, "reduction": 4,
                "dmlp_hidden": 8, "recon_hr_blocks": 1},
    "mocolsk-lite": {"base_dim": 8, "num_stages": 2, "dmlp_hidden": 8},
    "edsr": {"channels": 8, "blocks": 2},
    "rcan": {"channels": 8, "groups": 2, "blocks": 2, "reduction": 4},
    "djfr": {"branch_channels": 8, "fusion_channels": 8},
    "fdsr": {"channels": 8, "stages": 2},
    "suft": {"channels": 8, "stages": 2, "blocks": 1, "tail_groups": 1, "tail_blocks": 1,
             "reduction": 2},
    "ahmf": {"channels": 8, "levels": 2, "gru_layers": 1},
    "rsag": {"channels": 4, "blocks": 1, "reduction": 4},
    "dkn": {"widths": [4, 8, 8]},
    "fdkn": {"factor": 2, "widths": [4, 8, 8]},
    "dagf": {"channels": 8, "levels": 2, "res_blocks": 1},
    "svlrm": {"channels": 8, "layers": 2},
    "msgnet": {"channels": 8, "head_channels": 8},
    "dgf": {"channels": 8},
    "p2p": {"hidden": 8, "width": 32},
    "dsrn": {"channels": 4},
    "codon": {"channels": 8, "recursions": 2, "fusion_recursions": 1, "reduction": 4},
    "rdn": {"channels": 8, "blocks": 2, "layers": 2, "growth": 4},
    "dbpn": {"channels": 8, "features": 16, "stages": 3},
    "srfbn": {"channels": 8, "groups": 2, "steps": 2},
    "ctnet": {"channels": 32, "blocks": 2, "up_channels": 8},
    "fenet": {"channels": 48, "blocks": 2},  # narrower, its 1-2 unit gate bottlenecks start dead
    "cfgn": {"channels": 8, "blocks": 2},
    "fenet-freq": {"channels": 8, "blocks": 2, "groups": 2},
    "dctlsa": {"channels": 8, "blocks": 2, "heads": 2, "window": 4},
}
SPECS = {spec.name: spec for spec in list_models()}
NAMES = list(SPECS)
LEARNED = [name for name, spec in SPECS.items() if spec.learned]
FIXED = [name for name, spec in SPECS.items() if not spec.learned]
SINGLE_IMAGE = [name for name, spec in SPECS.items() if spec.learned and not spec.guided]
GUIDED = [name for name, spec in SPECS.items() if spec.learned and spec.guided]
BANDS = 3
SHAPE_CASES = [
    (name, scale) for name in NAMES for scale in (2, 3, 4, 8) if SPECS[name].supports(scale)
]


def make(name: str, scale: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, scale=scale, guidance_channels=BANDS, **TINY[name])


def small_scale(name: str, preferred: int = 2) -> int:
    """``preferred`` if the model works there, else its smallest scale."""
    spec = SPECS[name]
    return preferred if spec.supports(preferred) else min(spec.scales or (preferred,))


def inputs(batch: int, scale: int, h: int = 9, w: int = 7, seed: int = 3):
    gen = torch.Generator().manual_seed(seed)
    lst = torch.randn(batch, 1, h, w, generator=gen)
    return lst, torch.randn(batch, BANDS, h * scale, w * scale, generator=gen)


def test_registry_has_the_issue_models():
    assert set(TINY) == set(NAMES)
    guided = {s.name for s in list_models() if s.guided and s.learned}
    single = {s.name for s in list_models() if not s.guided and s.learned}
    assert {"mocolsk", "mocolsk-lite", "djfr", "fdsr", "suft", "ahmf", "rsag", "dkn", "fdkn",
            "dagf", "svlrm", "msgnet", "dgf", "p2p", "dsrn", "codon"} <= guided
    assert {"edsr", "rcan", "rdn", "dbpn", "srfbn", "ctnet", "fenet", "fenet-freq", "cfgn",
            "dctlsa"} <= single
    assert not get_spec("bicubic").learned and not get_spec("bilinear").learned


@pytest.mark.parametrize("name, scale", SHAPE_CASES)
def test_output_shape(name, scale):
    net = make(name, scale).eval()
    lst, guidance = inputs(2, scale)
    with torch.no_grad():
        out = net(lst, guidance)
    assert out.shape == (2, 1, 9 * scale, 7 * scale)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", FIXED)
def test_interpolation_reproduces_a_constant(name):
    net = make(name, 2)
    out = net(torch.full((1, 1, 6, 6), 2.5), None)
    assert torch.allclose(out, torch.full((1, 1, 12, 12), 2.5), atol=1e-5)


def test_bicubic_matches_torch():
    lst, guidance = inputs(1, 4)
    expected = F.interpolate(lst, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.equal(make("bicubic", 4)(lst, guidance), expected)


@pytest.mark.parametrize("name, scales", [("rsag", (2, 3)), ("msgnet", (3, 5))])
def test_unsupported_scales_are_refused_by_name(name, scales):
    for scale in scales:
        with pytest.raises(ValueError, match=rf"'{name}' works at .* only, not x{scale}"):
            make(name, scale)


@pytest.mark.parametrize("name", LEARNED)
def test_every_parameter_gets_a_gradient(name):
    scale = small_scale(name)
    net = make(name, scale).train()
    with torch.no_grad():  # zero-initialised gates (e.g. SAGAN-style gammas) would block the path
        for p in net.parameters():
            if not p.any():
                p.fill_(0.1)
    lst, guidance = inputs(4, scale)
    # samples of different level and contrast, so that pooled attention inputs differ
    lst = lst * torch.linspace(0.5, 3.0, 4).view(4, 1, 1, 1) + torch.linspace(-2.0, 2.0, 4).view(4, 1, 1, 1)
    net(lst, guidance).square().mean().backward()
    dead = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert dead == []


@pytest.mark.parametrize("name", SINGLE_IMAGE)
def test_single_image_models_ignore_guidance(name):
    net = make(name, 2).eval()
    lst, guidance = inputs(1, 2)
    with torch.no_grad():
        assert torch.equal(net(lst, guidance), net(lst, torch.zeros_like(guidance)))
        assert torch.equal(net(lst, guidance), net(lst, None))


@pytest.mark.parametrize("name", GUIDED)
def test_guided_models_use_guidance(name):
    scale = small_scale(name)
    net = make(name, scale).eval()
    lst, guidance = inputs(1, scale)
    with torch.no_grad():
        assert not torch.allclose(net(lst, guidance), net(lst, torch.zeros_like(guidance)))


@pytest.mark.parametrize("name", NAMES)
def test_batch_independence(name):
    scale = small_scale(name, 3)
    net = make(name, scale).eval()
    lst, guidance = inputs(4, scale)
    with torch.no_grad():
        together = net(lst, guidance)
        for i in range(4):
            alone = net(lst[i : i + 1], guidance[i : i + 1])
            # float32 rounding (batched convolutions sum in another order) grows with the
            # output: CODON's reference initialisation starts from residuals of ~20
            tolerance = 1e-5 * max(1.0, alone.abs().max().item())
            assert (together[i : i + 1] - alone).abs().max().item() < tolerance


@pytest.mark.parametrize("name", LEARNED)
def test_checkpoint_round_trip(name, tmp_path):
    net = make(name, 4).eval()
    ckpt = Checkpoint(
        model=name, scale=4, bands=[f"b{i}" for i in range(BANDS)],
        model_kwargs=dict(TINY[name]), state_dict=state_dict_of(net),
    )
    rebuilt = load_checkpoint(ckpt.save(tmp_path / f"{name}.pt")).build()
    lst, guidance = inputs(2, 4)
    with torch.no_grad():
        assert torch.equal(net(lst, guidance), rebuilt(lst, guidance))


@pytest.mark.parametrize("name", GUIDED)
def test_guided_models_reject_wrong_guidance(name):
    scale = small_scale(name)
    net = make(name, scale)
    lst, guidance = inputs(1, scale)
    with pytest.raises(ValueError, match="guidance_hr must be"):
        net(lst, guidance[:, :2])
    with pytest.raises(ValueError, match="needs guidance_hr"):
        net(lst, None)


@pytest.mark.parametrize("name", GUIDED)
def test_guided_models_refuse_zero_bands(name):
    with pytest.raises(ValueError, match="at least one guidance band"):
        build_model(name, scale=small_scale(name), guidance_channels=0, **TINY[name])
