"""Tests of the generator-database container and its NetCDF form."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

from gambitts.design.contexts import PAPER_CONTEXTS, ContextSpace, ContextVariable
from gambitts.design.promptdb import (
    MAX_ABS_SCORE,
    PromptDatabase,
    PromptDatabaseError,
    load_prompt_database,
)

CELL_CURR_LOC = PAPER_CONTEXTS.cell_level_labels("curr_loc")
CELL_PREV_STEPS = [int(s) for s in PAPER_CONTEXTS.cell_level_labels("prev_steps")]


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
    assert list(ds["cell"].values) == list(PAPER_CONTEXTS.cell_labels)
    assert list(ds["curr_loc"].values) == list(CELL_CURR_LOC)
    assert list(ds["prev_steps"].values) == ["1", "2", "3", "4"] * 3
    assert list(ds["prompt"].values) == list(tiny_prompt_db.prompts)
    assert list(ds["dim"].values) == ["optimism", "formality"]
    assert ds.attrs == {
        "source": "tiny test database",
        "seed": 7,
        "context_space": PAPER_CONTEXTS.to_json(),
    }
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


def _fractional_draws(db: PromptDatabase) -> dict:
    """Store ``n_draws`` as float with one fractional count (it used to be truncated)."""
    n_draws = db.n_draws.astype(float)
    n_draws[1, 5] = 2.7
    return _with(db, n_draws=n_draws)


def _nan_draws(db: PromptDatabase) -> dict:
    """Store ``n_draws`` as float with a NaN (it used to become a huge negative count)."""
    n_draws = db.n_draws.astype(float)
    n_draws[2, 0] = np.nan
    return _with(db, n_draws=n_draws)


def _huge_score(db: PromptDatabase, value: float = 1e150) -> dict:
    """Put a score whose square overflows when summed into a valid draw."""
    z = db.z.copy()
    z[1, 5, 0, 1] = value
    return _with(db, z=z)


INVALID = {
    "z-3-axes": (lambda db: _with(db, z=db.z[..., 0]), r"`z` must have 4 axes"),
    "z-11-cells": (
        lambda db: _with(db, z=db.z[:, :11], n_draws=db.n_draws[:, :11]),
        r"the 12 context cells of its context space on axis 1",
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
    "attrs-long-array": (
        lambda db: _with(db, attrs={"history": np.arange(500)}),
        r"got 'history': array\(\[ ?0, 1, 2, .*\.\.\.; convert the value",
    ),
    "n_draws-fraction": (
        _fractional_draws,
        r"`n_draws` must be whole numbers, got 2.7 for prompt 'less humor', cell work/2",
    ),
    "n_draws-nan": (_nan_draws, r"whole numbers, got nan for prompt 'more optimism', cell home/1"),
    "n_draws-bool": (
        lambda db: _with(db, n_draws=db.n_draws > 0),
        r"`n_draws` must hold real numbers \(int or float\), got dtype bool",
    ),
    "z-text": (
        lambda db: _with(db, z=db.z.astype(str)),
        r"`z` must hold real numbers \(int or float\), got dtype <U\d+ such as '",
    ),
    "z-bool": (lambda db: _with(db, z=db.z > 0), r"`z` must hold real numbers .*dtype bool"),
    "z-complex": (lambda db: _with(db, z=db.z + 0j), r"`z` must hold real .*dtype complex128"),
    "z-ragged": (
        lambda db: _with(db, z=[[1.0], [1.0, 2.0]]),
        r"`z` must be a rectangular numeric array, got \[\[1.0\], \[1.0, 2.0\]\]",
    ),
    "score-too-large": (
        _huge_score,
        r"`z` has the score 1e\+150 on dimension 'formality' in draw 0 of prompt 'less humor', "
        r"cell work/2; scores must be at most 1e\+100 in magnitude",
    ),
    "score-too-negative": (
        lambda db: _huge_score(db, -2e100),
        r"`z` has the score -2e\+100 on dimension 'formality'",
    ),
    "prompts-single-string": (
        lambda db: _with(db, prompts="abc"),
        r"`prompts` must be a sequence of names, got the single string 'abc'",
    ),
    "blank-dim": (
        lambda db: _with(db, dims=("optimism", " ")),
        r"`dims` must not be empty or blank, got ' '",
    ),
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


def test_limits_are_inclusive(tiny_prompt_db: PromptDatabase) -> None:
    """A score of exactly MAX_ABS_SCORE and whole-valued float counts are accepted as given."""
    db = PromptDatabase(
        **_huge_score(tiny_prompt_db, -MAX_ABS_SCORE)
        | {"n_draws": tiny_prompt_db.n_draws.astype(float)}
    )
    assert db.z[1, 5, 0, 1] == -1e100
    assert db.n_draws.dtype == np.int64
    np.testing.assert_array_equal(db.n_draws, tiny_prompt_db.n_draws)


def test_sums_of_squares_stay_finite_at_the_bound() -> None:
    """Squares at the bound stay finite summed over any study; squares of 1e150 do not."""
    assert np.isfinite(np.sum(np.full(10**6, MAX_ABS_SCORE) ** 2))
    assert np.isfinite(MAX_ABS_SCORE**2 * 1e100)  # even 1e100 rounds
    with np.errstate(over="ignore"):
        assert np.isinf(np.float64(1e150) ** 2 * 2e8)  # 2e8 rounds (or a weight) overflow


def _saved(ds: xr.Dataset, path) -> object:
    """Write ``ds`` to NetCDF as a foreign tool would and return the path."""
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def _float_counts(ds: xr.Dataset, value: float) -> xr.Dataset:
    """Store ``n_draws`` as float with ``value`` in prompt 1, cell work/2."""
    ds = ds.copy()
    ds["n_draws"] = ds["n_draws"].astype(float)
    ds["n_draws"][1, 5] = value
    return ds


def _huge_score_dataset(ds: xr.Dataset) -> xr.Dataset:
    """Put 1e150 into a valid draw of the dataset's ``z``."""
    ds = ds.copy(deep=True)
    ds["z"][0, 0, 0, 0] = 1e150
    return ds


BAD_NETCDF = {
    "fractional-n_draws": (
        lambda ds: _float_counts(ds, 30.7),
        r"`n_draws` must be whole numbers, got 30.7 for prompt 'less humor', cell work/2",
    ),
    "huge-score": (
        _huge_score_dataset,
        r"`z` has the score 1e\+150 on dimension 'optimism' in draw 0 of prompt 'more humor', "
        r"cell home/1; scores must be at most 1e\+100",
    ),
    "numeric-prompts": (
        lambda ds: ds.assign_coords(prompt=[1, 2, 3]),
        r"coordinate `prompt` must hold text labels, got int 1 \(dtype int64\)",
    ),
    "float-prompts": (
        lambda ds: ds.assign_coords(prompt=[0.5, 1.0, 1.5]),
        r"coordinate `prompt` must hold text labels, got float 0.5",
    ),
    "numeric-dims": (
        lambda ds: ds.assign_coords(dim=[0, 1]),
        r"coordinate `dim` must hold text labels, got int 0",
    ),
    "no-prompt-coordinate": (
        lambda ds: ds.drop_vars("prompt"),
        r"dataset lacks the coordinate `prompt` \(the prompt labels\)",
    ),
    "no-dim-coordinate": (lambda ds: ds.drop_vars("dim"), r"lacks the coordinate `dim`"),
    "extra-z-dimension": (
        lambda ds: ds.assign(z=ds["z"].expand_dims(model=2).copy()),
        r"variable `z` has the extra dimension\(s\) \['model'\]",
    ),
    "extra-n_draws-dimension": (
        lambda ds: ds.assign(n_draws=ds["n_draws"].expand_dims(model=2).copy()),
        r"variable `n_draws` has the extra dimension\(s\) \['model'\]",
    ),
    "n_draws-other-dims": (
        lambda ds: ds.assign(n_draws=(("a", "b"), ds["n_draws"].values)),
        r"variable `n_draws` lacks the dimension\(s\) \['prompt', 'cell'\]",
    ),
    "text-n_draws": (
        lambda ds: ds.assign(n_draws=ds["n_draws"].astype(str)),
        r"`n_draws` must hold real numbers \(int or float\), got dtype <U1 such as '4'",
    ),
    "scrambled-curr_loc": (
        lambda ds: ds.assign_coords(curr_loc=("cell", list(reversed(CELL_CURR_LOC)))),
        r"coordinate `curr_loc` contradicts the cell labels: it must be \['home', ",
    ),
    "scrambled-prev_steps": (
        lambda ds: ds.assign_coords(
            prev_steps=(
                "cell",
                np.roll(CELL_PREV_STEPS, 1),
            )
        ),
        r"coordinate `prev_steps` contradicts the cell labels: .*got \['4', '1', '2', '3', '4',",
    ),
    "array-attribute": (
        lambda ds: ds.assign_attrs(history=np.arange(300)),
        r"`attrs` must map str to str, int or float .*'history': array\(",
    ),
}


@pytest.mark.parametrize(("change", "message"), BAD_NETCDF.values(), ids=BAD_NETCDF.keys())
def test_netcdf_hostile_files(tiny_prompt_db, tmp_path, change, message) -> None:
    """A NetCDF file that is not read exactly as written gives a one-line error instead."""
    path = _saved(change(tiny_prompt_db.to_dataset()), tmp_path / "db.nc")
    with pytest.raises(PromptDatabaseError, match=message) as info:
        load_prompt_database(path)
    assert "\n" not in str(info.value)


def test_netcdf_labels_are_read_as_written(tiny_prompt_db, tmp_path) -> None:
    """Numeric-looking prompt names stay distinct; NetCDF byte-string labels are decoded."""
    ds = tiny_prompt_db.to_dataset().assign_coords(prompt=["1", "01", "1.0"])
    assert load_prompt_database(_saved(ds, tmp_path / "text.nc")).prompts == ("1", "01", "1.0")
    as_bytes = {name: np.char.encode(ds[name].values.astype(str)) for name in ("prompt", "dim")}
    db = load_prompt_database(_saved(ds.assign_coords(as_bytes), tmp_path / "bytes.nc"))
    assert (db.prompts, db.dims) == (("1", "01", "1.0"), ("optimism", "formality"))


def test_foreign_hdf5_file(tmp_path) -> None:
    """A plain HDF5 file (not NetCDF) is refused in one line, without a warning."""
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "foreign.nc"
    with h5py.File(path, "w") as handle:
        handle["z"] = np.zeros((2, 12, 3, 2))
    with pytest.raises(PromptDatabaseError, match=r"lacks the variable `n_draws`") as info:
        load_prompt_database(path)  # warnings are errors in this suite
    assert "\n" not in str(info.value)


def test_load_refuses_a_directory(tmp_path) -> None:
    """A directory with a database's extension is named as such."""
    (tmp_path / "db.nc").mkdir()
    with pytest.raises(PromptDatabaseError, match=r"db.nc' is a directory; give a file"):
        load_prompt_database(tmp_path / "db.nc")


# -- reading options of load_prompt_database ------------------------------------------------

OWN_CONTEXTS = ContextSpace(
    (
        ContextVariable("time_of_day", ("morning", "evening")),
        ContextVariable("day", ("weekday", "weekend")),
        ContextVariable("sleep", ("short", "ok", "long"), values=(5.5, 7.0, 8.5)),
    )
)


@pytest.fixture
def own_db() -> PromptDatabase:
    """Return a database of a 3-variable space (12 cells) with message texts."""
    rng = np.random.default_rng(np.random.SeedSequence(5))
    n_draws = rng.integers(1, 4, size=(2, OWN_CONTEXTS.n_cells))
    valid = np.arange(3) < n_draws[..., None]
    z = np.full((2, OWN_CONTEXTS.n_cells, 3, 2), np.nan)
    z[valid] = rng.normal(size=(int(valid.sum()), 2))
    messages = np.full(valid.shape, "", dtype=object)
    messages[valid] = [f"message {i}, with a comma" for i in range(int(valid.sum()))]
    return PromptDatabase(
        z=z,
        n_draws=n_draws,
        prompts=("warm", "brief"),
        dims=("warmth", "urgency"),
        contexts=OWN_CONTEXTS,
        messages=messages,
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_load_passes_the_reading_options(own_db, tmp_path, suffix: str) -> None:
    """`contexts`, `context_columns` and `message_column` reach the long-format reader."""
    from gambitts.design.longformat import to_long_frame

    frame = to_long_frame(own_db).rename(columns={"message": "body"})
    path = tmp_path / f"own{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    declared = load_prompt_database(path, contexts=OWN_CONTEXTS, message_column="body")
    assert declared.contexts == OWN_CONTEXTS
    np.testing.assert_array_equal(declared.messages, own_db.messages.astype(str))
    np.testing.assert_array_equal(declared.z, own_db.z)
    inferred = load_prompt_database(
        path, context_columns=["time_of_day", "day", "sleep"], message_column="body"
    )
    assert inferred.contexts.variable("sleep").levels == ("long", "ok", "short")
    assert inferred.contexts.variable("sleep").values is None
    with pytest.raises(PromptDatabaseError, match=r"column 'body' holds text"):
        load_prompt_database(path, contexts=OWN_CONTEXTS)


def test_own_space_and_messages_round_trip_through_netcdf(own_db, tmp_path) -> None:
    """Saved and loaded, an own database keeps its context space and messages."""
    own_db.save(tmp_path / "own.nc")
    back = load_prompt_database(tmp_path / "own.nc")
    assert back.contexts == OWN_CONTEXTS
    np.testing.assert_array_equal(back.messages, own_db.messages)
    with xr.open_dataset(tmp_path / "own.nc", engine="h5netcdf") as ds:
        morning = ds.set_xindex("time_of_day").sel(time_of_day="morning")
        assert list(morning["sleep"].values) == ["short", "ok", "long"] * 2


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"contexts": OWN_CONTEXTS}, r"--contexts \(`contexts`\)"),
        ({"context_columns": ["day"]}, r"--context \(`context_columns`\)"),
        ({"message_column": "message"}, r"--message-column \(`message_column`\)"),
    ],
    ids=["contexts", "context_columns", "message_column"],
)
def test_netcdf_refuses_reading_options(own_db, tmp_path, options, named) -> None:
    """A NetCDF file carries its own space and messages: reading options are errors, not ignored."""
    own_db.save(tmp_path / "own.nc")
    with pytest.raises(
        PromptDatabaseError, match=rf"is NetCDF, which carries its own .*{named}"
    ) as info:
        load_prompt_database(tmp_path / "own.nc", **options)
    assert "\n" not in str(info.value)
