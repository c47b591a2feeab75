"""Convolutions for bf16 autocast training on the CPU, around two slow spots of PyTorch's CPU kernels.

- Wide convolutions: oneDNN's bf16 weight-gradient kernels run at about half this CPU's bf16 GEMM rate for the
  DCGAN shapes (4x4 kernels, 128-512 channels), while its forward and input-gradient kernels run near it. The
  same gradient written as im2col (a strided view plus one copy) and one matrix product runs near the GEMM
  rate, so their backward does that. Forward and input gradient stay oneDNN's.
- Grouped (depthwise) convolutions: in bf16 they leave oneDNN for a generic path several times slower than
  fp32, so under CPU autocast they run in fp32 (they are a small share of the FLOPs).

`enable` swaps eligible modules' classes; parameters, state dict and every other path (fp32 training, CUDA,
inference) are unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

# Below this many channels in the im2col'd tensor the copy costs more than the GEMM saves (measured).
MIN_CHANNELS = 128


def im2col(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int],
           padding: tuple[int, int]) -> torch.Tensor:
    """(B, C, H, W) -> (B*Ho*Wo, kh*kw*C): rows ordered (b, ho, wo), columns (kh, kw, c).

    That column order is the channels_last layout of a (out, in, kh, kw) weight, so the GEMM's result is the
    weight gradient without a transpose.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    B, C, H, W = x.shape
    xp = F.pad(x, (pw, pw, ph, ph)).contiguous(memory_format=torch.channels_last)
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    sb, sc, sy, sx = xp.stride()
    patches = xp.as_strided((B, Ho, Wo, kh, kw, C), (sb, sh * sy, sw * sx, sy, sx, sc))
    return patches.reshape(B * Ho * Wo, kh * kw * C)


def _rows(t: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B*H*W, C); a free view for a channels_last tensor."""
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])


class _GemmWeightGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, module):
        ctx.save_for_backward(x, weight)
        ctx.module, ctx.has_bias = module, bias is not None
        m = module
        if m.transposed:
            return F.conv_transpose2d(x, weight, bias, m.stride, m.padding, m.output_padding, 1, m.dilation)
        return F.conv2d(x, weight, bias, m.stride, m.padding, m.dilation, 1)

    @staticmethod
    @once_differentiable  # a double backward (gradient penalty) runs outside autocast, on the stock path
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        m = ctx.module
        grad_out = grad_out.contiguous(memory_format=torch.channels_last)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad_out, x, weight, None, m.stride, m.padding, m.dilation, m.transposed, m.output_padding, 1,
                [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            kernel = m.kernel_size
            if m.transposed:
                # dW[i, o, kh, kw] = sum over positions of x[i] * grad_out[o] at the kernel's offset.
                cols = im2col(grad_out, kernel, m.stride, m.padding)
                grad_w = (_rows(x).t() @ cols).view(x.shape[1], *kernel, grad_out.shape[1]).permute(0, 3, 1, 2)
            else:
                cols = im2col(x, kernel, m.stride, m.padding)
                grad_w = (_rows(grad_out).t() @ cols).view(grad_out.shape[1], *kernel, x.shape[1]).permute(0, 3, 1, 2)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None


def _bf16_autocast(x: torch.Tensor) -> bool:
    return (x.device.type == "cpu" and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16)


def _use_gemm(m: nn.Module, x: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and m.weight.requires_grad and _bf16_autocast(x)


class GemmConv2d(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _use_gemm(self, x):
            return super().forward(x)
        bias = None if self.bias is None else self.bias.to(torch.bfloat16)
        with torch.autocast("cpu", enabled=False):
            return _GemmWeightGrad.apply(x.to(torch.bfloat16), self.weight.to(torch.bfloat16), bias, self)


class GemmConvTranspose2d(nn.ConvTranspose2d):
    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if output_size is not None or not _use_gemm(self, x):
            return super().forward(x, output_size)
        bias = None if self.bias is None else self.bias.to(torch.bfloat16)
        with torch.autocast("cpu", enabled=False):
            return _GemmWeightGrad.apply(x.to(torch.bfloat16), self.weight.to(torch.bfloat16), bias, self)


class Fp32GroupedConv2d(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _bf16_autocast(x):
            return super().forward(x)
        with torch.autocast("cpu", enabled=False):
            return super().forward(x.float())


class Fp32GroupedConvTranspose2d(nn.ConvTranspose2d):
    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if not _bf16_autocast(x):
            return super().forward(x, output_size)
        with torch.autocast("cpu", enabled=False):
            return super().forward(x.float(), output_size)


def eligible(m: nn.Module) -> bool:
    """A plain, ungrouped, undilated, zero-padded convolution wide enough for the GEMM to pay."""
    # An exact type check: spectral norm's parametrisation already swaps the class, and stacking swaps breaks it.
    if type(m) not in (nn.Conv2d, nn.ConvTranspose2d):
        return False
    if m.groups != 1 or m.dilation != (1, 1) or m.padding_mode != "zeros" or isinstance(m.padding, str):
        return False
    if m.transposed and any(m.output_padding):
        return False
    # The im2col'd tensor is the input of a convolution, the output gradient of a transposed one.
    return (m.out_channels if m.transposed else m.in_channels) >= MIN_CHANNELS


def grouped(m: nn.Module) -> bool:
    return type(m) in (nn.Conv2d, nn.ConvTranspose2d) and m.groups > 1


def enable(module: nn.Module) -> int:
    """Swap the convolutions in `module` that have a faster bf16 CPU twin here; returns how many."""
    n = 0
    for m in module.modules():
        if eligible(m):
            m.__class__ = GemmConvTranspose2d if m.transposed else GemmConv2d
        elif grouped(m):
            m.__class__ = Fp32GroupedConvTranspose2d if m.transposed else Fp32GroupedConv2d
        else:
            continue
        n += 1
    return n
