"""Comparisons between a reference run and a target run."""
