"""The ``gambitts`` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gambitts import __version__


class _OneLineErrors(click.Group):
    """Turn the toolkit's own errors into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (ValueError, OSError) as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(2)


@click.group(cls=_OneLineErrors)
@click.version_option(__version__, prog_name="gambitts")
def main() -> None:
    """GAMBITTS: Thompson sampling for generator-mediated bandits."""


def _positive(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None and value < 1:
        raise click.BadParameter(f"must be a positive integer, got {value}")
    return value


@main.command()
@click.option(
    "--experiment",
    "experiment_name",
    required=True,
    help="Experiment block, e.g. var_decomp_linear.",
)
@click.option("--replicates", type=int, callback=_positive, help="Replicates (paper: 250).")
@click.option("--horizon", type=int, callback=_positive, help="Rounds per replicate (paper: 1000).")
@click.option("--seed", type=int, default=0, show_default=True, help="Root random seed.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="results",
    show_default=True,
    help="Output directory.",
)
@click.option(
    "--prompt-db",
    "prompt_db",
    type=click.Path(dir_okay=False),
    help="Generator database (.nc, .csv, .parquet) instead of the built-in stand-in.",
)
@click.option(
    "--plot/--no-plot",
    default=True,
    show_default=True,
    help="Also save a PNG of cumulative regret.",
)
def simulate(
    experiment_name: str,
    replicates: int | None,
    horizon: int | None,
    seed: int,
    out_dir: str,
    prompt_db: str | None,
    plot: bool,
) -> None:
    """Run an experiment block and write its results to OUT/EXPERIMENT.nc."""
    from gambitts.sims.experiments import load_experiment
    from gambitts.sims.promptdb import load_prompt_database
    from gambitts.sims.results import (
        check_writable_directory,
        format_summary,
        plot_cumulative_regret,
        write_netcdf_atomic,
    )
    from gambitts.sims.runner import run_experiment
    from gambitts.sims.standin import make_standin_database

    spec = load_experiment(experiment_name).with_overrides(replicates=replicates, horizon=horizon)
    out = check_writable_directory(out_dir)
    db = load_prompt_database(prompt_db) if prompt_db else make_standin_database()
    total = len(spec.agents) * len(spec.noise_levels) * spec.horizon
    click.echo(
        f"{spec.name}: {len(spec.agents)} agents x {len(spec.noise_levels)} noise levels, "
        f"{spec.replicates} replicates x {spec.horizon} rounds, seed {seed}",
        err=True,
    )
    with click.progressbar(length=total, label="simulating", file=sys.stderr) as bar:
        ds = run_experiment(spec, db, seed=seed, progress=bar.update)
    path = write_netcdf_atomic(ds, out / f"{spec.name}.nc")
    click.echo(format_summary(ds))
    click.echo(f"results: {path}")
    if plot:
        click.echo(f"figure:  {plot_cumulative_regret(ds, out / f'{spec.name}.png')}")


@main.command()
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    help="Write the built-in stand-in database to this NetCDF file.",
)
@click.option(
    "--check",
    "check_path",
    type=click.Path(dir_okay=False),
    help="Validate a database (.nc, .csv, .parquet) and print its shape.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the stand-in generator."
)
def promptdb(out_path: str | None, check_path: str | None, seed: int) -> None:
    """Write the stand-in generator database, or check a database file."""
    from gambitts.sims.promptdb import load_prompt_database
    from gambitts.sims.standin import make_standin_database

    if (out_path is None) == (check_path is None):
        raise click.UsageError("give exactly one of --out FILE or --check FILE")
    if check_path is not None:
        db = load_prompt_database(check_path)
    else:
        target = Path(out_path)
        if not target.parent.is_dir():
            raise OSError(
                f"cannot write {out_path!r}: directory {str(target.parent)!r} does not exist"
            )
        db = make_standin_database(seed=seed)
        db.save(target)
        click.echo(f"wrote {target}")
    draws = db.n_draws
    draws_text = (
        str(int(draws.min()))
        if draws.min() == draws.max()
        else f"{int(draws.min())}-{int(draws.max())}"
    )
    click.echo(
        f"prompts: {db.n_prompts}, cells: {db.n_cells}, draws per cell: {draws_text}, "
        f"dims: {db.n_dims}"
    )
