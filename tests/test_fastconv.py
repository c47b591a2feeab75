"""The GEMM weight-gradient convolutions: same forward, same gradients (to bf16 rounding), same checkpoints."""

import copy

import pytest
import torch
from torch import nn

from ganzoo import fastconv
from ganzoo.config import resolve
from ganzoo.training import Trainer, train

CASES = [
    # (module, input shape)
    (lambda: nn.Conv2d(128, 16, 4, 2, 1, bias=False), (4, 128, 8, 8)),
    (lambda: nn.Conv2d(128, 24, 3, 1, 1), (3, 128, 7, 7)),
    (lambda: nn.Conv2d(128, 8, (3, 5), (1, 2), (1, 2)), (2, 128, 6, 9)),
    (lambda: nn.Conv2d(256, 1, 4, 1, 0, bias=False), (5, 256, 4, 4)),  # DCGAN's head
    (lambda: nn.ConvTranspose2d(16, 128, 4, 2, 1, bias=False), (4, 16, 4, 4)),
    (lambda: nn.ConvTranspose2d(32, 128, 4, 1, 0, bias=False), (6, 32, 1, 1)),  # DCGAN's first layer
    (lambda: nn.ConvTranspose2d(8, 128, 3, 2, 1), (2, 8, 5, 5)),
]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("channels_last", [True, False])
def test_gradients_match_the_stock_convolution(case, channels_last):
    make, shape = CASES[case]
    torch.manual_seed(case)
    stock = make()
    fast = copy.deepcopy(stock)
    assert fastconv.enable(fast) == 1 and type(fast) is not type(stock)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(shape).contiguous(memory_format=fmt)
    results = []
    for m in (stock, fast):
        xi = x.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = m(xi)
        g = torch.randn(y.shape, generator=torch.Generator().manual_seed(1)).to(y.dtype)
        y.backward(g)
        results.append((y.detach(), xi.grad, m.weight.grad, None if m.bias is None else m.bias.grad))
    (y0, gx0, gw0, gb0), (y1, gx1, gw1, gb1) = results
    # Forward and input gradient are the same oneDNN kernels on the same bf16 values.
    assert y1.dtype == y0.dtype == torch.bfloat16
    assert torch.equal(y0, y1)
    assert torch.allclose(gx0, gx1, rtol=1e-2, atol=1e-2)
    # The weight gradient: the fp32 master weight receives it, as from the stock path.
    assert gw1.dtype == torch.float32 and gw1.shape == gw0.shape
    # Against the float64 truth on the same bf16-rounded operands, the GEMM is no less accurate.
    xb = x.to(torch.bfloat16).double()
    ref = copy.deepcopy(stock).double()
    ref.weight = nn.Parameter(stock.weight.detach().to(torch.bfloat16).double())
    ref(xb).backward(g.double())
    truth = ref.weight.grad
    err_stock = (gw0.double() - truth).norm() / truth.norm()
    err_fast = (gw1.double() - truth).norm() / truth.norm()
    assert err_fast < 1e-2 and err_fast <= 2 * err_stock + 1e-3, (float(err_fast), float(err_stock))
    if gb0 is not None:
        assert torch.allclose(gb0, gb1, rtol=1e-2, atol=1e-2)


def test_enable_swaps_only_what_pays_and_changes_nothing_else():
    model = nn.Sequential(
        nn.Conv2d(1, 128, 4, 2, 1),                  # 1 input channel: the copy would cost more than it saves
        nn.Conv2d(128, 128, 3, 1, 1, groups=128),    # depthwise: fp32 under autocast instead
        nn.Conv2d(128, 64, 3, 1, 1, dilation=2),     # dilated
        nn.Conv2d(128, 64, 3, 1, "same"),            # string padding
        nn.ConvTranspose2d(64, 32, 4, 2, 1),         # 32 output channels
        nn.utils.parametrizations.spectral_norm(nn.Conv2d(128, 8, 3)),  # already class-swapped by parametrize
        nn.Conv2d(128, 8, 3),                        # eligible
        nn.ConvTranspose2d(8, 256, 4, 2, 1),         # eligible
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert fastconv.enable(model) == 3
    assert [type(m).__name__ for m in model] == [
        "Conv2d", "Fp32GroupedConv2d", "Conv2d", "Conv2d", "ConvTranspose2d", "ParametrizedConv2d",
        "GemmConv2d", "GemmConvTranspose2d"]
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    # Outside bf16 autocast (fp32 training, inference) the stock path runs, bit for bit.
    stock = nn.Conv2d(128, 8, 3)
    stock.load_state_dict(model[-2].state_dict())
    x = torch.randn(2, 128, 6, 6)
    assert torch.equal(stock(x), model[-2](x))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(stock(x), model[-2](x))


def test_amp_training_on_cpu_uses_it_and_resumes_exactly(tmp_path, mnist_dir, monkeypatch):
    # Small widths in a fast test: let every convolution qualify.
    monkeypatch.setattr(fastconv, "MIN_CHANNELS", 1)
    overrides = {"batch_size": 16, "dataset": "mnist", "data_dir": str(mnist_dir), "eval_every": 0,
                 "epochs": 2, "amp": True, "device": "cpu"}
    mcfg, tcfg = resolve("dcgan", {"width": 8}, overrides)
    tr = Trainer(mcfg, tcfg, tmp_path / "t", quiet=True, log=lambda s: None)
    swapped = [type(m).__name__ for m in [*tr.G.modules(), *tr.D.modules()] if type(m).__name__.startswith("Gemm")]
    assert len(swapped) >= 6
    quiet = dict(quiet=True, log=lambda s: None)
    straight = train(mcfg, tcfg, tmp_path / "a", max_steps=4, **quiet)
    first = train(mcfg, tcfg, tmp_path / "b", max_steps=2, **quiet)
    resumed = train(mcfg, tcfg, tmp_path / "b", resume=first.latest, max_steps=4, **quiet)
    from ganzoo import load

    a, b = load(straight.latest), load(resumed.latest)
    for k, v in a.G.state_dict().items():
        assert torch.isfinite(v).all() and torch.equal(v, b.G.state_dict()[k]), k
    for k, v in a.D.state_dict().items():
        assert torch.equal(v, b.D.state_dict()[k]), k


@pytest.mark.parametrize("transposed", [False, True])
def test_grouped_convolutions_run_in_fp32_under_cpu_autocast(transposed):
    cls = nn.ConvTranspose2d if transposed else nn.Conv2d
    stock = cls(32, 32, 4, 2, 1, groups=32, bias=False)
    fast = copy.deepcopy(stock)
    assert fastconv.enable(fast) == 1
    x = torch.randn(3, 32, 8, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = fast(x)
    assert y.dtype == torch.float32 and torch.equal(y, stock(x))
    y.sum().backward()
    stock(x.detach()).sum().backward()
    assert torch.equal(fast.weight.grad, stock.weight.grad)
