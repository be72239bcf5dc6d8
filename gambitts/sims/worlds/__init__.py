"""Simulated worlds: the outcome models ``E[Y | Z, x]`` and the generator-mediated world.

The paper's worlds (linear and the non-linear MLP stand-in), worlds a user defines in an
experiment file, and :class:`~gambitts.sims.worlds.world.GeneratorWorld`, which delivers
messages and rewards round by round.
"""
