import torch
from torch import nn

from ganzoo import losses


def test_gradient_penalty_matches_hand_computed_value_on_a_linear_critic():
    # D(x) = sum(a * x): its gradient is `a` everywhere, so the penalty is lambda * (||a|| - 1)^2.
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 1, bias=False))
    a = critic[1].weight.detach().flatten()
    real, fake = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)
    gp = losses.gradient_penalty(lambda x: critic(x).flatten(), real, fake, weight=10.0)
    expected = 10.0 * (a.norm() - 1) ** 2
    assert torch.allclose(gp, expected, atol=1e-5)


def test_gradient_penalty_is_per_sample():
    # A critic whose gradient differs per sample: D(x) = sum(x^2)/2 -> grad = x_hat.
    real, fake = torch.ones(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    real[1] *= 3
    fake[1] *= 3
    gp = losses.gradient_penalty(lambda x: (x**2).flatten(1).sum(1) / 2, real, fake, weight=1.0)
    # Interpolates equal the inputs: norms are 2 and 6, so ((2-1)^2 + (6-1)^2) / 2 = 13.
    assert torch.allclose(gp, torch.tensor(13.0))


def test_clipping_keeps_every_weight_in_range():
    D = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
    with torch.no_grad():
        for p in D.parameters():
            p.normal_(0, 1)
    losses.clip_weights(D, 0.01)
    assert all(p.abs().max() <= 0.01 for p in D.parameters())


def test_signs():
    good_real, good_fake = torch.full((8,), 5.0), torch.full((8,), -5.0)
    for kind in ("bce", "minimax", "hinge", "lsgan", "wasserstein"):
        # D doing well means a lower D loss than D doing badly.
        assert losses.d_loss(kind, good_real, good_fake) < losses.d_loss(kind, good_fake, good_real), kind
        # G fooling D (high logits on fakes) means a lower G loss.
        assert losses.g_loss(kind, torch.full((8,), 5.0)) < losses.g_loss(kind, torch.full((8,), -5.0)), kind
    assert losses.d_loss("hinge", torch.full((4,), 2.0), torch.full((4,), -2.0)) == 0
    assert torch.isclose(losses.g_loss("bce", torch.zeros(4)), torch.log(torch.tensor(2.0)))
