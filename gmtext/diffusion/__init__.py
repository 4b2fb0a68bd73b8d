"""Every Gaussian path of the book (chapters 5-7): NCSN, DDPM, the score SDE, flow matching and the VDM.

One schedule interface (:mod:`~gmtext.diffusion.schedules`), one converter between what a network
predicts (:mod:`~gmtext.diffusion.parameterization`), one weighted denoising loss
(:mod:`~gmtext.diffusion.losses`), one exact-mixture oracle (:mod:`~gmtext.diffusion.oracles`) and
one sampler contract (:mod:`~gmtext.diffusion.samplers`, :mod:`~gmtext.diffusion.sde`); flow
matching (:mod:`~gmtext.diffusion.flow_matching`) is the linear path with the velocity target.
The most used names are re-exported here; ``vdm`` and ``discrete`` are imported explicitly, and so are
``guidance`` and ``sdedit`` (chapter 8); the two trainers of ``distillation`` (chapter 10) are re-exported.
"""

from gmtext.diffusion.flow_matching import FlowPath, cfm_loss, cosine_path, linear_path, mixture_velocity
from gmtext.diffusion.likelihood import elbo_terms, ode_log_likelihood
from gmtext.diffusion.losses import denoising_loss, elbo_weight
from gmtext.diffusion.oracles import mixture_model, mixture_posterior_means
from gmtext.diffusion.parameterization import (PREDICTION_TYPES, ClippedDenoiser, convert, convert_at,
                                              from_x0_and_epsilon, to_x0_and_epsilon)
from gmtext.diffusion.process import (posterior_coefficients, posterior_mean_variance, q_mean_std,
                                      q_sample, sample_times)
from gmtext.diffusion.samplers import DDIMSampler, DDPMSampler, Sampler, SamplerOutput, sample
from gmtext.diffusion.ddpm import DiscreteSchedule, ddpm_betas
from gmtext.diffusion.schedules import (CosineSchedule, LinearSchedule, Schedule, VESchedule, VPSchedule,
                                        geometric_sigmas, ladder_schedule)
from gmtext.diffusion.sde import (AnnealedLangevinSampler, EulerMaruyamaSampler, ProbabilityFlowSampler,
                                  probability_flow_velocity)
from gmtext.diffusion.training import train_diffusion, train_flow_matching
from gmtext.diffusion.distillation import progressive_distillation, reflow

__all__ = [
    "Schedule", "DiscreteSchedule", "VPSchedule", "VESchedule", "LinearSchedule", "CosineSchedule",
    "ddpm_betas", "geometric_sigmas", "ladder_schedule",
    "PREDICTION_TYPES", "convert", "convert_at", "to_x0_and_epsilon", "from_x0_and_epsilon",
    "ClippedDenoiser",
    "q_mean_std", "q_sample", "posterior_mean_variance", "posterior_coefficients", "sample_times",
    "denoising_loss", "elbo_weight", "mixture_model", "mixture_posterior_means",
    "Sampler", "SamplerOutput", "DDPMSampler", "DDIMSampler", "EulerMaruyamaSampler",
    "ProbabilityFlowSampler", "AnnealedLangevinSampler", "probability_flow_velocity", "sample",
    "FlowPath", "linear_path", "cosine_path", "cfm_loss", "mixture_velocity",
    "ode_log_likelihood", "elbo_terms", "train_diffusion", "train_flow_matching",
    "progressive_distillation", "reflow",
]
