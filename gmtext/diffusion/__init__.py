"""Diffusion models (chapter 6): schedules, parameterizations, the forward process, samplers, likelihoods.

Each concept is one module; the most used names are re-exported here.
"""

from gmtext.diffusion.likelihood import elbo_terms, ode_log_likelihood
from gmtext.diffusion.parameterization import (PREDICTION_TYPES, ClippedDenoiser, convert, target_for,
                                              to_x0_and_epsilon)
from gmtext.diffusion.process import (diffusion_loss, mixture_model, posterior_coefficients,
                                      posterior_mean_variance, q_mean_std, q_sample, sample_times)
from gmtext.diffusion.samplers import (DDIMSampler, DDPMSampler, EulerMaruyamaSampler,
                                       ProbabilityFlowSampler, probability_flow_velocity, sample,
                                       sample_ode)
from gmtext.diffusion.schedules import DiscreteSchedule, VESchedule, VPSchedule, ddpm_betas

__all__ = [
    "DiscreteSchedule", "VPSchedule", "VESchedule", "ddpm_betas",
    "PREDICTION_TYPES", "convert", "target_for", "to_x0_and_epsilon", "ClippedDenoiser",
    "q_mean_std", "q_sample", "posterior_mean_variance", "posterior_coefficients", "sample_times",
    "diffusion_loss", "mixture_model",
    "DDPMSampler", "DDIMSampler", "EulerMaruyamaSampler", "ProbabilityFlowSampler",
    "probability_flow_velocity", "sample", "sample_ode",
    "ode_log_likelihood", "elbo_terms",
]
