"""Architectures. Importing this package registers every builder."""

from ganzoo.models import dcgan, mlp, separable, style, wgan_conv  # noqa: F401
