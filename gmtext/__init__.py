"""gmtext: the companion package of an executable textbook on deep generative modelling.

Import submodules explicitly (``from gmtext.data import toy``); nothing heavy happens here.
"""

__version__ = "0.1.0"
