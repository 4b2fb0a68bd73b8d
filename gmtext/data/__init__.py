"""Data sets of the book, all generated or loaded offline: analytic toys, 8x8 digits."""
