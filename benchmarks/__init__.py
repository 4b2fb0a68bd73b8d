"""Benchmarks of the book: each module ``benchmarks/<name>.py`` defines ``run(profile) -> list[dict]``.

Run them with ``python -m benchmarks [NAME ...] [--profile P] [--json]``.
"""
