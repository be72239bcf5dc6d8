"""Tests of the generator-database container and its NetCDF form."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

from gambitts.sims.contexts import CELL_CURR_LOC, CELL_LABELS, CELL_PREV_STEPS
from gambitts.sims.promptdb import PromptDatabase, PromptDatabaseError, load_prompt_database


def assert_same_database(actual: PromptDatabase, expected: PromptDatabase) -> None:
    """Assert that two databases hold exactly the same data, dtypes and attrs."""
    np.testing.assert_array_equal(actual.z, expected.z)  # NaN padding compares equal
    np.testing.assert_array_equal(actual.n_draws, expected.n_draws)
    assert actual.z.dtype == np.float64
    assert actual.n_draws.dtype == np.int64
    assert actual.prompts == expected.prompts
    assert actual.dims == expected.dims
    assert actual.attrs == expected.attrs


def test_properties_and_mask(tiny_prompt_db: PromptDatabase) -> None:
    """Sizes come from ``z``; the mask marks exactly the finite draws."""
    db = tiny_prompt_db
    assert (db.n_prompts, db.n_cells, db.max_draws, db.n_dims) == (3, 12, 4, 2)
    mask = db.draw_mask()
    assert mask.shape == (3, 12, 4)
    np.testing.assert_array_equal(mask.sum(axis=2), db.n_draws)
    assert not np.isnan(db.z[mask]).any()
    assert np.isnan(db.z[~mask]).all()
    assert db.n_draws.min() == 1  # the fixture is ragged down to single-draw cells


def test_dim_index(tiny_prompt_db: PromptDatabase) -> None:
    """Names map to positions; unknown names are listed with the valid ones."""
    np.testing.assert_array_equal(tiny_prompt_db.dim_index(["formality", "optimism"]), [1, 0])
    np.testing.assert_array_equal(tiny_prompt_db.dim_index("formality"), [1])
    with pytest.raises(ValueError, match=r"\['humour'\].*valid dimensions are \['optimism'"):
        tiny_prompt_db.dim_index(["optimism", "humour"])


def test_cell_means_average_the_valid_draws(tiny_prompt_db: PromptDatabase) -> None:
    """Cell means ignore the NaN padding."""
    expected = np.nanmean(tiny_prompt_db.z, axis=2)
    np.testing.assert_allclose(tiny_prompt_db.cell_means(), expected, rtol=1e-14)


def test_to_dataset_layout(tiny_prompt_db: PromptDatabase) -> None:
    """The dataset has the documented dims, coords and attrs, and converts back."""
    ds = tiny_prompt_db.to_dataset()
    assert ds["z"].dims == ("prompt", "cell", "draw", "dim")
    assert ds["n_draws"].dims == ("prompt", "cell")
    assert list(ds["cell"].values) == list(CELL_LABELS)
    assert list(ds["curr_loc"].values) == list(CELL_CURR_LOC)
    assert list(ds["prev_steps"].values) == list(CELL_PREV_STEPS)
    assert list(ds["prompt"].values) == list(tiny_prompt_db.prompts)
    assert list(ds["dim"].values) == ["optimism", "formality"]
    assert ds.attrs == {"source": "tiny test database", "seed": 7}
    assert_same_database(PromptDatabase.from_dataset(ds), tiny_prompt_db)


def test_from_dataset_accepts_other_axis_orders(tiny_prompt_db: PromptDatabase) -> None:
    """Axes are matched by name, not position."""
    ds = tiny_prompt_db.to_dataset().transpose("dim", "draw", "cell", "prompt")
    assert_same_database(PromptDatabase.from_dataset(ds), tiny_prompt_db)


@pytest.mark.parametrize("suffix", [".nc", ".netcdf"])
def test_netcdf_round_trip_is_exact(tiny_prompt_db, tmp_path, suffix) -> None:
    """Save then load gives the ragged database bit for bit, compressed, no temp file left."""
    path = tmp_path / f"db{suffix}"
    tiny_prompt_db.save(path)
    assert_same_database(load_prompt_database(path), tiny_prompt_db)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    (tmp_path / "plain").touch()
    assert path.stat().st_mode == (tmp_path / "plain").stat().st_mode  # permissions as usual
    (tmp_path / "plain").unlink()
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert ds["z"].encoding["zlib"]


def test_save_replaces_atomically(tiny_prompt_db, tmp_path, monkeypatch) -> None:
    """A failed save leaves the previous file untouched and cleans up its temp file."""
    path = tmp_path / "db.nc"
    tiny_prompt_db.save(path)
    before = path.read_bytes()

    def write_half_then_fail(self, target, **kwargs):
        """Write a partial file, then fail like a full disk."""
        with open(target, "wb") as handle:
            handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        tiny_prompt_db.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["db.nc"]


def _with(db: PromptDatabase, **changes) -> dict:
    """Return the constructor arguments of ``db`` with ``changes`` applied."""
    fields = {f.name: getattr(db, f.name) for f in dataclasses.fields(db)}
    return fields | changes


def _nan_inside(db: PromptDatabase) -> dict:
    """Put a NaN into a valid draw."""
    z = db.z.copy()
    z[1, 5, 0, 1] = np.nan
    return _with(db, z=z)


def _value_in_padding(db: PromptDatabase) -> dict:
    """Put a number into the padding of a short cell."""
    z = db.z.copy()
    prompt, cell = np.argwhere(db.n_draws < db.max_draws)[0]
    z[prompt, cell, -1] = 0.0
    return _with(db, z=z)


def _too_many_draws(db: PromptDatabase) -> dict:
    """Claim more draws than the draw axis holds."""
    n_draws = db.n_draws.copy()
    n_draws[2, 11] = db.max_draws + 1
    return _with(db, n_draws=n_draws)


def _no_draws(db: PromptDatabase) -> dict:
    """Claim an empty cell."""
    n_draws = db.n_draws.copy()
    n_draws[0, 3] = 0
    return _with(db, n_draws=n_draws)


INVALID = {
    "z-3-axes": (lambda db: _with(db, z=db.z[..., 0]), r"`z` must have 4 axes"),
    "z-11-cells": (
        lambda db: _with(db, z=db.z[:, :11], n_draws=db.n_draws[:, :11]),
        r"12 context cells on axis 1",
    ),
    "n_draws-shape": (lambda db: _with(db, n_draws=db.n_draws[:2]), r"`n_draws` must have shape"),
    "n_draws-zero": (_no_draws, r"max_draws=4, got 0 for prompt 'more humor', cell home/4"),
    "n_draws-too-many": (_too_many_draws, r"got 5 for prompt 'more optimism', cell other/4"),
    "nan-inside": (_nan_inside, r"non-finite score in draw 0 of prompt 'less humor', cell work/2"),
    "value-in-padding": (_value_in_padding, r"must be NaN beyond each cell's n_draws"),
    "prompt-count": (lambda db: _with(db, prompts=db.prompts[:2]), r"3 prompts of `z`, got 2"),
    "dim-count": (lambda db: _with(db, dims=("optimism",)), r"2 style dimensions of `z`, got 1"),
    "duplicate-prompt": (
        lambda db: _with(db, prompts=("a", "b", "a")),
        r"`prompts` must be unique, got duplicates \['a'\]",
    ),
    "non-string-dim": (lambda db: _with(db, dims=("optimism", 3)), r"`dims` must be strings"),
    "attrs-dict-value": (
        lambda db: _with(db, attrs={"config": {"a": 1}}),
        r"`attrs` must map str to str, int or float .*'config'",
    ),
    "attrs-bool": (lambda db: _with(db, attrs={"fast": True}), r"'fast': True"),
}


@pytest.mark.parametrize(("change", "message"), INVALID.values(), ids=INVALID.keys())
def test_validation_errors(tiny_prompt_db, change, message) -> None:
    """Each inconsistency raises a one-line PromptDatabaseError saying what is wrong."""
    with pytest.raises(PromptDatabaseError, match=message) as info:
        PromptDatabase(**change(tiny_prompt_db))
    assert "\n" not in str(info.value)


def test_from_dataset_errors(tiny_prompt_db: PromptDatabase) -> None:
    """A dataset without ``n_draws`` or with cells out of order is refused."""
    ds = tiny_prompt_db.to_dataset()
    with pytest.raises(PromptDatabaseError, match=r"lacks the variable `n_draws`"):
        PromptDatabase.from_dataset(ds.drop_vars("n_draws"))
    with pytest.raises(PromptDatabaseError, match=r"must list the context cells"):
        PromptDatabase.from_dataset(ds.isel(cell=slice(None, None, -1)))


def test_load_errors(tmp_path) -> None:
    """Unknown extensions, missing files and corrupt NetCDF give one-line errors."""
    with pytest.raises(PromptDatabaseError, match=r"extension '.xlsx'; use one of"):
        load_prompt_database(tmp_path / "db.xlsx")
    with pytest.raises(PromptDatabaseError, match=r"does not exist; check the path"):
        load_prompt_database(tmp_path / "missing.nc")
    corrupt = tmp_path / "corrupt.nc"
    corrupt.write_text("not a netcdf file")
    with pytest.raises(PromptDatabaseError, match=r"cannot read .*corrupt.nc' as NetCDF") as info:
        load_prompt_database(corrupt)
    assert "\n" not in str(info.value)
