"""A seeded parametric stand-in for the paper's unpublished generator database.

The paper's database (40 prompts x 12 context cells x 950 messages, each scored on 20 style
dimensions) is not published. :func:`make_standin_database` builds one of the same shape whose
pooled second moments match the ``database_facts`` of ``environments.yaml`` exactly.

Construction, with effects in units of each dim's target sd (all randomness comes from one
:class:`numpy.random.SeedSequence`, spawned into independent streams for the target, the
prompts, the cells and the messages, so the prompt and cell effects do not depend on
``n_draws`` up to the final re-colouring):

1. **Target covariance** ``T = diag(sd) R diag(sd)``. ``R``'s block on (optimism, formality,
   severity, clarity, encouragement) is the paper's correlation matrix; the other 15 dims load
   on those five through ``B = L W`` (``L L' = R_5``, ``W`` small and random) and on each other
   through a 3-factor correlation, with ``R_15 = W'W + diag(s) F diag(s)``, which makes ``R``
   positive definite by its Schur complement. Variances: optimism's is the fact; formality and
   severity split the rest of the 3-dim fact at random; the other 17 dims split the rest of
   the 20-dim fact with random weights in [0.5, 1.5].
2. **Prompts.** Prompt ``2d`` asks for mildly more, prompt ``2d + 1`` for mildly less, of dim
   ``d``. Its *requested shift* moves dim ``d`` by about ``1.5`` total sd (magnitude uniform in
   [0.7, 1.3] times that, sign by the request; optimism's score falls as requested optimism rises,
   as in the paper's VAE scores) and spills over into dim ``j`` by ``0.5 R[j, d]`` of that. Each
   prompt also has an *idiosyncratic* mean shift ``N(0, 0.45^2 R)`` (any prompt changes the tone
   a little everywhere).
3. **Cells.** A shift per level of each one-hot context variable (the paper's location), a linear
   trend in each numeric one (the paper's step count) and a residual per
   cell, all correlated by ``R``.
4. **Prompt x cell interaction.** The requested shift is expressed with a gain that depends on
   the cell and the requested dim (log-normal with mean 1 and log-sd 0.7: e.g. asking for less
   formality may work less at work), plus a random ``N(0, 0.22^2 R)`` effect per (prompt, cell),
   scaled by 1.8 on the tone and register dims of :data:`CONTEXT_SENSITIVE` and by 0.4 on the
   others (the context changes how a message sounds more than how long or detailed it is). In
   the reward direction of ``linear_3d`` this makes the interaction about as large as the
   differences between prompts, so the best prompt changes across cells (for the default seed
   both among all 40 prompts and among the 5 the paper would pick; for about 3 in 4 seeds).
5. **Messages.** Each draw follows its prompt's request with probability 0.88 and otherwise
   ignores the requested shift (a mixture), plus within-cell noise of sd 0.7 and correlation
   ``R``: independent standardised log-normal factors (log-sd in [0.15, 0.35], so
   skewness 0.45 to 1.1, sign random per dim) mixed by the symmetric square root of ``R``, which
   keeps each dim mostly its own factor. VAE scores of LLM text are not Gaussian either.
6. **Re-colouring.** The pooled rows ``Z`` (all prompts, cells, draws) are centred and mapped by
   the symmetric linear map ``A`` with ``A S A = T`` (``S`` their covariance, ``A`` the optimal
   transport map between Gaussians, i.e. the least-distorting one), so the pooled covariance
   (means over rows, as in ``database_facts``) is exactly ``T`` and the pooled mean is 0.

With the defaults about 28% of the variance (the trace, pooled over rows) lies between
prompts, 5-9% between cells, 12% in the prompt x cell interaction and the rest (about half)
within cells; the median within-cell skewness is about 0.55 in absolute value.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata, resources

import numpy as np
import yaml

from gambitts.design.contexts import PAPER_CONTEXTS, ContextSpace
from gambitts.design.promptdb import PromptDatabase

#: Number of stand-in prompts: mildly more and mildly less of each of the 20 style dims.
N_PROMPTS: int = 40
REQUEST_SHIFT = 1.5  # requested-dim shift of a prompt, in total sd
REQUEST_MAGNITUDE = (0.7, 1.3)  # per-prompt factor on REQUEST_SHIFT
SPILL_OVER = 0.5  # fraction of the correlation by which a request moves the other dims
IDIOSYNCRATIC_SD = 0.45  # prompt mean shifts beyond the request
#: Cell shifts: per level of a one-hot context variable (the paper's location), per standardised
#: level value of a numeric one (the paper's step count), and a residual per cell.
LEVEL_SHIFT_SD, TREND_SD, CELL_SD = 0.25, 0.15, 0.1
GAIN_LOG_SD = 0.7  # cell x requested-dim gain on the requested shift
INTERACTION_SD = 0.22  # random prompt x cell effect, times the dim's context sensitivity
#: Tone and register dims, whose prompt x cell interaction is larger (SENSITIVE_SCALE).
CONTEXT_SENSITIVE: tuple[str, ...] = (
    "emotiveness",
    "encouragement",
    "formality",
    "optimism",
    "severity",
    "supportiveness",
    "threat",
    "urgency",
)
SENSITIVE_SCALE, INSENSITIVE_SCALE = 1.8, 0.4
IGNORE_PROBABILITY = 0.12  # chance that a message ignores the prompt's request
NOISE_SD = 0.7  # within-cell noise
NOISE_LOG_SD = (0.15, 0.35)  # range of the log-normal factors' log-sd (sets their skewness)
N_OTHER_FACTORS = 3  # factors behind the correlations among the 15 unlisted dims


def make_standin_database(
    seed: int = 0, n_draws: int = 950, contexts: ContextSpace = PAPER_CONTEXTS
) -> PromptDatabase:
    """Build the seeded stand-in generator database (see the module docstring).

    Parameters
    ----------
    seed : int, default 0
        Entropy of the :class:`numpy.random.SeedSequence`; equal seeds give equal databases.
    n_draws : int, default 950
        Draws per (prompt, context cell), as in the paper's generator-access block.
    contexts : ContextSpace, default the paper's
        The cells to generate: each one-hot variable shifts the scores per level, each numeric
        one along its values (the paper's space gives the calibrated stand-in).

    Returns
    -------
    PromptDatabase
        40 prompts ("more optimism", "less optimism", ...) x the space's cells (12 for the
        paper's) x ``n_draws`` draws x the 20 style dims of ``environments.yaml``.

    Raises
    ------
    ValueError
        If ``n_draws`` is not a positive integer.
    """
    if n_draws < 1:
        raise ValueError(f"`n_draws` must be a positive integer, got {n_draws}")
    dims, facts = _environment_facts()
    target_stream, prompt_stream, cell_stream, message_stream = (
        np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(4)
    )
    corr, sd = _target(target_stream, dims, facts)
    chol = np.linalg.cholesky(corr)
    requested, idiosyncratic = _prompt_effects(prompt_stream, corr, chol, dims)
    sensitivity = np.where(np.isin(dims, CONTEXT_SENSITIVE), SENSITIVE_SCALE, INSENSITIVE_SCALE)
    cell_shift, gain, interaction = _cell_effects(cell_stream, chol, sensitivity, contexts)
    requested_gain = gain.T[np.repeat(np.arange(len(dims)), 2)]  # (prompt, cell)
    requested_by_cell = requested[:, None, :] * requested_gain[..., None]
    means = idiosyncratic[:, None, :] + cell_shift[None] + interaction
    n_cells = contexts.n_cells
    follows = message_stream.random((N_PROMPTS, n_cells, n_draws, 1)) >= IGNORE_PROBABILITY
    z = means[:, :, None, :] + follows * requested_by_cell[:, :, None, :]
    z += NOISE_SD * _skewed_noise(message_stream, corr, z.shape)
    z *= sd
    z = _recolour(z.reshape(-1, len(dims)), corr * np.outer(sd, sd)).reshape(z.shape)
    return PromptDatabase(
        z=z,
        n_draws=np.full((N_PROMPTS, n_cells), n_draws, dtype=np.int64),
        prompts=prompt_names(dims),
        dims=dims,
        contexts=contexts,
        attrs={
            "source": "stand-in",
            "generator": "gambitts.design.standin.make_standin_database",
            "seed": seed,
            "gambitts_version": _package_version(),
        },
    )


def prompt_names(dims: tuple[str, ...]) -> tuple[str, ...]:
    """Return the stand-in prompt names, ``"more <dim>"`` then ``"less <dim>"`` for each dim."""
    return tuple(f"{direction} {dim}" for dim in dims for direction in ("more", "less"))


@cache
def _environment_facts() -> tuple[tuple[str, ...], dict]:
    """Return the style dims and the ``database_facts`` of the packaged environments.yaml."""
    text = resources.files("gambitts.design").joinpath("data/environments.yaml").read_text("utf-8")
    environments = yaml.safe_load(text)
    return tuple(environments["style_dimensions"]), environments["database_facts"]


def _target(
    rng: np.random.Generator, dims: tuple[str, ...], facts: dict
) -> tuple[np.ndarray, np.ndarray]:
    """Return the target correlation matrix and standard deviations (step 1)."""
    listed = [dims.index(name) for name in facts["correlations"]["dims"]]
    others = [index for index in range(len(dims)) if index not in listed]
    listed_corr = np.array(facts["correlations"]["matrix"], dtype=np.float64)
    loadings = rng.normal(0.0, 0.15, size=(len(listed), len(others)))
    factors = rng.normal(0.0, 0.4, size=(len(others), N_OTHER_FACTORS))
    other_corr = factors @ factors.T + np.diag(rng.uniform(0.5, 1.0, len(others)))
    other_corr /= np.sqrt(np.outer(np.diag(other_corr), np.diag(other_corr)))
    residual_sd = np.sqrt(1.0 - (loadings**2).sum(axis=0))
    cross = np.linalg.cholesky(listed_corr) @ loadings
    corr = np.empty((len(dims), len(dims)))
    order = np.array(listed + others)
    corr[np.ix_(order, order)] = np.block(
        [
            [listed_corr, cross],
            [cross.T, loadings.T @ loadings + np.outer(residual_sd, residual_sd) * other_corr],
        ]
    )
    return corr, np.sqrt(_target_variances(rng, dims, facts["total_squared_deviation"]))


def _target_variances(rng: np.random.Generator, dims: tuple[str, ...], totals: dict) -> np.ndarray:
    """Split the ``total_squared_deviation`` facts into one variance per dim."""
    three = [dims.index(name) for name in ("optimism", "formality", "severity")]
    three_total = totals["optimism+formality+severity"]
    formality_share = rng.uniform(0.4, 0.6)
    formality_severity = (three_total - totals["optimism"]) * np.array(
        [formality_share, 1.0 - formality_share]
    )
    variances = np.empty(len(dims))
    variances[three] = [totals["optimism"], *formality_severity]
    rest = np.setdiff1d(np.arange(len(dims)), three)
    weights = rng.uniform(0.5, 1.5, rest.size)
    variances[rest] = (totals["all_20"] - three_total) * weights / weights.sum()
    return variances


def _prompt_effects(
    rng: np.random.Generator, corr: np.ndarray, chol: np.ndarray, dims: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Return each prompt's requested shift and idiosyncratic shift, both (prompt, dim) (step 2)."""
    n_dims = len(dims)
    orientation = np.ones(n_dims)
    orientation[dims.index("optimism")] = -1.0
    direction = np.eye(n_dims) + SPILL_OVER * (corr - np.eye(n_dims))  # column d: request for d
    requested_dim = np.repeat(np.arange(n_dims), 2)
    more_or_less = np.tile([1.0, -1.0], n_dims)
    size = REQUEST_SHIFT * rng.uniform(*REQUEST_MAGNITUDE, size=N_PROMPTS)
    signed_size = more_or_less * orientation[requested_dim] * size
    requested = signed_size[:, None] * direction[:, requested_dim].T
    idiosyncratic = IDIOSYNCRATIC_SD * rng.standard_normal((N_PROMPTS, n_dims)) @ chol.T
    return requested, idiosyncratic


def _cell_effects(
    rng: np.random.Generator, chol: np.ndarray, sensitivity: np.ndarray, contexts: ContextSpace
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the cell shifts (cell, dim), gains (cell, dim) and interaction (prompt, cell, dim).

    Each context variable adds a shift: one per level of a one-hot variable, or a linear trend
    in the standardised level values of a numeric one; then a residual per cell.
    """
    n_dims, n_cells = chol.shape[0], contexts.n_cells
    terms = []
    for position, variable in enumerate(contexts.variables):
        levels = contexts.cell_levels[:, position]
        if variable.numeric:
            slope = TREND_SD * rng.standard_normal(n_dims) @ chol.T
            values = np.asarray(variable.values, dtype=np.float64)
            spread = np.std(values)
            trend = (values[levels] - np.mean(values)) / spread if spread > 0 else 0 * levels
            terms.append(trend[:, None] * slope)
        else:
            level_shift = LEVEL_SHIFT_SD * rng.standard_normal((len(variable.levels), n_dims))
            terms.append((level_shift @ chol.T)[levels])
    shift = terms[0]
    for term in terms[1:]:
        shift = shift + term
    cell_shift = shift + CELL_SD * rng.standard_normal((n_cells, n_dims)) @ chol.T
    gain = np.exp(GAIN_LOG_SD * rng.standard_normal((n_cells, n_dims)) - GAIN_LOG_SD**2 / 2)
    interaction = INTERACTION_SD * rng.standard_normal((N_PROMPTS * n_cells, n_dims)) @ chol.T
    interaction *= sensitivity
    return cell_shift, gain, interaction.reshape(N_PROMPTS, n_cells, n_dims)


def _skewed_noise(rng: np.random.Generator, corr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Return noise with covariance ``corr`` and skewed marginals, of the given shape (step 5).

    Independent standardised log-normal factors (one per dim, random log-sd and sign) are mixed
    by the symmetric square root of ``corr``, which keeps each dim mostly its own factor.
    """
    n_dims = corr.shape[0]
    log_sd = rng.uniform(*NOISE_LOG_SD, size=n_dims)
    sign = rng.choice([-1.0, 1.0], size=n_dims)
    noise = rng.standard_normal((int(np.prod(shape[:-1])), n_dims))
    noise *= log_sd
    np.exp(noise, out=noise)
    noise -= np.exp(log_sd**2 / 2)
    noise *= sign / np.sqrt((np.exp(log_sd**2) - 1.0) * np.exp(log_sd**2))
    return _rows_times(noise, _sqrtm(corr)).reshape(shape)


def _recolour(rows: np.ndarray, target_cov: np.ndarray) -> np.ndarray:
    """Return ``rows`` (n, dim) centred and mapped to covariance ``target_cov`` (step 6)."""
    rows = rows - rows.mean(axis=0)
    root = _sqrtm(np.einsum("ni,nj->ij", rows, rows) / rows.shape[0])
    inv_root = np.linalg.inv(root)
    return _rows_times(rows, inv_root @ _sqrtm(root @ target_cov @ root) @ inv_root)


def _rows_times(rows: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Return ``rows @ matrix`` for many rows, without BLAS.

    On a busy machine OpenBLAS' threads oversubscribe the cores and turn this 0.1 s product
    into many seconds; einsum's own loop is as fast and does not thread.
    """
    return np.einsum("ni,ij->nj", rows, matrix)


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive definite matrix."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(values)) @ vectors.T


def _package_version() -> str:
    try:
        return metadata.version("gambitts")
    except metadata.PackageNotFoundError:
        return "unknown"
