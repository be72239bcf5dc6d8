"""Simulation: context cells, generator database, outcome models, worlds, experiments, runner."""
