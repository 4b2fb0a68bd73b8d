"""Inverse problems with a generative prior (chapter 9): measurements y = A(x) + n and posterior samplers.

- :mod:`~gmtext.inverse.operators`: linear operators with adjoint and pseudo-inverse (mask, crop,
  average-pooling downsampling, RGB to grey); :mod:`~gmtext.inverse.blur`: convolution;
  :mod:`~gmtext.inverse.hdr`: the non-linear saturations of single-image HDR;
- :mod:`~gmtext.inverse.posterior`: replacement (RePaint), DDNM and DPS on one diffusion prior;
- :mod:`~gmtext.inverse.exact`: the closed-form posterior of a Gaussian-mixture prior, for checks;
- :mod:`~gmtext.inverse.evaluate`: classical baselines and the measures of a reconstruction.
"""

from gmtext.inverse.blur import Blur, gaussian_kernel
from gmtext.inverse.exact import RotatedMixture, mixture_posterior, operator_matrix, psnr_gap, smooth_prior
from gmtext.inverse.hdr import Clip, ToneCurve
from gmtext.inverse.operators import Crop, Downsample, Grayscale, LinearOperator, Mask
from gmtext.inverse.posterior import (DDNMSampler, DPSSampler, PosteriorSampler, ReplacementSampler,
                                      posterior_sample)

__all__ = [
    "LinearOperator", "Mask", "Crop", "Downsample", "Grayscale", "Blur", "gaussian_kernel", "Clip", "ToneCurve",
    "PosteriorSampler", "ReplacementSampler", "DDNMSampler", "DPSSampler", "posterior_sample",
    "RotatedMixture", "smooth_prior", "operator_matrix", "mixture_posterior", "psnr_gap",
]
