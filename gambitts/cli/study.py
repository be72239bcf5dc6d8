"""``gambitts study``: run a live study from the command line (see :mod:`gambitts.live.study`).

Each verb opens the study's database (a SQLite file or a SQLAlchemy URL), does one thing and
prints the result; decisions are printed as JSON for the app backend that asked.
"""

from __future__ import annotations

import json

import click

from gambitts.errors import InputError


@click.group()
def study() -> None:
    """Run a live study: init, decide, record, update, status, replay, export."""


@study.command()
@click.argument("study_file", type=click.Path(dir_okay=False, exists=True))
@click.option("--db", "database", help="SQLite file or SQLAlchemy URL (default: next to the file).")
def init(study_file: str, database: str | None) -> None:
    """Make the study's database from STUDY_FILE."""
    from gambitts.live.study import Study

    with Study.init(study_file, database) as made:
        click.echo(f"study {made.definition.name!r}: {made.engine.url}")


@study.command()
@click.argument("database")
@click.option("--participant", required=True, help="The participant's id.")
@click.option(
    "--context", "context", multiple=True, required=True, metavar="NAME=LEVEL",
    help="One context variable's level (repeatable).",
)  # fmt: skip
@click.option("--client-id", help="The caller's id of this request: a repeat returns the same.")
def decide(database: str, participant: str, context: tuple[str, ...], client_id: str | None):
    """Choose a prompt for a participant now; print the decision as JSON."""
    from gambitts.live.study import Study

    levels = {}
    for item in context:
        name, sep, level = item.partition("=")
        if not sep or not name:
            raise InputError(f"--context must be NAME=LEVEL, got {item!r}")
        levels[name] = level
    with Study.open(database) as opened:
        decision = opened.decide(participant, levels, client_id)
        prompts = opened.definition.prompts
    prompt_id, text = prompts[decision.prompt]
    click.echo(
        json.dumps(
            {
                "decision": decision.number,
                "prompt": prompt_id,
                "prompt_text": text,
                "probabilities": dict(
                    zip([p for p, _ in prompts],
                        decision.probabilities.tolist(), strict=True)
                ),
                "policy_version": decision.version,
            }
        )
    )  # fmt: skip


@study.command()
@click.argument("database")
@click.argument("decision", type=int)
@click.option("--reward", type=float, help="The outcome.")
@click.option("--z", "z", help="The delivered message's style scores, comma-separated.")
def record(database: str, decision: int, reward: float | None, z: str | None) -> None:
    """Record a decision's outcome: its reward and/or its message's style scores."""
    from gambitts.live.study import Study

    scores = None
    if z is not None:
        try:
            scores = [float(part) for part in z.split(",")]
        except ValueError:
            raise InputError(f"--z must be comma-separated numbers, got {z!r}") from None
    with Study.open(database) as opened:
        opened.record(decision, z=scores, reward=reward)
    click.echo(f"recorded decision {decision}")


@study.command()
@click.argument("database")
def update(database: str) -> None:
    """Fold every complete outcome into a new policy version."""
    from gambitts.live.study import Study

    with Study.open(database) as opened:
        folded = opened.update()
        version = opened.policy.version
    click.echo(f"folded {folded} observation(s); policy version {version}")


@study.command()
@click.argument("database")
def status(database: str) -> None:
    """Print decisions, pending outcomes, the policy version and the share played at the floor."""
    from gambitts.live.study import Study

    with Study.open(database) as opened:
        report = opened.status()
    for key, value in report.items():
        click.echo(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")


@study.command()
@click.argument("database")
def replay(database: str) -> None:
    """Recompute every logged decision from the log and check it is identical."""
    from gambitts.live.study import Study

    with Study.open(database) as opened:
        count = opened.replay()
    click.echo(f"{count} decision(s) replay exactly")


@study.command()
@click.argument("database")
@click.argument("out", type=click.Path(dir_okay=False))
def export(database: str, out: str) -> None:
    """Write the log (dim decision) and the current posterior (ArviZ group) to OUT (.nc)."""
    from gambitts.live.study import Study

    if not out.lower().endswith((".nc", ".netcdf")):
        raise InputError(f"the export is NetCDF; give a file name ending in .nc, got {out!r}")
    with Study.open(database) as opened:
        path = opened.export(out)
    click.echo(f"exported: {path}")
