"""The paper's qualitative findings, checked against our results.

Each finding is a claim from the paper (``../shared/paper/EXPERIMENTS.md``, "What the paper
reports") with a check that reads our results and says whether it holds, with the numbers.
:func:`write_findings` turns them into ``docs/results.md``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from gambitts.files import atomic_path, make_folder, write_text_atomic
from gambitts.sims.report import Notify, block_table, load_block, results_files
from gambitts.sims.results import setting_dims

Results = dict[str, xr.Dataset]


@dataclass(frozen=True)
class Verdict:
    """Whether a finding holds in our results, and the figures that say so."""

    holds: bool
    evidence: str


@dataclass(frozen=True)
class Finding:
    """A qualitative claim of the paper about one block, and how to check it."""

    block: str
    claim: str
    check: Callable[[Results], Verdict]
    note: str = ""


def final_mean(ds: xr.Dataset, agent: str, setting: str | None = None) -> float:
    """Return the mean final cumulative regret of ``agent`` (at ``setting``, if given)."""
    final = ds["regret"].astype(np.float64).sum("t", min_count=1).sel(agent=agent)
    if setting is not None:
        final = final.sel({ds.attrs.get("varies", "setting"): setting})
    return float(final.mean("replicate"))


def _ratio_rises_with_noise(results: Results) -> Verdict:
    ds = results["var_decomp_linear"]
    levels = [str(v) for v in ds["noise_level"].values]
    ratios = [_ratio(final_mean(ds, "poGAMBITTS", s), final_mean(ds, "StdTS", s)) for s in levels]
    text = ", ".join(f"{s}: {r:.2f}" for s, r in zip(levels, ratios, strict=True))
    return Verdict(ratios[0] < 0.5 and ratios[-1] > ratios[0], f"po/StdTS regret ratio {text}")


def _po_lowest_when_dims_right(results: Results) -> Verdict:
    ds = results["var_decomp_linear"]
    po, others = (
        final_mean(ds, "poGAMBITTS", "sd_0"),
        {a: final_mean(ds, a, "sd_0") for a in map(str, ds["agent"].values) if a != "poGAMBITTS"},
    )
    text = f"po {po:.1f} vs " + ", ".join(f"{a} {v:.1f}" for a, v in others.items())
    return Verdict(all(po < v for v in others.values()), f"at sd_0: {text}")


def _misspecification_hurts(results: Results) -> Verdict:
    ds = results["one_d_sim"]
    std = final_mean(ds, "StdTS", "optimism")
    right = final_mean(ds, "poGAMBITTS", "optimism")
    wrong = {
        (agent, s): final_mean(ds, agent, s)
        for s in map(str, ds["modelled_dim"].values)
        if s != "optimism"
        for agent in ("poGAMBITTS", "foGAMBITTS")
    }
    agent, dim = max(wrong, key=wrong.get)
    return Verdict(
        right < std and wrong[agent, dim] > std,
        f"StdTS {std:.1f}; po on optimism {right:.1f}; worst misspecified: {agent} on {dim} "
        f"{wrong[agent, dim]:.1f}",
    )


def _hedging_buys_robustness(results: Results) -> Verdict:
    plain, hedged = results["one_d_sim"], results["hedged_1d_sim"]
    wrong = [str(s) for s in plain["modelled_dim"].values if str(s) != "optimism"]
    plain_worst = max(final_mean(plain, "poGAMBITTS", s) for s in wrong)
    hedged_worst = max(final_mean(hedged, "poGAMBITTS", s) for s in wrong)
    cost = final_mean(hedged, "poGAMBITTS", "optimism") - final_mean(
        plain, "poGAMBITTS", "optimism"
    )
    return Verdict(
        hedged_worst < plain_worst and cost < plain_worst - hedged_worst,
        f"worst misspecified po: plain {plain_worst:.1f}, hedged {hedged_worst:.1f}; "
        f"cost of hedging when right: {cost:+.1f}",
    )


def _few_draws_suffice(results: Results) -> Verdict:
    ds = results["db_access_sim"]
    std = final_mean(ds, "StdTS", "all")
    gain = {s: std - final_mean(ds, "poGAMBITTS", s) for s in map(str, ds["draws_per_cell"].values)}
    share = _ratio(gain["15"], gain["all"])
    return Verdict(
        share > 0.5, f"po's gain over StdTS with 15 draws is {share:.0%} of its gain with all"
    )


def _fo_few_arms_vs_many(results: Results) -> Verdict:
    ds = results["scale_arms"]
    settings = [str(s) for s in ds["n_prompts"].values]
    fo = {s: final_mean(ds, "foGAMBITTS", s) for s in settings}
    std = {s: final_mean(ds, "StdTS", s) for s in settings}
    text = ", ".join(f"K={s}: fo {fo[s]:.1f} vs StdTS {std[s]:.1f}" for s in settings)
    return Verdict(fo[settings[0]] < std[settings[0]] and fo["40"] > std["40"], text)


def _fo_long_horizon_many_arms(results: Results) -> Verdict:
    ds = results["scale_fogambitt_arms"]
    levels = [str(s) for s in ds["noise_level"].values]
    ratios = {
        s: _ratio(final_mean(ds, "foGAMBITTS", s), final_mean(ds, "StdTS", s)) for s in levels
    }
    text = ", ".join(f"{s}: {r:.2f}" for s, r in ratios.items())
    return Verdict(
        all(r > 1 for r in ratios.values()), f"fo/StdTS ratio at T={ds.sizes['t']}: {text}"
    )


def _fo_many_dims(results: Results) -> Verdict:
    ds = results["scale_dimensions"]
    ratios = {
        s: _ratio(final_mean(ds, "foGAMBITTS", s), final_mean(ds, "StdTS", s))
        for s in map(str, ds["n_dims"].values)
    }
    text = ", ".join(f"D={s}: {r:.2f}" for s, r in ratios.items())
    return Verdict(ratios["20"] > 1 and ratios["20"] > ratios["3"], f"fo/StdTS ratio {text}")


def _ensemble_beats_stdts_nonlinear(results: Results) -> Verdict:
    ds = results["var_decomp_nonlinear"]
    ens, std = final_mean(ds, "ens-poGAMBITTS", "sd_0"), final_mean(ds, "StdTS", "sd_0")
    return Verdict(ens > std, f"at sd_0: ens-poGAMBITTS {ens:.1f} vs StdTS {std:.1f}")


def _paper_ensemble_near_linear(results: Results) -> Verdict:
    ds = results["ensemble_presets"]
    if ds.sizes["t"] < 500:
        return Verdict(False, f"horizon {ds.sizes['t']} is too short to compare the two windows")
    rows = []
    holds = True
    for agent in map(str, ds["agent"].values):
        regret = ds["regret"].sel(agent=agent).isel(noise_level=0).astype(np.float64)
        per_round = regret.mean("replicate").values
        flattening = _ratio(per_round[-200:].sum(), per_round[100:300].sum())
        rows.append(
            f"{agent}: {final_mean(ds, agent, 'sd_0'):.1f} (regret of the last 200 rounds / "
            f"of rounds 101-300: {flattening:.2f})"
        )
        if agent == "ens (paper, fresh optimizer)":
            holds = flattening > 0.5
    return Verdict(holds, "; ".join(rows))


def _ratio(numerator: float, denominator: float) -> float:
    """Return ``numerator / denominator``, NaN (not a warning) where it is undefined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.divide(numerator, denominator))


FINDINGS: tuple[Finding, ...] = (
    Finding(
        "var_decomp_linear",
        "poGAMBITTS has clearly the lowest regret when stage 2 includes the right dims.",
        _po_lowest_when_dims_right,
    ),
    Finding(
        "var_decomp_linear",
        "poGAMBITTS' edge over StdTS is largest at low 2nd-stage noise and narrows as noise grows.",
        _ratio_rises_with_noise,
    ),
    Finding(
        "var_decomp_nonlinear",
        "The paper's ens-poGAMBITTS was the worst agent in the non-linear world at the lowest "
        "noise (about 4x StdTS's regret).",
        _ensemble_beats_stdts_nonlinear,
        note="Our default ensemble is tuned (persistent Adam at a small learning rate, a noise "
        "estimate instead of the true noise sd) and learns; the paper's setting is kept as the "
        "`paper` preset, see ensemble_presets.",
    ),
    Finding(
        "ensemble_presets",
        "The paper's ensemble setting had near-linear regret.",
        _paper_ensemble_near_linear,
    ),
    Finding(
        "one_d_sim",
        "Modelling a wrong dim can make po and fo worse than StdTS.",
        _misspecification_hurts,
    ),
    Finding(
        "hedged_1d_sim",
        "Prompt indicators (hedging) buy back robustness at a small cost.",
        _hedging_buys_robustness,
    ),
    Finding(
        "db_access_sim",
        "A few generator draws per cell (15) already give most of poGAMBITTS' gain.",
        _few_draws_suffice,
    ),
    Finding(
        "scale_arms",
        "foGAMBITTS beats StdTS with few arms but loses to it with 40 arms.",
        _fo_few_arms_vs_many,
    ),
    Finding(
        "scale_fogambitt_arms",
        "With 40 arms foGAMBITTS loses to StdTS, even over a long horizon.",
        _fo_long_horizon_many_arms,
        note="A possible reason: our stand-in's prompts differ more, relative to the within-cell "
        "spread of Z, than the paper's LLM database did, so foGAMBITTS' 480 treatment models "
        "(12 cells x 40 prompts) become informative within 10,000 rounds, while StdTS still "
        "learns 40 reward means from noisy rewards whose spread includes the treatment noise.",
    ),
    Finding(
        "scale_dimensions",
        "foGAMBITTS loses to StdTS with many dims (one treatment model per cell and arm).",
        _fo_many_dims,
    ),
)


#: The blocks the findings are about.
FINDINGS_BLOCKS: tuple[str, ...] = tuple(dict.fromkeys(finding.block for finding in FINDINGS))


def load_results(results_dir: str | os.PathLike, *, notify: Notify | None = None) -> Results:
    """Read every block results file in ``results_dir``, by block name (the file's stem).

    Other ``.nc`` files are skipped, with a line to ``notify`` each (see
    :func:`~gambitts.sims.report.results_files`).
    """
    return {path.stem: load_block(path) for path in results_files(results_dir, notify)}


def check_finding(finding: Finding, results: Results) -> str:
    """Return the markdown line(s) of one finding: the claim and whether our results agree.

    A finding whose block (or another block its check compares with) is not in ``results``,
    or whose check needs a setting or agent the results lack, is reported as not checked. The
    findings concern the paper's one-axis blocks: results of a grid block are not one of them,
    whatever its name.
    """
    results = {name: ds for name, ds in results.items() if len(setting_dims(ds)) == 1}
    if finding.block not in results:
        return f"- Paper: {finding.claim} Not checked: needs results of {_blocks([finding.block])}."
    try:
        verdict = finding.check(results)
    except (KeyError, IndexError, ValueError) as error:
        key = error.args[0] if error.args else ""
        if isinstance(error, KeyError) and key in set(FINDINGS_BLOCKS) - set(results):
            return f"- Paper: {finding.claim} Not checked: needs results of {_blocks([key])}."
        reason = str(key).split(". ")[0]
        return (
            f"- Paper: {finding.claim} Not checked: our `{finding.block}` results lack a setting "
            f"or agent it compares ({reason}); run the block with its shipped settings and agents."
        )
    mark = "agrees" if verdict.holds else "DISAGREES"
    line = f"- Paper: {finding.claim} **Ours: {mark}** ({verdict.evidence})."
    if not verdict.holds and finding.note:
        line += f"\n  {finding.note}"
    return line


def write_findings(
    results_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    notify: Notify | None = None,
) -> Path:
    """Write a markdown page: per block, our figure and table beside the paper's findings.

    The page's header names the blocks found in ``results_dir`` and lists the findings that
    could not be checked because their block's results are missing. Figures found in
    ``results_dir/plots`` (see ``gambitts plot``) are copied to a ``figures`` folder beside the
    page. Every file is written to a temporary file and renamed into place.

    Raises
    ------
    InputError
        If ``results_dir`` holds no block results.
    OutputError
        If the page or a figure cannot be written; the message names the file.
    """
    results = load_results(results_dir, notify=notify)
    out = Path(out_path)
    folder = Path(results_dir).name
    lines = [
        "# Our results beside the paper's findings",
        "",
        f"Generated by `gambitts report {folder} --findings {out.name}` from the results of "
        f"{'the block' if len(results) == 1 else 'the blocks'} {_blocks(list(results))} "
        f"in `{folder}`. Claims are the paper's (EXPERIMENTS.md); "
        "each is checked on our numbers (mean final cumulative regret over replicates).",
        "",
    ]
    absent = [finding for finding in FINDINGS if finding.block not in results]
    if absent:
        blocks = [block for block in FINDINGS_BLOCKS if block not in results]
        lines += [
            f"Not checked, because `{folder}` has no results of {_blocks(blocks)} "
            f"(`gambitts simulate --all --out {folder}` runs every block):",
            "",
            *(f"- {finding.claim} ({_blocks([finding.block])})" for finding in absent),
            "",
        ]
    make_folder(out.parent)
    for name, ds in results.items():
        lines += [f"## {name}", "", ds.attrs.get("description", ""), ""]
        figure = Path(results_dir) / "plots" / f"{name}.png"  # as `gambitts plot` names it
        if figure.is_file():  # copied beside the page, so that the page stands on its own
            copy = make_folder(out.parent / "figures") / figure.name
            with atomic_path(copy) as temporary:
                shutil.copyfile(figure, temporary)
            lines += [f"![{name}](figures/{figure.name})", ""]
        checks = [check_finding(finding, results) for finding in FINDINGS if finding.block == name]
        lines += [*checks, ""] if checks else []
        lines += [block_table(ds), ""]
    return write_text_atomic(out, "\n".join(lines))


def _blocks(names: list[str]) -> str:
    """Return block names as markdown code, comma-separated."""
    return ", ".join(f"`{name}`" for name in names)
