"""The ``gambitts`` command line."""

from __future__ import annotations

import re
import signal
import sys
import warnings
from pathlib import Path

import click

from gambitts import __version__
from gambitts.errors import GambittsError, OutputError


class _OneLineErrors(click.Group):
    """Print the toolkit's own errors as one line on stderr and exit with code 2.

    Only :class:`~gambitts.errors.GambittsError` is a user's problem; any other exception is a
    bug in gambitts and keeps its traceback. ``gambitts --debug`` shows the traceback always.
    """

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        """Run the command; a usage error is one line too (``Error: ...``, exit code 2).

        SIGTERM ends a run like Ctrl-C does, so that temporary files are removed and worker
        processes stopped on the way out.
        """
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except click.ClickException as error:
            click.echo(f"Error: {' '.join(error.format_message().split())}", err=True)
            sys.exit(error.exit_code)

    def invoke(self, ctx: click.Context):
        # PyMC's C backend runs without BLAS here; its warning says nothing a user can act on.
        warnings.filterwarnings("ignore", "PyTensor could not link to a BLAS", UserWarning)
        try:
            return super().invoke(ctx)
        except GambittsError as error:
            if ctx.params.get("debug"):
                raise
            click.echo(f"Error: {error}", err=True)
            sys.exit(2)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@click.group(cls=_OneLineErrors)
@click.version_option(__version__, prog_name="gambitts")
@click.option("--debug", is_flag=True, help="Show the full traceback of any error.")
def main(debug: bool) -> None:
    """GAMBITTS: Thompson sampling for generator-mediated bandits."""


class _WholeNumber(click.ParamType):
    """A whole number written in ASCII digits only, within ``0 .. maximum``.

    Python's ``int`` also reads ``1_0`` and non-ASCII digits; an option's number is read exactly
    as written or refused.
    """

    name = "integer"

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum

    def convert(self, value, param, ctx) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if not re.fullmatch(r"[0-9]+", text, flags=re.ASCII) or int(text) > self.maximum:
            self.fail(f"must be a whole number from 0 to {self.maximum}, got {value!r}", param, ctx)
        return int(text)


_SEED = _WholeNumber(2**63 - 1)


def _positive(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None and value < 1:
        raise click.BadParameter(f"must be a positive integer, got {value}")
    return value


def _long_format_reading(what: str):
    """Add the options that say how to read a long-format database (simulate, promptdb).

    ``what`` names the file they apply to in the help texts.
    """
    options = (
        click.option(
            "--context", "context_columns", multiple=True, metavar="COLUMN",
            help=f"A context-variable column of {what} (repeatable; levels from the data).",
        ),
        click.option(
            "--contexts", "contexts_file", type=click.Path(dir_okay=False), metavar="STUDY.yaml",
            help=f"Study file whose `contexts` declare the context space of {what}.",
        ),
        click.option(
            "--message-column", metavar="COLUMN",
            help=f"Column of {what} holding the messages' text (default: message, text).",
        ),
    )  # fmt: skip

    def decorate(command):
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


@main.command()
def experiments() -> None:
    """List the shipped experiment blocks."""
    from gambitts.sims.experiments import experiment_names, load_experiment

    for name in experiment_names():
        click.echo(f"{name:<22} {load_experiment(name).description}")


@main.command()
@click.option(
    "--experiment",
    "names",
    multiple=True,
    help="Experiment block (repeatable), e.g. var_decomp_linear.",
)
@click.option("--all", "run_all", is_flag=True, help="Run every shipped block.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="YAML file of your own experiment(s).",
)
@click.option("--replicates", type=int, callback=_positive, help="Replicates (paper: 250).")
@click.option("--horizon", type=int, callback=_positive, help="Rounds per replicate (paper: 1000).")
@click.option(
    "--seed",
    type=_SEED,
    default=0,
    show_default=True,
    help="Root random seed (0 to 2**63 - 1).",
)
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
@_long_format_reading("a long-format --prompt-db")
@click.option(
    "--workers",
    type=int,
    default=2,
    show_default=True,
    callback=_positive,
    help="Local worker processes (1: run in this process).",
)
@click.option("--scheduler", help="Address of an existing Dask scheduler to run the tasks on.")
@click.option(
    "--cluster",
    type=click.Choice(["slurm", "pbs", "sge", "lsf"]),
    help="Run on batch jobs of this HPC scheduler (through dask-jobqueue).",
)
@click.option(
    "--jobs",
    type=int,
    default=1,
    show_default=True,
    callback=_positive,
    help="Batch jobs to keep running with --cluster.",
)
@click.option(
    "--cluster-config",
    "cluster_file",
    type=click.Path(dir_okay=False),
    help="YAML file: queue, account, walltime, cores, memory, directives of each job.",
)
@click.option("--dry-run", is_flag=True, help="With --cluster: print the job script and exit.")
@click.option(
    "--chunk-size",
    type=int,
    default=125,
    show_default=True,
    callback=_positive,
    help="Replicates per task.",
)
@click.option("--force", is_flag=True, help="Recompute configurations already finished in OUT.")
@click.option(
    "--save-posteriors",
    "save_posteriors",
    default="",
    help="Comma-separated replicates whose final posteriors to store in the results (e.g. 0,1).",
)
@click.option(
    "--plot/--no-plot", default=True, show_default=True, help="Also save figures under OUT/plots."
)
def simulate(
    names: tuple[str, ...],
    run_all: bool,
    config_file: str | None,
    replicates: int | None,
    horizon: int | None,
    seed: int,
    out_dir: str,
    prompt_db: str | None,
    context_columns: tuple[str, ...],
    contexts_file: str | None,
    message_column: str | None,
    workers: int,
    scheduler: str | None,
    cluster: str | None,
    jobs: int,
    cluster_file: str | None,
    dry_run: bool,
    chunk_size: int,
    force: bool,
    save_posteriors: str,
    plot: bool,
) -> None:
    """Run experiment blocks; write OUT/<block>.nc and print final cumulative regret.

    Finished configurations are kept in OUT/configs, so rerunning an interrupted command
    continues where it stopped.
    """
    from gambitts.design.promptdb import load_prompt_database
    from gambitts.design.standin import make_standin_database
    from gambitts.errors import InputError
    from gambitts.files import check_writable_directory
    from gambitts.sims.experiments import experiment_names, load_experiment, load_experiment_file
    from gambitts.sims.results import format_summary
    from gambitts.sims.sweep import (
        check_against_database,
        check_memory,
        check_saved_replicates,
        check_sweep_arguments,
        run_sweep,
    )

    cluster_config = _cluster_config(cluster, cluster_file, scheduler, dry_run)
    if dry_run:
        from gambitts.sims.cluster import job_script

        click.echo(job_script(cluster_config, Path(out_dir).resolve() / ".dask-scratch"))
        return
    if sum([bool(names), run_all, config_file is not None]) != 1:
        raise click.UsageError("give --experiment NAME, --all or --config FILE")
    if not out_dir.strip():
        raise click.BadParameter("must name a folder, got ''", param_hint="--out")
    if config_file is not None:
        specs = list(load_experiment_file(config_file).values())
    else:
        specs = [load_experiment(name) for name in (experiment_names() if run_all else names)]
    specs = [spec.with_overrides(replicates=replicates, horizon=horizon) for spec in specs]
    saved = _replicate_list(save_posteriors)
    check_sweep_arguments(
        specs, seed=seed, workers=workers, chunk_size=chunk_size, scheduler=scheduler
    )
    check_saved_replicates(specs, saved)
    remote = scheduler is not None or cluster_config is not None
    check_memory(specs, chunk_size=chunk_size, workers=1 if remote else workers)
    plots = Path(out_dir) / "plots"
    if plot and plots.exists() and not plots.is_dir():
        raise OutputError(f"cannot write figures: {str(plots)!r} is a file, not a folder")
    reading_given = bool(context_columns) or contexts_file is not None or message_column is not None
    if reading_given and not prompt_db:
        raise InputError(
            "--context, --contexts and --message-column say how to read a long-format "
            "--prompt-db (.csv, .parquet); give --prompt-db FILE or drop them"
        )
    if prompt_db:
        reading = _long_format_options(context_columns, contexts_file, message_column)
        db = load_prompt_database(prompt_db, **reading)
    else:
        db = make_standin_database()
    check_against_database(specs, db)
    out = check_writable_directory(out_dir)  # made only once everything else is checked
    click.echo(f"{len(specs)} block(s): {', '.join(s.name for s in specs)}; seed {seed}", err=True)

    def notify(message: str) -> None:
        click.echo(f" {message}", err=True)

    with click.progressbar(length=1, label="simulating", file=sys.stderr) as bar:

        def on_plan(plan) -> None:
            bar.length = max(1, plan.todo_replicate_rounds)
            click.echo(
                f" {len(plan.keys)} configurations, {len(plan.done)} already finished in {out}",
                err=True,
            )

        try:
            written = run_sweep(
                specs,
                db,
                out,
                seed=seed,
                workers=workers,
                scheduler=scheduler,
                cluster=cluster_config,
                jobs=jobs,
                chunk_size=chunk_size,
                force=force,
                save_posteriors=saved,
                progress=bar.update,
                on_plan=on_plan,
                notify=notify,
            )
        except KeyboardInterrupt:
            click.echo(
                f"\ninterrupted: finished configurations are kept in {out / 'configs'}; run the "
                "same command again to continue",
                err=True,
            )
            sys.exit(130)
    _summarise(written, out if plot else None, format_summary)
    _warn_unhealthy_fits(written)


def _cluster_config(
    cluster: str | None, cluster_file: str | None, scheduler: str | None, dry_run: bool
):
    """Return the job settings of --cluster (None without it); refuse options that need it."""
    if cluster is None:
        if cluster_file is not None or dry_run:
            raise click.UsageError("--cluster-config and --dry-run need --cluster")
        return None
    if scheduler is not None:
        raise click.UsageError("give --cluster or --scheduler, not both")
    from gambitts.sims.cluster import load_cluster_config

    return load_cluster_config(cluster, cluster_file)


def _replicate_list(text: str) -> list[int]:
    if not text:
        return []
    parts = [part.strip() for part in text.split(",")]
    if not all(re.fullmatch(r"[0-9]+", part, flags=re.ASCII) for part in parts):
        raise click.BadParameter(
            f"must be comma-separated replicate numbers, e.g. 0,1; got {text!r}",
            param_hint="--save-posteriors",
        )
    return [int(part) for part in parts]


def _summarise(written: dict[str, Path], plot_dir: Path | None, format_summary) -> None:
    from gambitts.api import open_results

    for path in written.values():
        ds = open_results(path).regret
        click.echo(format_summary(ds))
        click.echo(f"results: {path}")
        if plot_dir is not None:
            from gambitts.sims.plots import plot_experiment

            click.echo(
                f"figures: {', '.join(str(p) for p in plot_experiment(ds, plot_dir / 'plots'))}"
            )
        click.echo()


def _warn_unhealthy_fits(written: dict[str, Path]) -> None:
    """Warn once if any custom agent's refit in the written files looks unhealthy."""
    from gambitts.models.diagnostics import unhealthy
    from gambitts.sims.sweep import read_fit_diagnostics

    for path in written.values():
        diagnostics = read_fit_diagnostics(path)
        problem = None if diagnostics is None else unhealthy(diagnostics)
        if problem is not None:
            click.echo(
                f"warning: an unhealthy fit in {path}: {problem}. Thompson draws may not follow "
                "the posterior there; raise `draws`/`tune`, reparametrise the model, or see "
                f"`gambitts inspect {path}` (warned once)",
                err=True,
            )
            return


@main.command()
@click.argument("results_file", type=click.Path(dir_okay=False, exists=True))
def inspect(results_file: str) -> None:
    """Print a results file's regret summary, saved posteriors and fit diagnostics.

    RESULTS_FILE is a block's OUT/<block>.nc; for a per-configuration file (OUT/configs/*.nc)
    a short summary of its regret is printed.
    """
    import arviz as az
    import xarray as xr

    from gambitts.api import open_results
    from gambitts.errors import InputError
    from gambitts.models.diagnostics import unhealthy
    from gambitts.sims.results import (
        block_problem,
        format_configuration_summary,
        format_fit_diagnostics,
        format_summary,
        is_configuration_results,
    )
    from gambitts.sims.sweep import FIT_DIAGNOSTICS_GROUP

    needs = "`gambitts inspect` needs a block's results file, OUT/<block>.nc of `gambitts simulate`"
    try:
        tree = xr.open_datatree(results_file, engine="h5netcdf")
    except Exception as error:  # any reader error means the file cannot be read
        reason = " ".join(str(error).split()) or type(error).__name__
        raise InputError(f"cannot read {results_file!r} as NetCDF ({reason}); {needs}") from None
    root = tree.to_dataset()
    problem = block_problem(root)
    if {"z", "n_draws"} <= set(root.data_vars) and "regret" not in root.data_vars:
        problem = f"a generator database (see `gambitts promptdb --check {results_file}`)"
    if problem is None or is_configuration_results(root):
        try:
            root["regret"].load()  # a damaged file fails here, not halfway through the output
        except Exception as error:  # a damaged chunk fails with the reader's own error
            reason = " ".join(str(error).split()) or type(error).__name__
            raise InputError(
                f"{results_file!r} is damaged: its `regret` cannot be read ({reason}); "
                "rerun the `gambitts simulate` that wrote it"
            ) from None
    if is_configuration_results(root):
        click.echo(f"{results_file}: {format_configuration_summary(root)}")
        return
    if problem is not None:
        raise InputError(f"{results_file!r} is {problem}; {needs}")
    tree.close()
    results = open_results(results_file)
    click.echo(format_summary(results.regret))
    if not results.posteriors:
        click.echo("\nno saved posteriors (run `gambitts simulate ... --save-posteriors 0`)")
    for path, posterior in results.posteriors.items():
        click.echo(f"\n/{path}")
        click.echo(az.summary(posterior, kind="stats").to_string())
    if results.diagnostics is not None:
        click.echo(f"\n{FIT_DIAGNOSTICS_GROUP}: worst values over refits and replicates")
        click.echo(format_fit_diagnostics(results.diagnostics))
        problem = unhealthy(results.diagnostics)
        click.echo(f"unhealthy: {problem}" if problem else "all fits look healthy")


@main.command()
@click.argument("results_dir", type=click.Path(file_okay=False))
@click.option(
    "--experiment", "names", multiple=True, help="Only these blocks (default: every block found)."
)
@click.option("--all", "plot_all", is_flag=True, help="Every block found (the default).")
def plot(results_dir: str, names: tuple[str, ...], plot_all: bool) -> None:
    """Write PNG and PDF figures of every block in RESULTS_DIR to RESULTS_DIR/plots.

    Other .nc files in RESULTS_DIR are skipped, with a line on stderr each.
    """
    from gambitts.errors import InputError
    from gambitts.sims.plots import plot_experiment
    from gambitts.sims.report import load_block, results_files

    files = results_files(results_dir, notify=lambda line: click.echo(line, err=True))
    if names and not plot_all:
        found = [f.stem for f in files]
        files = [f for f in files if f.stem in names]
        missing = sorted(set(names) - {f.stem for f in files})
        if missing:
            raise InputError(
                f"no results of {', '.join(missing)} in {results_dir!r}; "
                f"blocks found there: {', '.join(found)}"
            )
    for path in files:
        written = plot_experiment(load_block(path), Path(results_dir) / "plots", name=path.stem)
        click.echo(f"{path.stem}: {', '.join(str(p) for p in written)}")


@main.command()
@click.argument("results_dir", type=click.Path(file_okay=False))
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    help="Markdown file (default RESULTS_DIR/report.md).",
)
@click.option(
    "--findings",
    "findings_path",
    type=click.Path(dir_okay=False),
    help="Also write our results beside the paper's findings here (e.g. docs/results.md).",
)
def report(results_dir: str, out_path: str | None, findings_path: str | None) -> None:
    """Print and save a markdown table of final cumulative regret per block, agent and setting.

    Other .nc files in RESULTS_DIR are skipped, with a line on stderr each.
    """
    from gambitts.errors import InputError
    from gambitts.sims.report import write_report

    given = [p for p in (out_path, findings_path) if p is not None]
    for text in given:
        if not text.strip() or Path(text).suffix.lower() in (".nc", ".netcdf"):
            raise InputError(
                f"report files are markdown; give a file name ending in .md, got {text!r}"
            )
    targets = [Path(text) for text in given]
    if len(targets) == 2 and targets[0].resolve() == targets[1].resolve():
        raise InputError("--out and --findings name the same file; give them different names")
    text, path = write_report(results_dir, out_path, notify=lambda line: click.echo(line, err=True))
    click.echo(text)
    click.echo(f"saved: {path}")
    if findings_path is not None:
        from gambitts.sims.findings import write_findings

        click.echo(f"findings: {write_findings(results_dir, findings_path)}")


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
@_long_format_reading("a long-format file given to --check")
@click.option(
    "--seed", type=_SEED, default=0, show_default=True, help="Seed of the stand-in generator."
)
def promptdb(
    out_path: str | None,
    check_path: str | None,
    context_columns: tuple[str, ...],
    contexts_file: str | None,
    message_column: str | None,
    seed: int,
) -> None:
    """Write the stand-in generator database, or check a database file.

    A long-format file (.csv, .parquet) uses the paper's context columns unless --context
    COLUMN (levels from the data) or --contexts STUDY.yaml (declared levels) says otherwise.
    """
    from gambitts.design.promptdb import load_prompt_database
    from gambitts.design.standin import make_standin_database
    from gambitts.design.study_file import describe_context_space
    from gambitts.errors import InputError
    from gambitts.files import remove_stale_temporaries

    if (out_path is None) == (check_path is None):
        raise click.UsageError("give exactly one of --out FILE or --check FILE")
    reading_given = bool(context_columns) or contexts_file is not None or message_column is not None
    if reading_given and check_path is None:
        raise InputError(
            "--context, --contexts and --message-column say how to read a long-format file; "
            "use them with --check FILE, not --out"
        )
    if check_path is not None:
        reading = _long_format_options(context_columns, contexts_file, message_column)
        db = load_prompt_database(check_path, **reading)
    else:
        target = Path(out_path)
        if target.suffix.lower() not in (".nc", ".netcdf"):
            raise InputError(
                f"--out writes NetCDF; give a file name ending in .nc, got {out_path!r}"
            )
        if not target.parent.is_dir():
            raise OutputError(
                f"cannot write {out_path!r}: directory {str(target.parent)!r} does not exist"
            )
        db = make_standin_database(seed=seed)
        remove_stale_temporaries(target.parent)
        db.save(target)
        click.echo(f"wrote {target}")
    draws = db.n_draws
    low, high = int(draws.min()), int(draws.max())
    draws_text = str(low) if low == high else f"{low}-{high}"
    click.echo(
        f"prompts: {db.n_prompts}, cells: {db.n_cells}, draws per cell: {draws_text}, "
        f"dims: {db.n_dims}"
    )
    click.echo(f"contexts: {describe_context_space(db.contexts)}")
    click.echo(f"messages: {'yes' if db.messages is not None else 'none'}")


def _long_format_options(
    context_columns: tuple[str, ...], contexts_file: str | None, message_column: str | None
) -> dict:
    """Return the reading options of ``load_prompt_database`` from the command's options.

    Unset options are ``None``, so that ``load_prompt_database`` can refuse any that is set for
    a file they do not apply to.
    """
    from gambitts.errors import InputError

    if context_columns and contexts_file is not None:
        raise InputError(
            "give --context COLUMN (levels from the data) or --contexts STUDY.yaml (declared "
            "levels), not both"
        )
    contexts = None
    if contexts_file is not None:
        from gambitts.design.study_file import load_context_space

        contexts = load_context_space(contexts_file)
    return {
        "contexts": contexts,
        "context_columns": list(context_columns) if context_columns else None,
        "message_column": message_column,
    }


def _add_study_commands() -> None:
    from gambitts.cli.study import study

    main.add_command(study)


_add_study_commands()
