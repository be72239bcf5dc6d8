"""A live study: decisions with logged probabilities, outcomes as they come, exact replay.

::

    study = Study.init("study.yaml")              # makes study.db next to it
    decision = study.decide("p01", {"time_of_day": "evening", "day": "weekday", ...})
    study.record(decision.number, reward=6.5)     # hours later; z=[...] too for GAMBITTS
    study.update()                                # e.g. nightly: a new policy version
    study.replay()                                # the audit: every decision recomputed

A study file::

    name: sleep_pilot
    contexts: {variables: [...]}                  # as in a study file of the simulator
    prompts: [{id: warm, text: "Write a warm..."}, {id: brief, text: "..."}]
    agent: {kind: foGAMBITTS, dims: [warmth, urgency], prior: {intercept_mean: 6}}
    min_probability: 0.05                          # no prompt below 5% (K x floor <= 1)
    propensity_draws: 1000                         # posterior draws per probability vector
    seed: 0
    update: manual                                 # or each_outcome

Policy versions are rebuilt from the log when a study is opened (the observations each version
folded in are recorded), so nothing but the database is needed to continue or to audit.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from gambitts.agents.registry import agent_from_dict
from gambitts.agents.spec import AgentSpec
from gambitts.design.contexts import ContextSpace
from gambitts.design.study_file import context_space_from_section
from gambitts.errors import InputError, shown
from gambitts.live import storage
from gambitts.live.policy import LIVE_KINDS, Decision, Policy
from gambitts.yaml_files import parse_yaml, read_yaml_text

_KEYS = {
    "name", "contexts", "prompts", "agent", "min_probability", "propensity_draws", "seed",
    "update",
}  # fmt: skip
#: Longest participant or request id (the database's column width).
_MAX_ID = 200
#: When a study updates its policy: on an explicit ``update`` (e.g. nightly), or after each
#: outcome that completes an observation.
UPDATE_SCHEDULES: tuple[str, ...] = ("manual", "each_outcome")
_REQUIRED = {"name", "contexts", "prompts", "agent"}


@dataclass(frozen=True)
class StudyDefinition:
    """A live study's design, validated (see the module notes for the file)."""

    name: str
    contexts: ContextSpace
    prompts: tuple[tuple[str, str], ...]
    agent: AgentSpec
    min_probability: float = 0.0
    propensity_draws: int = 1000
    seed: int = 0
    update: str = "manual"

    @classmethod
    def from_mapping(cls, document: Any, source: str = "study file") -> StudyDefinition:
        """Validate a parsed study file; one-line :class:`InputError` naming the key."""
        if not isinstance(document, dict):
            raise InputError(f"{source} must be a mapping with {sorted(_REQUIRED)}")
        unknown = sorted(set(document) - _KEYS, key=str)
        missing = sorted(_REQUIRED - set(document))
        if unknown or missing:
            raise InputError(
                f"{source}: unknown key(s) {unknown}, missing key(s) {missing}; valid keys are "
                f"{sorted(_KEYS)}"
            )
        name = document["name"]
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{source}: `name` must be text, got {shown(name)}")
        contexts = context_space_from_section(document["contexts"], f"{source}: `contexts`")
        prompts = _prompts(document["prompts"], source)
        agent = agent_from_dict(document["agent"], f"{source}: `agent`")
        if agent.kind not in LIVE_KINDS or agent.kind == "poGAMBITTS":
            runs = [kind for kind in LIVE_KINDS if kind != "poGAMBITTS"]
            raise InputError(
                f"{source}: a live study runs {', '.join(runs)} so far, not {agent.kind} "
                "(poGAMBITTS will read its generator database from the study file)"
            )
        floor = document.get("min_probability", 0.0)
        if (
            isinstance(floor, bool)
            or not isinstance(floor, int | float)
            or not (0 <= floor and len(prompts) * floor <= 1)
        ):
            raise InputError(
                f"{source}: `min_probability` must be in [0, 1/{len(prompts)}] for "
                f"{len(prompts)} prompts, got {shown(floor)}"
            )
        draws = document.get("propensity_draws", 1000)
        seed = document.get("seed", 0)
        for key, value, low in (("propensity_draws", draws, 1), ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{source}: `{key}` must be a whole number >= {low}")
        schedule = document.get("update", "manual")
        if schedule not in UPDATE_SCHEDULES:
            raise InputError(
                f"{source}: `update` must be one of {list(UPDATE_SCHEDULES)}, got {shown(schedule)}"
            )
        return cls(name, contexts, prompts, agent, float(floor), draws, seed, schedule)

    def to_json(self) -> str:
        """Return the definition as canonical JSON (stored with the study, and hashed)."""
        return json.dumps(
            {
                "name": self.name,
                "contexts": self.contexts.to_dict(),
                "prompts": [{"id": i, "text": t} for i, t in self.prompts],
                "agent": self.agent.to_dict(),
                "min_probability": self.min_probability,
                "propensity_draws": self.propensity_draws,
                "seed": self.seed,
                "update": self.update,
            },
            sort_keys=True,
        )

    @property
    def n_dims(self) -> int:
        """How many style scores an outcome's ``z`` holds (0 for agents of the reward alone)."""
        return len(self.agent.modelled_dims)


def _prompts(section: Any, source: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(section, list) or len(section) < 2:
        raise InputError(f"{source}: `prompts` must list at least two {{id, text}} entries")
    prompts = []
    for entry in section:
        if not isinstance(entry, dict) or set(entry) != {"id", "text"}:
            raise InputError(f"{source}: each prompt must be {{id, text}}, got {shown(entry)}")
        if not all(isinstance(entry[k], str) and entry[k].strip() for k in ("id", "text")):
            raise InputError(f"{source}: a prompt's id and text must be text, got {shown(entry)}")
        prompts.append((entry["id"], entry["text"]))
    ids = [i for i, _ in prompts]
    if len(set(ids)) != len(ids):
        raise InputError(f"{source}: prompt ids must be distinct, got {ids}")
    return tuple(prompts)


def load_study_file(path: str | os.PathLike) -> StudyDefinition:
    """Read and validate a live study's YAML file."""
    source = f"study file {str(path)!r}"
    try:
        document = parse_yaml(read_yaml_text(path, source), source)
    except ValueError as error:
        raise InputError(str(error)) from None
    return StudyDefinition.from_mapping(document, source)


class Study:
    """A live study on its database (see the module notes).

    Open one with :meth:`init` (a new study) or :meth:`open` (an existing one).
    """

    def __init__(self, engine: sa.Engine, definition: StudyDefinition) -> None:
        self.engine = engine
        self.definition = definition
        self.policy = self._policy()
        with engine.connect() as connection:
            versions = connection.execute(
                sa.select(storage.POLICIES.c.version).order_by(storage.POLICIES.c.version)
            ).scalars()
            for version in versions:
                self._fold(connection, version, self.policy)

    @classmethod
    def init(cls, study_file: str | os.PathLike, database: str | None = None) -> Study:
        """Make a study's database (default: ``<file>.db`` next to the file) and open it."""
        definition = load_study_file(study_file)
        location = database or Path(study_file).with_suffix(".db")
        engine = storage.connect(storage.database_url(location))
        text = definition.to_json()
        try:
            storage.create_tables(engine, text, hashlib.sha256(text.encode()).hexdigest())
            return cls(engine, definition)
        except BaseException:
            engine.dispose()
            raise

    @classmethod
    def open(cls, database: str | os.PathLike) -> Study:
        """Open an existing study's database (a SQLite path or a SQLAlchemy URL)."""
        if "://" not in str(database) and not Path(database).is_file():
            raise InputError(
                f"no study database at {str(database)!r}; make one with `gambitts study init`"
            )
        engine = storage.connect(storage.database_url(database))
        try:
            meta = storage.read_meta(engine)
            text = meta["definition"]
            if hashlib.sha256(text.encode()).hexdigest() != meta["definition_hash"]:
                raise InputError(f"{engine.url!r}: the stored study definition was altered")
            document = json.loads(text)
            definition = StudyDefinition.from_mapping(document, f"study in {engine.url!r}")
            return cls(engine, definition)
        except BaseException:
            engine.dispose()
            raise

    def close(self) -> None:
        """Close the study's database connections."""
        self.engine.dispose()

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _policy(self) -> Policy:
        d = self.definition
        return Policy(
            d.agent,
            len(d.prompts),
            d.contexts,
            min_probability=d.min_probability,
            propensity_draws=d.propensity_draws,
            seed=d.seed,
        )

    # -- decisions -------------------------------------------------------------------------

    def decide(
        self, participant: str, context: dict[str, Any], client_id: str | None = None
    ) -> Decision:
        """Decide a prompt for ``participant`` in ``context`` and log it with its probabilities.

        A repeated ``client_id`` returns the decision already made for it.
        """
        for name, value in (("participant", participant), ("client_id", client_id)):
            if value is None and name == "client_id":
                continue
            if not isinstance(value, str) or not value.strip() or len(value) > _MAX_ID:
                raise InputError(
                    f"`{name}` must be an id of 1 to {_MAX_ID} characters, got {shown(value)}"
                )
        cell = self.definition.contexts.cell_index(context)
        with self.engine.begin() as connection:
            if client_id is not None:
                row = connection.execute(
                    sa.select(storage.DECISIONS).where(storage.DECISIONS.c.client_id == client_id)
                ).first()
                if row is not None:
                    return _decision(row)
            number = connection.execute(
                sa.select(sa.func.coalesce(sa.func.max(storage.DECISIONS.c.number) + 1, 0))
            ).scalar_one()
            decision = self.policy.decide(cell, number)
            connection.execute(
                sa.insert(storage.DECISIONS).values(
                    number=number,
                    client_id=client_id,
                    participant=participant,
                    context=json.dumps({k: str(v) for k, v in context.items()}, sort_keys=True),
                    cell=cell,
                    probabilities=json.dumps(decision.probabilities.tolist()),
                    prompt=decision.prompt,
                    version=decision.version,
                    created_at=_now(),
                )
            )
        return decision

    # -- outcomes --------------------------------------------------------------------------

    def record(
        self, decision: int, *, z: list[float] | None = None, reward: float | None = None
    ) -> None:
        """Record a decision's message style ``z`` and/or its ``reward``, in any order.

        Raises
        ------
        InputError
            For an unknown decision, a reward that is not a finite number, a ``z`` of the wrong
            length, or a second different value; nothing is written then.
        """
        if z is None and reward is None:
            raise InputError("give `z`, `reward` or both")
        z = None if z is None else self._checked_z(z)
        if reward is not None:
            if (
                isinstance(reward, bool)
                or not isinstance(reward, int | float)
                or not math.isfinite(reward)
            ):
                raise InputError(f"`reward` must be a finite number, got {shown(reward)}")
            reward = float(reward)
        with self.engine.begin() as connection:
            known = connection.execute(
                sa.select(storage.DECISIONS.c.number).where(storage.DECISIONS.c.number == decision)
            ).first()
            if known is None:
                raise InputError(f"no decision {decision!r} in this study")
            row = connection.execute(
                sa.select(storage.OUTCOMES).where(storage.OUTCOMES.c.decision == decision)
            ).first()
            values: dict[str, Any] = {}
            if z is not None:
                if row is not None and row.z is not None and json.loads(row.z) != z:
                    raise InputError(f"decision {decision} already has another `z`")
                values.update(z=json.dumps(z), z_at=_now())
            if reward is not None:
                if row is not None and row.reward is not None and row.reward != reward:
                    raise InputError(
                        f"decision {decision} already has reward {row.reward}, not {reward}"
                    )
                values.update(reward=reward, reward_at=_now())
            if row is None:
                connection.execute(sa.insert(storage.OUTCOMES).values(decision=decision, **values))
            else:
                connection.execute(
                    sa.update(storage.OUTCOMES)
                    .where(storage.OUTCOMES.c.decision == decision)
                    .values(**values)
                )
        if self.definition.update == "each_outcome":
            self.update()

    def _checked_z(self, z: Any) -> list[float]:
        n = self.definition.n_dims
        ok = (
            isinstance(z, list | tuple)
            and len(z) == n
            and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in z
            )
        )
        if not ok:
            raise InputError(f"`z` must be {n} finite numbers (the modelled dims), got {shown(z)}")
        return [float(v) for v in z]

    # -- updates and replay ----------------------------------------------------------------

    def update(self) -> int:
        """Fold every complete, not yet folded outcome into a new policy version.

        The new version is built on a copy of the policy and checked (its probabilities must be
        finite and sum to one in every cell) before it replaces the current one. If that fails,
        the study keeps deciding with the last good version, the failure is recorded (see
        :meth:`status`) and the outcomes stay unfolded for the next update.

        Returns the number of observations folded (0 leaves the version unchanged).
        """
        with self.engine.connect() as connection:
            ready = self._ready(connection)
        if not ready:
            return 0
        candidate = copy.deepcopy(self.policy)
        try:
            self._apply(ready, candidate)
            _check_policy(candidate)
        except Exception as error:  # noqa: BLE001 - any failure keeps the last good version
            with self.engine.begin() as connection:
                connection.execute(
                    sa.insert(storage.FAILURES).values(
                        version=self.policy.version + 1,
                        message=" ".join(f"{type(error).__name__}: {error}".split())[:500],
                        created_at=_now(),
                    )
                )
            return 0
        with self.engine.begin() as connection:
            connection.execute(
                sa.update(storage.OUTCOMES)
                .where(storage.OUTCOMES.c.decision.in_([row.number for row in ready]))
                .values(folded=candidate.version)
            )
            connection.execute(
                sa.insert(storage.POLICIES).values(
                    version=candidate.version,
                    n_observations=candidate.n_observations,
                    created_at=_now(),
                )
            )
        self.policy = candidate
        return len(ready)

    def _ready(self, connection: sa.Connection) -> list[Any]:
        """Decisions with a reward (and ``z`` where the agent needs it) not yet folded in."""
        joined = storage.DECISIONS.join(storage.OUTCOMES)
        query = (
            sa.select(storage.DECISIONS.c.number, storage.DECISIONS.c.cell,
                      storage.DECISIONS.c.prompt, storage.OUTCOMES.c.z, storage.OUTCOMES.c.reward)
            .select_from(joined)
            .where(storage.OUTCOMES.c.reward.is_not(None), storage.OUTCOMES.c.folded.is_(None))
            .order_by(storage.DECISIONS.c.number)
        )  # fmt: skip
        if self.definition.n_dims:
            query = query.where(storage.OUTCOMES.c.z.is_not(None))
        return list(connection.execute(query).all())

    def _fold(self, connection: sa.Connection, version: int, policy: Policy) -> None:
        """Fold into ``policy`` the observations that version ``version`` folded in."""
        joined = storage.DECISIONS.join(storage.OUTCOMES)
        rows = connection.execute(
            sa.select(storage.DECISIONS.c.number, storage.DECISIONS.c.cell,
                      storage.DECISIONS.c.prompt, storage.OUTCOMES.c.z, storage.OUTCOMES.c.reward)
            .select_from(joined)
            .where(storage.OUTCOMES.c.folded == version)
            .order_by(storage.DECISIONS.c.number)
        ).all()  # fmt: skip
        self._apply(rows, policy)

    def _apply(self, rows: list[Any], policy: Policy) -> None:
        n_dims = self.definition.n_dims
        z = np.array([json.loads(r.z) if n_dims else [] for r in rows], dtype=float)
        policy.update(
            np.array([r.cell for r in rows]),
            np.array([r.prompt for r in rows]),
            z.reshape(len(rows), n_dims),
            np.array([r.reward for r in rows]),
        )

    def replay(self) -> int:
        """Recompute every logged decision from the log alone and check it is identical.

        Returns the number of decisions verified.

        Raises
        ------
        InputError
            Naming the first decision whose probabilities or prompt differ from the log.
        """
        policy = self._policy()
        with self.engine.connect() as connection:
            decisions = connection.execute(
                sa.select(storage.DECISIONS).order_by(storage.DECISIONS.c.number)
            ).all()
            for row in decisions:
                while policy.version < row.version:
                    self._fold(connection, policy.version + 1, policy)
                again = policy.decide(row.cell, row.number)
                logged = _decision(row)
                if again.prompt != logged.prompt or not np.array_equal(
                    again.probabilities, logged.probabilities
                ):
                    raise InputError(
                        f"decision {row.number} does not replay: logged prompt {logged.prompt} "
                        f"with {logged.probabilities.tolist()}, recomputed {again.prompt} with "
                        f"{again.probabilities.tolist()}"
                    )
        return len(decisions)

    def export(self, path: str | os.PathLike) -> Path:
        """Write the log and the current posterior to one NetCDF file, atomically.

        The root Dataset has one row per decision (dim ``decision``): ``participant``, the
        context variables, ``cell``, ``prompt`` (the id), ``probability`` over
        (``decision``, ``prompt_option``), ``policy_version``, ``reward`` (NaN while pending),
        ``z`` over (``decision``, ``dim``) and ``folded_in`` (-1 until folded). The group
        ``posterior`` holds the current posterior in ArviZ's layout (read it with
        ``arviz.from_netcdf(path).posterior`` or :func:`xarray.open_dataset` with ``group=``).
        """
        import xarray as xr

        from gambitts.files import write_netcdf_atomic
        from gambitts.models.inference_data import posterior_inference_data

        d = self.definition
        joined = storage.DECISIONS.outerjoin(storage.OUTCOMES)
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(storage.DECISIONS, storage.OUTCOMES.c.z, storage.OUTCOMES.c.reward,
                          storage.OUTCOMES.c.folded)
                .select_from(joined)
                .order_by(storage.DECISIONS.c.number)
            ).all()  # fmt: skip
        ids = [prompt_id for prompt_id, _ in d.prompts]
        dims = list(d.agent.modelled_dims)
        contexts = [json.loads(row.context) for row in rows]
        z = np.full((len(rows), len(dims)), np.nan)
        for i, row in enumerate(rows):
            if row.z is not None:
                z[i] = json.loads(row.z)
        data = {
            "participant": ("decision", [row.participant for row in rows]),
            "cell": ("decision", [row.cell for row in rows]),
            "prompt": ("decision", [ids[row.prompt] for row in rows]),
            "probability": (
                ("decision", "prompt_option"),
                np.array([json.loads(row.probabilities) for row in rows]).reshape(-1, len(ids)),
            ),
            "policy_version": ("decision", [row.version for row in rows]),
            "reward": ("decision", [np.nan if r.reward is None else r.reward for r in rows]),
            "z": (("decision", "dim"), z),
            "folded_in": ("decision", [-1 if r.folded is None else r.folded for r in rows]),
        }
        for name in d.contexts.names:
            data[name] = ("decision", [context.get(name, "") for context in contexts])
        log = xr.Dataset(
            data,
            coords={
                "decision": [row.number for row in rows],
                "prompt_option": ids,
                "dim": dims,
            },
            attrs={
                "study": d.name,
                "definition": d.to_json(),
                "policy_version": self.policy.version,
            },
        )
        posterior = posterior_inference_data(
            self.policy.agent,
            dim_names=dims or None,
            prompt_names=ids,
            cell_names=list(d.contexts.cell_labels),
            context_names=list(d.contexts.feature_names)
            if self.policy.agent_uses_context
            else None,
        ).posterior
        return write_netcdf_atomic(log, path, {"posterior": posterior})

    def status(self) -> dict[str, Any]:
        """Return what a study team watches: decisions, pending outcomes, version, floor share."""
        with self.engine.connect() as connection:
            decisions = connection.execute(sa.select(storage.DECISIONS)).all()
            rewarded = connection.execute(
                sa.select(sa.func.count()).where(storage.OUTCOMES.c.reward.is_not(None))
            ).scalar_one()
        floor = self.definition.min_probability
        at_floor = sum(
            _decision(row).probabilities[row.prompt] <= floor + 1e-12 for row in decisions
        )
        with self.engine.connect() as connection:
            failure = connection.execute(
                sa.select(storage.FAILURES.c.message, storage.FAILURES.c.created_at)
                .order_by(storage.FAILURES.c.id.desc())
                .limit(1)
            ).first()
        return {
            "last_update_failure": "none" if failure is None else f"{failure[1]} {failure[0]}",
            "decisions": len(decisions),
            "rewarded": rewarded,
            "pending": len(decisions) - rewarded,
            "policy_version": self.policy.version,
            "observations": self.policy.n_observations,
            "played_at_floor": at_floor / len(decisions) if decisions else 0.0,
        }


def _check_policy(policy: Policy) -> None:
    """Refuse a policy whose probabilities are not a distribution in some cell."""
    rng = np.random.default_rng(0)
    for cell in range(policy.contexts.n_cells):
        p = policy.probabilities(cell, rng)
        if not np.isfinite(p).all() or not np.isclose(p.sum(), 1.0):
            raise FloatingPointError(f"the updated policy's probabilities in cell {cell} are {p}")


def _decision(row: Any) -> Decision:
    return Decision(
        row.number, row.cell, np.array(json.loads(row.probabilities)), row.prompt, row.version
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()
