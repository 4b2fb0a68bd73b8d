"""Recipes: seeded train-and-evaluate functions that a chapter and its benchmark share.

This is the only layer of the package that reads the run profile's budgets
(:func:`gmtext.config.budget`); the families below it take every size and step count as an
argument. A recipe wires a family's model, loss and sampler to data and returns what the chapter
shows and the benchmark records.
"""
