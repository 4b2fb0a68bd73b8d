r"""Score matching and Langevin dynamics (chapter 5).

- :mod:`~gmtext.score.ebm`: scores of unnormalised densities (the partition function drops out);
- :mod:`~gmtext.score.losses`: explicit, implicit, sliced and denoising score matching, and the
  noise-conditional loss;
- :mod:`~gmtext.score.noise`: the geometric ladder of noise levels;
- :mod:`~gmtext.score.networks`: noise-conditional score networks :math:`s_\theta(x, \sigma)`;
- :mod:`~gmtext.score.langevin`: Langevin and annealed Langevin samplers;
- :mod:`~gmtext.score.training`: one training loop for every score model;
- :mod:`~gmtext.score.evaluate`: Fisher divergence, mode weights, a report against exact samples;
- :mod:`~gmtext.score.viz`: particle animations and score fields;
- :mod:`~gmtext.score.digits`: the chapter's digit model and sampler.
"""

from gmtext.score.digits import (DIGIT_SIGMAS, digit_score_model, sample_digits,
                                 train_digit_score_model)
from gmtext.score.ebm import EnergyModel, score_from_log_density
from gmtext.score.evaluate import fisher_divergence, mode_weights, toy_sample_report
from gmtext.score.langevin import (annealed_langevin_dynamics, langevin_dynamics,
                                   langevin_stationary_variance)
from gmtext.score.losses import (denoising_score_matching, explicit_score_matching,
                                 implicit_score_matching, jacobian_trace, ncsn_loss,
                                 sliced_score_matching)
from gmtext.score.networks import ConvScoreNet, NoiseConditionalScore, mlp_score_net
from gmtext.score.noise import geometric_sigmas
from gmtext.score.training import fit_score, train_ncsn
from gmtext.score.viz import particle_animation, score_field

__all__ = [
    "EnergyModel", "score_from_log_density",
    "explicit_score_matching", "implicit_score_matching", "sliced_score_matching",
    "denoising_score_matching", "ncsn_loss", "jacobian_trace",
    "geometric_sigmas", "NoiseConditionalScore", "mlp_score_net", "ConvScoreNet",
    "langevin_dynamics", "annealed_langevin_dynamics", "langevin_stationary_variance",
    "fit_score", "train_ncsn",
    "fisher_divergence", "mode_weights", "toy_sample_report",
    "particle_animation", "score_field",
    "DIGIT_SIGMAS", "digit_score_model", "train_digit_score_model", "sample_digits",
]
