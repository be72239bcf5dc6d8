"""The notebook API: run a block, look at it, reopen it, in a few lines.

::

    import gambitts

    results = gambitts.simulate("var_decomp_linear", replicates=20, horizon=500,
                                save_posteriors=[0])
    results.summary()                       # pandas DataFrame of final cumulative regret
    results.plot()                          # the figure `gambitts plot` saves
    idata = results.posterior("poGAMBITTS", setting="sd_0", replicate=0)   # ArviZ
    results.save("var_decomp.nc")
    again = gambitts.open_results("var_decomp.nc")   # or a file `gambitts simulate` wrote

:func:`simulate` runs through the same sweep as ``gambitts simulate`` (the same files, seeds
and numbers), so notebook runs and command-line runs are interchangeable.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import xarray as xr

from gambitts.design.promptdb import PromptDatabase
from gambitts.errors import InputError, shown
from gambitts.sims.experiments import (
    ExperimentSpec,
    experiment_names,
    load_experiment,
    load_experiment_file,
)

if TYPE_CHECKING:
    import arviz as az
    import pandas as pd
    from matplotlib.figure import Figure

#: Where a block file keeps its saved posteriors and its fit diagnostics.
POSTERIORS_GROUP = "posteriors"


@dataclass
class Results:
    """One experiment block's results, as in its NetCDF file.

    Attributes
    ----------
    regret : xarray.Dataset
        Regret, actions, rewards and the worlds' facts over the block's setting dims,
        ``agent``, ``replicate`` and ``t``
        (see :func:`gambitts.sims.block_results.experiment_dataset`).
    posteriors : dict of str to xarray.Dataset
        Saved final posteriors by group path, e.g.
        ``"posteriors/sd_0/poGAMBITTS/replicate_0"``; read them with :meth:`posterior`.
    diagnostics : xarray.Dataset or None
        Every refit's R-hat, ESS, divergences and wall time of the custom agents; ``None`` if
        the block has none.
    path : Path or None
        The file the results were read from or last saved to.
    """

    regret: xr.Dataset
    posteriors: dict[str, xr.Dataset] = field(default_factory=dict)
    diagnostics: xr.Dataset | None = None
    path: Path | None = None

    @property
    def name(self) -> str:
        """The block's name."""
        return str(self.regret.attrs.get("experiment", "results"))

    @property
    def agents(self) -> list[str]:
        """The agents' labels."""
        return [str(agent) for agent in self.regret["agent"].values]

    @property
    def settings(self) -> list[dict[str, str]]:
        """Each setting's coordinates, e.g. ``[{"noise_level": "sd_0"}, ...]``."""
        from gambitts.sims.results import setting_coords

        return setting_coords(self.regret)

    def summary(self) -> pd.DataFrame:
        """Return mean final cumulative regret per setting and agent, with its 95% interval.

        One row per (setting, agent): a column per setting dim, ``agent``, ``mean``, ``low``
        and ``high``.
        """
        import pandas as pd

        from gambitts.sims.results import final_regret_summary

        rows = [
            {**dict(row.coords), "agent": row.agent, "mean": row.mean, "low": row.low,
             "high": row.high}
            for row in final_regret_summary(self.regret)
        ]  # fmt: skip
        return pd.DataFrame(rows)

    def plot(self) -> Figure:
        """Return the block's figure (the one ``gambitts plot`` saves): cumulative regret."""
        from gambitts.sims.plots import regret_figure

        return regret_figure(self.regret)

    def posterior(
        self, agent: str, setting: str | Sequence[str] | None = None, replicate: int = 0
    ) -> az.InferenceData:
        """Return an agent's saved final posterior as ArviZ InferenceData.

        Parameters
        ----------
        agent : str
            The agent's label, one of :attr:`agents`.
        setting : str or sequence of str, optional
            The setting's coordinate (``"sd_1"``), a grid's two (``("sd_1", "8")``); may be left
            out for a block with one setting.
        replicate : int
            A replicate whose posterior was saved (``save_posteriors``).

        Raises
        ------
        InputError
            If that posterior was not saved; the message lists the ones that were.
        """
        import arviz as az

        if agent not in self.agents:
            raise InputError(f"no agent {agent!r} in {self.name!r}; its agents are {self.agents}")
        labels = self._setting_labels(setting)
        path = "/".join([POSTERIORS_GROUP, *labels, str(agent), f"replicate_{replicate}"])
        if path not in self.posteriors:
            saved = sorted(self.posteriors) or ["none: simulate with save_posteriors=[0]"]
            raise InputError(f"no saved posterior {path!r} in {self.name!r}; saved: {saved}")
        return az.InferenceData(
            posterior=self.posteriors[path],
            attrs={"agent": agent, "replicate": replicate, "setting": "/".join(labels)},
        )

    def _setting_labels(self, setting: str | Sequence[str] | None) -> list[str]:
        from gambitts.sims.results import setting_dims

        dims = setting_dims(self.regret)
        if setting is None:
            if len(self.settings) != 1:
                choices = [tuple(c.values()) if len(c) > 1 else c[dims[0]] for c in self.settings]
                raise InputError(
                    f"{self.name!r} has {len(self.settings)} settings; name one with "
                    f"`setting=`, e.g. {shown(choices[0])} (all: {shown(choices, 200)})"
                )
            return list(self.settings[0].values())
        if isinstance(setting, str) or not isinstance(setting, Sequence):
            labels = [str(setting)]
        else:
            labels = [str(s) for s in setting]
        if len(labels) != len(dims):
            raise InputError(
                f"`setting` must give one label per setting dim {dims}, got {shown(setting)}"
            )
        return labels

    def save(self, path: str | os.PathLike) -> Path:
        """Write the results (with posteriors and diagnostics) to one NetCDF file, atomically.

        :func:`open_results` and ``gambitts inspect``, ``plot`` and ``report`` read it.
        """
        from gambitts.files import write_netcdf_atomic
        from gambitts.sims.sweep import FIT_DIAGNOSTICS_GROUP

        groups = dict(self.posteriors)
        if self.diagnostics is not None:
            groups[FIT_DIAGNOSTICS_GROUP] = self.diagnostics
        self.path = write_netcdf_atomic(self.regret, path, groups)
        return self.path


def open_results(path: str | os.PathLike) -> Results:
    """Read a block's results file (from ``gambitts simulate`` or :meth:`Results.save`).

    Raises
    ------
    InputError
        If the file cannot be read or is not a block's results file; the message says which.
    """
    from gambitts.sims.report import results_file_problem
    from gambitts.sims.sweep import FIT_DIAGNOSTICS_GROUP

    path = Path(path)
    problem = results_file_problem(path)
    if problem is not None:
        raise InputError(f"{str(path)!r}: {problem}; give a block's results file")
    with xr.open_datatree(path, engine="h5netcdf") as tree:
        regret = tree.to_dataset().load()
        posteriors = {
            node.path.lstrip("/"): _own_dims(node.to_dataset()).load()
            for node in tree.subtree
            if node.path.startswith(f"/{POSTERIORS_GROUP}/") and node.data_vars
        }
        diagnostics = None
        if FIT_DIAGNOSTICS_GROUP in tree.children:
            diagnostics = tree[FIT_DIAGNOSTICS_GROUP].to_dataset().load()
    return Results(regret, posteriors, diagnostics, path)


def _own_dims(ds: xr.Dataset) -> xr.Dataset:
    """Keep only the coordinates along a group's own dims.

    A posterior's ``cell`` labels are stored once, in the file's root, and inherited; the
    root's other coordinates (``t``, ``agent``, ...) are dropped.
    """
    used = {dim for variable in ds.data_vars.values() for dim in variable.dims}
    return ds.drop_vars([name for name in ds.coords if not set(ds[name].dims) <= used])


def simulate(
    experiment: str | os.PathLike | ExperimentSpec,
    *,
    block: str | None = None,
    replicates: int | None = None,
    horizon: int | None = None,
    seed: int = 0,
    database: PromptDatabase | None = None,
    save_posteriors: Sequence[int] = (),
    workers: int = 1,
    out: str | os.PathLike | None = None,
    progress: Callable[[int], None] | None = None,
) -> Results:
    """Run one experiment block and return its results.

    Parameters
    ----------
    experiment : str, path or ExperimentSpec
        A shipped block's name (``gambitts experiments`` lists them), a YAML experiment file
        (``.yaml``/``.yml``) or a spec.
    block : str, optional
        Which block of a YAML file holding several.
    replicates, horizon : int, optional
        Override the block's (the paper's: 250 and 1000).
    seed : int
        Root seed: the same seed gives the same numbers as ``gambitts simulate --seed``.
    database : PromptDatabase, optional
        Your generator database (:func:`gambitts.load_prompt_database`); default the paper's
        stand-in.
    save_posteriors : sequence of int
        Replicates whose final posteriors to keep (read them with :meth:`Results.posterior`).
    workers : int
        Local worker processes; 1 runs in this process.
    out : path, optional
        A results folder, as ``--out``: finished configurations are kept there, so a rerun
        continues where an interrupted one stopped. Default: a temporary folder, removed after.
    progress : callable, optional
        Called with the number of replicate-rounds completed.

    Raises
    ------
    InputError
        For an unknown block, a bad override or a configuration the database cannot serve.
    """
    from gambitts.design.standin import make_standin_database
    from gambitts.sims.sweep import run_sweep

    saved = list(save_posteriors) if isinstance(save_posteriors, Sequence) else None
    if saved is None or any(isinstance(r, bool) or not isinstance(r, int) for r in saved):
        raise InputError(
            f"`save_posteriors` must be a list of replicate numbers, e.g. [0, 1], got "
            f"{shown(save_posteriors)}"
        )
    spec = _spec(experiment, block)
    spec = spec.with_overrides(replicates=replicates, horizon=horizon)
    db = make_standin_database() if database is None else database
    if not isinstance(db, PromptDatabase):
        raise InputError(
            f"`database` must be a PromptDatabase (gambitts.load_prompt_database(path)), got "
            f"{type(db).__name__}"
        )
    options = {"seed": seed, "workers": workers, "save_posteriors": saved}
    if out is not None:
        written = run_sweep([spec], db, out, progress=progress, **options)
        return open_results(written[spec.name])
    with tempfile.TemporaryDirectory(prefix="gambitts-") as folder:
        written = run_sweep([spec], db, folder, progress=progress, **options)
        results = open_results(written[spec.name])
    results.path = None
    return results


def _spec(experiment: str | os.PathLike | ExperimentSpec, block: str | None) -> ExperimentSpec:
    """Resolve what :func:`simulate` was asked to run into one block's spec."""
    text = str(experiment)
    is_file = isinstance(experiment, os.PathLike) or text.endswith((".yaml", ".yml"))
    if block is not None and not is_file:
        raise InputError("`block=` picks a block of a YAML experiment file; give the file's path")
    if isinstance(experiment, ExperimentSpec):
        return experiment
    if is_file:
        specs: Mapping[str, ExperimentSpec] = load_experiment_file(text)
        if block is not None:
            if block not in specs:
                raise InputError(f"no block {block!r} in {text!r}; its blocks are {list(specs)}")
            return specs[block]
        if len(specs) != 1:
            raise InputError(f"{text!r} holds blocks {list(specs)}; choose one with `block=`")
        return next(iter(specs.values()))
    if text not in experiment_names():
        raise InputError(
            f"unknown experiment {text!r}: give a shipped block ({experiment_names()}), a YAML "
            "file or an ExperimentSpec"
        )
    return load_experiment(text)


__all__ = ["Results", "open_results", "simulate"]
