"""The live-study runtime: a GAMBITTS policy deciding for real participants.

The simulator never imports this package. So far it holds the policy itself
(:mod:`gambitts.live.policy`): Thompson-sampling probabilities under the current posterior,
floored and logged with every decision, and decisions keyed by (seed, decision number).
"""
