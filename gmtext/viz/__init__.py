"""Figures and animations: the only part of gmtext that imports matplotlib.

- :mod:`~gmtext.viz.plot`: sample grids, densities, curves, histories (every chapter);
- :mod:`~gmtext.viz.animation`: animations as offline HTML players;
- :mod:`~gmtext.viz.gan`: the GAN training animation and the StyleGAN diagram (chapter 3);
- :mod:`~gmtext.viz.flows`: layer-by-layer animations of 2-D flows (chapter 4);
- :mod:`~gmtext.viz.score`: particle animations and score fields (chapter 5);
- :mod:`~gmtext.viz.diffusion`: reverse-process animations of images (chapter 6);
- :mod:`~gmtext.viz.guidance`: guidance sweeps, the slider over the guidance weight, SDEdit (chapter 8).
- :mod:`~gmtext.viz.inverse`: measurements, baselines, posterior samples and std maps (chapter 9).

The family packages (``gmtext.flows``, ``gmtext.score``, ``gmtext.diffusion``, ...) compute what
these functions draw; none of them imports this package.
"""
