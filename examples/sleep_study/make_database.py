"""Make the sleep study's generator database: a seeded, synthetic long-format CSV.

8 prompts x 12 context cells (time of day x weekday/weekend x last night's sleep) x N messages,
each with its text and five style scores (warmth, urgency, specificity, formality, length). The
messages are synthetic: built from phrase banks, with scores that follow the prompt's intent,
shift with the context, and scatter message to message as an LLM's do. In a real study this
file comes from your generator and your scorer.

Run: python examples/sleep_study/make_database.py OUT.csv [--per-cell N] [--seed S]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

DIMS = ("warmth", "urgency", "specificity", "formality", "length")
#: Each prompt's intended shift of the style scores (rows: prompts; columns: DIMS).
PROMPTS = {
    "gentle nudge": (1.0, -0.6, -0.2, -0.4, -0.2),
    "firm reminder": (-0.5, 1.0, 0.2, 0.5, -0.3),
    "concrete plan": (0.0, 0.2, 1.0, 0.2, 0.6),
    "friendly tip": (0.7, -0.2, 0.6, -0.6, 0.0),
    "science fact": (-0.3, 0.1, 0.7, 1.0, 0.7),
    "short and warm": (0.8, 0.0, -0.5, -0.3, -1.0),
    "urgent and specific": (-0.2, 0.9, 0.9, 0.2, 0.2),
    "neutral": (0.0, 0.0, 0.0, 0.0, 0.0),
}
CONTEXT = {
    "time_of_day": ("morning", "evening"),
    "day": ("weekday", "weekend"),
    "sleep": ("short", "ok", "long"),
}
OPENERS = {"warm": "Hey, you're doing great.", "cool": "Reminder:", "neutral": "Tonight:"}
ACTIONS = ("dim the lights an hour before bed", "put the phone away at 10 pm",
           "keep the same wake-up time", "skip coffee after 2 pm")  # fmt: skip


def make_frame(per_cell: int = 40, seed: int = 0) -> pd.DataFrame:
    """Return the long-format table: one row per message."""
    rng = np.random.default_rng(seed)
    cells = list(itertools.product(*CONTEXT.values()))
    cell_shift = 0.3 * rng.standard_normal((len(cells), len(DIMS)))
    rows = []
    for prompt, intent in PROMPTS.items():
        interaction = 0.2 * rng.standard_normal((len(cells), len(DIMS)))
        for c, (time_of_day, day, sleep) in enumerate(cells):
            mean = np.asarray(intent) + cell_shift[c] + interaction[c]
            scores = mean + 0.5 * rng.standard_normal((per_cell, len(DIMS)))
            for score in scores:
                rows.append(
                    {"prompt": prompt, "time_of_day": time_of_day, "day": day, "sleep": sleep,
                     "message": _message(score, time_of_day, rng),
                     **{dim: round(float(v), 6) for dim, v in zip(DIMS, score, strict=True)}}
                )  # fmt: skip
    return pd.DataFrame(rows)


def _message(score: np.ndarray, time_of_day: str, rng: np.random.Generator) -> str:
    tone = "warm" if score[0] > 0.3 else "cool" if score[0] < -0.3 else "neutral"
    action = ACTIONS[int(rng.integers(len(ACTIONS)))]
    urgency = " Do it today!" if score[1] > 0.5 else ""
    return f"{OPENERS[tone]} This {time_of_day}, {action}.{urgency}"


def main(argv: list[str] | None = None) -> Path:
    """Write the CSV and return its path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-cell", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    make_frame(args.per_cell, args.seed).to_csv(args.out, index=False)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
