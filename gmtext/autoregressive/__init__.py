r"""Autoregressive models (section 1.x): the chain rule as an exact likelihood.

:math:`p(x) = \prod_d p(x_{o_d}\mid x_{o_{<d}})` along an ordering :math:`o`, each conditional a
categorical over the 17 grey levels given by a masked network (:mod:`gmtext.nn.masked`: the fully
visible belief net, NADE and MADE; :mod:`gmtext.nn.pixelcnn`: PixelCNN).

- :mod:`gmtext.autoregressive.core`: exact ``log_prob``, sequential ``sample`` and ``complete``
  (with a temperature), and the autograd ``dependency_matrix`` that checks causality;
- :mod:`gmtext.autoregressive.training`: the section's networks for the digits and their
  maximum-likelihood fit with early stopping.
"""

from gmtext.autoregressive.core import (complete, dependency_matrix, log_prob, rank_in_order,
                                        sample)
from gmtext.autoregressive.training import (NETWORKS, digits_network, fit_autoregressive,
                                            nll_loss)

__all__ = ["log_prob", "sample", "complete", "dependency_matrix", "rank_in_order", "NETWORKS",
           "digits_network", "fit_autoregressive", "nll_loss"]
