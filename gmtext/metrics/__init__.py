"""Metrics shared by every chapter: likelihoods, sample quality, Fréchet distance on the digits.

One module of metrics so that every family of models is measured the same way (chapter 10):

- ``likelihood``: NLL in nats, bits/dim, entropy and KL(p || q) by Monte Carlo;
- ``sample_quality``: improved precision and recall, mode coverage, PSNR, kernel MMD;
- ``frechet``: Fréchet distance between Gaussians fitted to feature sets;
- ``classifier``: the shared digit classifier whose features the digits
  Fréchet distance uses.
"""

from gmtext.metrics.classifier import (
    DigitClassifier,
    classifier_accuracy,
    digit_classifier,
    digit_features,
    digits_frechet_distance,
)
from gmtext.metrics.frechet import frechet_distance, frechet_distance_gaussians
from gmtext.metrics.likelihood import bits_per_dim, entropy_mc, kl_mc, nll_nats
from gmtext.metrics.sample_quality import mmd_rbf, mode_coverage, precision_recall, psnr

__all__ = [
    "nll_nats", "bits_per_dim", "entropy_mc", "kl_mc",
    "precision_recall", "mode_coverage", "psnr", "mmd_rbf",
    "frechet_distance", "frechet_distance_gaussians",
    "DigitClassifier", "digit_classifier", "digit_features", "classifier_accuracy",
    "digits_frechet_distance",
]
