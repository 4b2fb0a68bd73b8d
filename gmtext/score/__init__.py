r"""Score matching and Langevin dynamics (chapter 5).

- :mod:`~gmtext.score.ebm`: scores of unnormalised densities (the partition function drops out);
- :mod:`~gmtext.score.losses`: explicit, implicit, sliced and denoising score matching, and the
  noise-conditional loss (the last two are the Gaussian-path loss of :mod:`gmtext.diffusion.losses`);
- :mod:`~gmtext.score.langevin`: Langevin dynamics with a fixed score, and annealed Langevin
  dynamics over a ladder of noise levels (a sampler of :mod:`gmtext.diffusion.sde`);
- :mod:`~gmtext.score.training`: one training loop for every score model.

The networks :math:`s_\theta(x, \sigma)` are in :mod:`gmtext.nn.score`, the ladder of noise levels
is :func:`gmtext.diffusion.schedules.geometric_sigmas` (re-exported here), and the chapter's digit
recipe is :mod:`gmtext.recipes.score`, its measures (Fisher divergence, mode weights) are in
:mod:`gmtext.metrics.modes`.
"""

from gmtext.diffusion.schedules import geometric_sigmas
from gmtext.score.ebm import EnergyModel, score_from_log_density
from gmtext.score.langevin import (annealed_langevin_dynamics, langevin_dynamics,
                                   langevin_stationary_variance)
from gmtext.score.losses import (denoising_score_matching, explicit_score_matching,
                                 implicit_score_matching, jacobian_trace, ncsn_loss,
                                 sliced_score_matching)
from gmtext.score.training import fit_score, train_ncsn

__all__ = [
    "EnergyModel", "score_from_log_density",
    "explicit_score_matching", "implicit_score_matching", "sliced_score_matching",
    "denoising_score_matching", "ncsn_loss", "jacobian_trace", "geometric_sigmas",
    "langevin_dynamics", "annealed_langevin_dynamics", "langevin_stationary_variance",
    "fit_score", "train_ncsn",
]
