"""Benchmarks: our optimizer against the seed's stock-DSPy setup and against the ideal bound."""
