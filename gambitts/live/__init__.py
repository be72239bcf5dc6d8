"""The live-study runtime: a GAMBITTS policy deciding for real participants.

The simulator never imports this package. It holds the policy (:mod:`gambitts.live.policy`:
Thompson-sampling probabilities under the current posterior, floored and logged with every
decision, keyed by (seed, decision number)), the study's database (:mod:`gambitts.live.storage`,
SQLAlchemy; ``pip install 'gambitts[live]'``) and the study itself (:mod:`gambitts.live.study`:
decide, record, update, replay, status).
"""
