"""What a study is made of: its context space and its generator database.

Both the simulator (:mod:`gambitts.sims`) and a live study build on these; this package imports
nothing of theirs.
"""
