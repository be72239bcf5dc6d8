"""Every shipped block gives the same numbers as before, bit for bit.

The digests were computed from the code before the hardening and "your own study" refactors
(commit 1e4dd19), with 3 replicates x 40 rounds and seed 7 per block. A change that alters any
agent's or world's arithmetic or random draws changes a digest. If a change is meant to alter
the numbers, say so in its commit and update the digests from its code.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from gambitts.sims.experiments import experiment_names, load_experiment
from gambitts.sims.runner import run_experiment

#: block -> (sha256 prefix of regret, action and reward; sum of regret)
PINNED = {
    "one_d_sim": ("aa08df7a33f123e6", 272.86633),
    "scale_arms": ("17045d217775d1e2", 561.857556),
    "var_decomp_linear": ("a406cc90d720a8c0", 673.322039),
    "var_decomp_nonlinear": ("b8bb6715faae3a80", 491.945918),
    "db_access_sim": ("136856b5f09f3eb8", 304.866668),
    "scale_dimensions": ("e08ab4ac923ab636", 3789.618865),
    "scale_fogambitt_arms": ("b9aa9c2ce354087d", 408.267153),
    "hedged_1d_sim": ("c38289dc66cf38e1", 145.048129),
    "covariates": ("da87a22802ab342a", 141.133026),
    "ensemble_presets": ("0e5604a5dceaa641", 91.945776),
}


def test_every_shipped_block_is_pinned():
    assert sorted(PINNED) == sorted(experiment_names())


@pytest.mark.parametrize("name", sorted(PINNED))
def test_shipped_blocks_give_the_pinned_arrays(name, standin_db):
    spec = load_experiment(name).with_overrides(replicates=3, horizon=40)
    ds = run_experiment(spec, standin_db, seed=7)
    digest = hashlib.sha256()
    for variable in ("regret", "action", "reward"):
        digest.update(np.ascontiguousarray(ds[variable].values).tobytes())
    expected_digest, expected_sum = PINNED[name]
    assert float(ds["regret"].astype(float).sum()) == pytest.approx(expected_sum, abs=1e-5)
    assert digest.hexdigest()[:16] == expected_digest
