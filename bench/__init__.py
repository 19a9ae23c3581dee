"""Measurement harnesses: benchmarks against stock DSPy and the ideal bound, and the reliability campaigns."""
