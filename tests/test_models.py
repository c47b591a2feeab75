"""Every registered architecture, every size: shapes, range, gradients, options, save/load."""

import pytest
import torch
from torch import nn

from ganzoo import create_model, list_models
from ganzoo.models.blocks import AdaIN, SelfAttention

SIZES = [(28, 1), (32, 1), (64, 3)]


@pytest.mark.parametrize("arch", list_models())
@pytest.mark.parametrize("size,channels", SIZES)
def test_forward_shapes_and_tanh_range(arch, size, channels):
    G, D = create_model(arch, img_size=size, img_channels=channels, z_dim=16, width=8)
    z = torch.randn(3, 16)
    x = G(z)
    assert x.shape == (3, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert D(x).shape == (3,)


@pytest.mark.parametrize("arch", list_models())
def test_backward_reaches_every_parameter(arch):
    G, D = create_model(arch, z_dim=16, width=8)
    loss = D(G(torch.randn(4, 16))).mean()
    loss.backward()
    for net in (G, D):
        for name, p in net.named_parameters():
            assert p.grad is not None, f"{arch}: {name} got no gradient"
    # Attention's gamma starts at 0 so the attention branch gets no gradient except via gamma; check gamma.


@pytest.mark.parametrize("arch", [a for a in list_models() if a != "mlp"])
def test_options_change_the_module_tree(arch):
    base_G, base_D = create_model(arch, z_dim=16, width=8)
    sn_G, sn_D = create_model(arch, z_dim=16, width=8, spectral_norm="gd")
    d_only_G, d_only_D = create_model(arch, z_dim=16, width=8, spectral_norm="d")
    assert not any("parametrizations" in k for k in base_D.state_dict())
    assert any("parametrizations" in k for k in sn_D.state_dict())
    assert any("parametrizations" in k for k in sn_G.state_dict())
    assert not any("parametrizations" in k for k in d_only_G.state_dict())
    _, drop_D = create_model(arch, z_dim=16, width=8, d_dropout=0.3)
    assert any(isinstance(m, nn.Dropout) and m.p == 0.3 for m in drop_D.modules())
    assert not any(isinstance(m, nn.Dropout) for m in base_D.modules())
    att_G, att_D = create_model(arch, z_dim=16, width=8, attention=True)
    assert any(isinstance(m, SelfAttention) for m in att_G.modules())
    assert any(isinstance(m, SelfAttention) for m in att_D.modules())
    assert not any(isinstance(m, SelfAttention) for m in base_G.modules())
    # --d-norm reaches every conv D (the WGAN critic once ignored it).
    norms = (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)
    _, layer_D = create_model(arch, z_dim=16, width=8, d_norm="layer")
    _, none_D = create_model(arch, z_dim=16, width=8, d_norm="none")
    assert any(isinstance(m, nn.GroupNorm) for m in layer_D.modules())
    assert not any(isinstance(m, norms) for m in none_D.modules())


def test_mlp_spectral_norm_and_dropout():
    G, D = create_model("mlp", spectral_norm="d", d_dropout=0.7)
    assert any("parametrizations" in k for k in D.state_dict())
    assert any(isinstance(m, nn.Dropout) and m.p == 0.7 for m in D.modules())
    with pytest.raises(ValueError, match="attention"):
        create_model("mlp", attention=True)


@pytest.mark.parametrize("width,z_dim", [(8, 25), (16, 50), (32, 64), (64, 100)])
def test_separable_has_fewer_parameters_than_dcgan(width, z_dim):
    def count(m):
        return sum(p.numel() for p in m.parameters())

    dG, dD = create_model("dcgan", width=width, z_dim=z_dim)
    sG, sD = create_model("dcgan_separable", width=width, z_dim=z_dim)
    assert count(sG) < count(dG) and count(sD) < count(dD)
    # Its D convs really are depthwise (groups = in_channels) + pointwise.
    depthwise = [m for m in sD.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert depthwise and all(m.groups == m.in_channels for m in depthwise)
    assert any(isinstance(m, nn.ConvTranspose2d) and m.groups == m.in_channels > 1 for m in sG.modules())


def test_dcgan_init_and_no_sigmoid():
    torch.manual_seed(0)
    G, D = create_model("dcgan", width=64)
    conv = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)][1]
    assert abs(conv.weight.std().item() - 0.02) < 0.002
    bn = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)][0]
    assert abs(bn.weight.mean().item() - 1.0) < 0.01
    assert not any(isinstance(m, nn.Sigmoid) for m in D.modules())


def test_style_mapping_synthesis_equals_forward_and_truncation_state():
    G, D = create_model("style", z_dim=16, w_dim=24, width=8, mapping_layers=4)
    G.eval()
    z = torch.randn(5, 16)
    w = G.mapping(z)
    assert w.shape == (5, 24)
    assert torch.equal(G.synthesis(w), G(z))
    assert sum(isinstance(m, nn.Linear) for m in G.mapping_net) == 4
    assert sum(isinstance(m, AdaIN) for m in G.modules()) == len(G.blocks)
    assert any(isinstance(m, nn.InstanceNorm2d) and m.affine for m in D.modules())
    before = G.w_avg.clone()
    G.update_w_avg(w)
    assert not torch.equal(before, G.w_avg)


@pytest.mark.parametrize("arch", [a for a in list_models() if a != "style"])
def test_other_generators_have_identity_mapping(arch):
    G, _ = create_model(arch, z_dim=16, width=8)
    z = torch.randn(2, 16)
    assert torch.equal(G.mapping(z), z)


def test_residual_and_grown_d():
    G, D = create_model("dcgan", width=8, z_dim=16, residual=True, grow_d=True, d_norm="layer")
    x = G(torch.randn(2, 16))
    assert not bool(D.grown)
    small = D(x)
    D.grow()
    full = D(x)
    assert small.shape == full.shape == (2,)
    assert not torch.allclose(small, full)
    # The held-back block gets gradients only once grown.
    D.zero_grad()
    D(x.detach()).sum().backward()
    assert all(p.grad is not None for p in D.blocks[-1].parameters())


def test_unknown_architecture_and_absurd_sizes_are_refused():
    with pytest.raises(ValueError, match="unknown architecture"):
        create_model("transformer")
    with pytest.raises(ValueError, match="width"):
        create_model("dcgan", width=10**6)


def test_minibatch_std_sees_collapse():
    from ganzoo.models.blocks import MinibatchStd

    same = torch.ones(8, 3, 4, 4)
    varied = torch.randn(8, 3, 4, 4)
    assert torch.allclose(MinibatchStd()(same)[:, -1], torch.full((8, 4, 4), 1e-4), atol=1e-4)
    assert MinibatchStd()(varied)[:, -1].mean() > 0.5
    assert MinibatchStd()(torch.randn(6, 3, 4, 4)).shape == (6, 4, 4, 4)  # batch not a multiple of 4
