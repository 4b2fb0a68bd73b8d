"""Normalizing flows (chapter 4): invertible transforms with tractable log-determinants.

- :mod:`gmtext.flows.base`: the transform protocol, composition and the flow density;
- :mod:`gmtext.flows.coupling`: affine coupling layers (RealNVP);
- :mod:`gmtext.flows.spline`: rational-quadratic spline couplings (neural spline flows);
- :mod:`gmtext.flows.layers`: permutations, rotations, Glow's invertible linear map, ActNorm,
  the logit map onto a box;
- :mod:`gmtext.flows.build`: ready-made flows; :mod:`gmtext.flows.training`: maximum likelihood;
"""

from gmtext.flows.base import Compose, Flow, Transform, soft_clamp
from gmtext.flows.build import MIXINGS, digits_flow, realnvp, spline_flow
from gmtext.flows.coupling import AffineCoupling, Coupling, checkerboard_mask, conditioner_signal
from gmtext.flows.layers import ActNorm, InvertibleLinear, Logit, Permutation, Reverse, Rotation
from gmtext.flows.spline import SplineCoupling, rational_quadratic_spline
from gmtext.flows.training import mean_nll, train_flow

__all__ = ["Transform", "Compose", "Flow", "soft_clamp", "AffineCoupling", "Coupling",
           "checkerboard_mask", "conditioner_signal", "SplineCoupling",
           "rational_quadratic_spline", "Permutation",
           "Reverse", "Rotation", "InvertibleLinear", "ActNorm", "Logit", "realnvp", "spline_flow",
           "digits_flow", "MIXINGS",
           "train_flow", "mean_nll"]
