"""Episode store: round trip, reference-layout files, and clear errors for bad files."""

from __future__ import annotations

import logging
import pickle
import shutil

import h5py
import numpy as np
import pytest

from lewm.data import DatasetMeta, EpisodeStore, summarize, write_episodes
from lewm.data.schema import DatasetError, action_stats, make_split


def make_episodes(lengths, image_size=8, action_dim=2, state_dim=3, seed=0):
    """Synthetic episodes; pixel channel 0 = episode index, channel 1 = step index."""
    rng = np.random.default_rng(seed)
    eps = []
    for i, n in enumerate(lengths):
        px = np.zeros((n, image_size, image_size, 3), dtype=np.uint8)
        px[..., 0] = i
        px[..., 1] = np.arange(n)[:, None, None]
        act = rng.normal(0.3, 2.0, size=(n, action_dim)).astype(np.float32)
        act[-1] = np.nan
        eps.append(
            {
                "pixels": px,
                "action": act,
                "proprio": rng.normal(size=(n, 2)).astype(np.float32),
                "state": rng.normal(size=(n, state_dim)).astype(np.float32),
                "ep_idx": np.full(n, i, dtype=np.int64),
                "step_idx": np.arange(n, dtype=np.int64),
            }
        )
    return eps


def write_reference_file(path, episodes, strings=True):
    """Write `episodes` exactly as stable-worldmodel's HDF5Writer does (formats/hdf5.py):
    libver='latest', one resizable dataset per column with chunks (1, *shape), ep_len int32 and
    ep_offset int64 grown by one per episode, no attributes."""
    with h5py.File(path, "w", libver="latest") as f:
        first = episodes[0]
        for col, vals in first.items():
            sample = np.asarray(vals[0])
            f.create_dataset(
                col,
                shape=(0, *sample.shape),
                maxshape=(None, *sample.shape),
                dtype=sample.dtype,
                chunks=(1, *sample.shape),
            )
        if strings:
            f.create_dataset(
                "id", shape=(0,), maxshape=(None,), dtype=h5py.string_dtype(), chunks=(1,)
            )
        f.create_dataset("ep_len", shape=(0,), maxshape=(None,), dtype=np.int32)
        f.create_dataset("ep_offset", shape=(0,), maxshape=(None,), dtype=np.int64)
        ptr = 0
        for ep in episodes:
            n = len(ep["pixels"])
            cols = dict(ep)
            if strings:
                cols["id"] = np.array([f"env-{i}" for i in range(n)], dtype=object)
            for col, vals in cols.items():
                f[col].resize(ptr + n, axis=0)
                f[col][ptr : ptr + n] = vals
            k = f["ep_len"].shape[0]
            f["ep_len"].resize(k + 1, axis=0)
            f["ep_len"][k] = n
            f["ep_offset"].resize(k + 1, axis=0)
            f["ep_offset"][k] = ptr
            ptr += n


@pytest.fixture
def episodes():
    return make_episodes([12, 30, 7, 25, 18, 40, 22, 9, 15, 33])


@pytest.fixture
def lewm_file(tmp_path, episodes):
    path = tmp_path / "d.h5"
    meta = DatasetMeta(
        env_id="lewm/Test-v0",
        env_version=3,
        policy="expert",
        seed=7,
        split_seed=7,
        state_names=("a", "b", "c"),
        action_low=(-1.0, -1.0),
        action_high=(1.0, 1.0),
    )
    write_episodes(path, episodes, meta)
    return path


def test_round_trip(lewm_file, episodes):
    with EpisodeStore(lewm_file) as s:
        assert s.num_episodes == len(episodes)
        assert list(s.ep_len) == [len(e["pixels"]) for e in episodes]
        assert s.ep_offset[0] == 0 and s.num_steps == sum(s.ep_len)
        assert s.meta.env_id == "lewm/Test-v0" and s.meta.env_version == 3
        assert s.meta.state_names == ("a", "b", "c") and s.meta.source == "lewm"
        assert s.meta.image_size == 8 and s.meta.action_dim == 2
        for i, ep in enumerate(episodes):
            got = s.episode(i)
            for k, v in ep.items():
                np.testing.assert_array_equal(got[k], v)
        # alias of the contract's name for the reference's `ep_idx`
        np.testing.assert_array_equal(s.column("episode_idx")[:], s.column("ep_idx")[:])
        lazy = {c: np.asarray(s.column(c)[()]) for c in s.columns}
        s.load_into_memory()
        for c in s.columns:
            assert isinstance(s.column(c), np.ndarray)
            np.testing.assert_array_equal(s.column(c), lazy[c])


def test_split_is_disjoint_and_stats_are_train_only(lewm_file):
    with EpisodeStore(lewm_file) as s:
        tr, va, te = s.episodes("train"), s.episodes("val"), s.episodes("test")
        assert len(va) >= 1 and len(te) >= 1
        assert not set(tr) & set(va) and not set(tr) & set(te) and not set(va) & set(te)
        assert sorted([*tr, *va, *te]) == list(range(s.num_episodes))
        np.testing.assert_array_equal(s.split_codes, make_split(s.num_episodes, 7))
        act = s.column("action")[()]
        rows = np.concatenate([np.arange(s.ep_offset[e], s.ep_offset[e] + s.ep_len[e]) for e in tr])
        a = act[rows].astype(np.float64)
        a = a[~np.isnan(a).any(1)]
        np.testing.assert_allclose(s.action_mean, a.mean(0), rtol=1e-5)
        np.testing.assert_allclose(s.action_std, a.std(0), rtol=1e-5)
        with pytest.raises(ValueError, match="split"):
            s.episodes("holdout")


def test_make_split_properties():
    for n in (1, 2, 3, 10, 101, 1000):
        c = make_split(n, 3)
        assert len(c) == n and (c <= 2).all()
        if n >= 3:
            assert (c == 1).sum() >= 1 and (c == 2).sum() >= 1 and (c == 0).sum() >= 1
    c = make_split(1000, 3)
    assert (c == 1).sum() == 50 and (c == 2).sum() == 50
    np.testing.assert_array_equal(c, make_split(1000, 3))
    assert not np.array_equal(c, make_split(1000, 4))


def test_action_stats_constant_dim():
    act = np.array([[1.0, 2.0], [1.0, 4.0], [np.nan, np.nan]], dtype=np.float32)
    mean, std = action_stats(act, np.array([3]), np.array([0]), np.array([0]))
    np.testing.assert_allclose(mean, [1.0, 3.0])
    np.testing.assert_allclose(std, [1.0, 1.0])  # constant dim -> std 1


def test_reads_reference_layout(tmp_path, episodes, caplog):
    path = tmp_path / "ref.h5"
    write_reference_file(path, episodes)
    with caplog.at_level(logging.WARNING, logger="lewm.data.store"):
        s = EpisodeStore(path)
    assert "no 'lewm_meta'" in caplog.text
    assert s.meta.source == "derived"
    assert s.num_episodes == len(episodes) and "id" in s.columns
    assert s.meta.action_dim == 2 and s.meta.image_size == 8
    np.testing.assert_array_equal(s.episode(3)["pixels"], episodes[3]["pixels"])
    # derived split is deterministic and disjoint; stats come from its train episodes
    s2 = EpisodeStore(path)
    np.testing.assert_array_equal(s.split_codes, s2.split_codes)
    tr = s.episodes("train")
    mean, std = action_stats(s.column("action")[()], s.ep_len, s.ep_offset, tr)
    np.testing.assert_allclose(s.action_mean, mean, rtol=1e-6)
    np.testing.assert_allclose(s.action_std, std, rtol=1e-6)
    assert "reference layout" in summarize(path)


def test_reference_reader_logic_reads_our_file(lewm_file, episodes):
    """Mirror of stable-worldmodel's HDF5Dataset: SWMR read, every root dataset except
    ep_len/ep_offset is a per-step column sliced by global row."""
    with h5py.File(lewm_file, "r", swmr=True) as f:
        lengths, offsets = f["ep_len"][:], f["ep_offset"][:]
        keys = [k for k in f.keys() if k not in ("ep_len", "ep_offset")]
        assert set(keys) == set(episodes[0])
        for ep_i in (0, 4, 9):
            g0, g1 = offsets[ep_i], offsets[ep_i] + lengths[ep_i]
            for col in keys:
                np.testing.assert_array_equal(f[col][g0:g1], episodes[ep_i][col])


def test_reference_writer_can_append_to_our_file(lewm_file, episodes):
    """The reference HDF5Writer appends by resizing every column and ep_len/ep_offset."""
    with h5py.File(lewm_file, "a") as f:
        ep = episodes[0]
        ptr = int(f["ep_len"][:].sum())
        n = len(ep["pixels"])
        for col, vals in ep.items():
            f[col].resize(ptr + n, axis=0)
            f[col][ptr:] = vals
        for name, val in (("ep_len", n), ("ep_offset", ptr)):
            k = f[name].shape[0]
            f[name].resize(k + 1, axis=0)
            f[name][k] = val
    with pytest.raises(DatasetError, match="lewm_split"):
        EpisodeStore(lewm_file)  # our split no longer covers every episode: said, not guessed


def _corrupt(path, fn):
    with h5py.File(path, "a") as f:
        fn(f)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: f.__delitem__("ep_len"), "missing dataset"),
        (lambda f: f.__delitem__("ep_offset"), "missing dataset"),
        (lambda f: f.__delitem__("pixels"), "missing dataset"),
        (lambda f: f["ep_offset"].__setitem__(3, 5), "running sum"),
        (lambda f: f["ep_len"].__setitem__(2, 8), "running sum"),
        (lambda f: f["ep_len"].__setitem__(-1, 34), "sum of ep_len"),
        (lambda f: f["proprio"].resize(f["proprio"].shape[0] - 1, axis=0), "different lengths"),
        (lambda f: f["ep_len"].resize(9, axis=0), "entries"),
    ],
)
def test_inconsistent_files_raise(lewm_file, mutate, message):
    _corrupt(lewm_file, mutate)
    with pytest.raises(DatasetError, match=message) as exc:
        EpisodeStore(lewm_file)
    assert str(lewm_file) in str(exc.value)


def test_trailing_rows_raise(lewm_file):
    # e.g. a writer killed after growing the columns but before recording the episode
    def grow(f):
        for k in f:
            if k not in ("ep_len", "ep_offset"):
                f[k].resize(f[k].shape[0] + 5, axis=0)

    _corrupt(lewm_file, grow)
    with pytest.raises(DatasetError, match="sum of ep_len"):
        EpisodeStore(lewm_file)


def test_not_hdf5_and_truncated(tmp_path, lewm_file):
    txt = tmp_path / "x.h5"
    txt.write_text("hello, not hdf5")
    with pytest.raises(DatasetError, match="not an HDF5 file") as exc:
        EpisodeStore(txt)
    assert str(txt) in str(exc.value)
    with pytest.raises(DatasetError, match="no such file"):
        EpisodeStore(tmp_path / "missing.h5")
    cut = tmp_path / "cut.h5"
    data = lewm_file.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="cut.h5"):
        s = EpisodeStore(cut)
        s.load_into_memory()


def test_pickle_and_summary(lewm_file):
    s = EpisodeStore(lewm_file)
    s2 = pickle.loads(pickle.dumps(s))
    np.testing.assert_array_equal(s2.column("pixels")[:5], s.column("pixels")[:5])
    text = summarize(lewm_file)
    for needle in (
        "episodes        10",
        "lewm/Test-v0",
        "expert",
        "split",
        "action mean",
        "lewm v1",
        "episode length",
    ):
        assert needle in text


def test_newer_format_version_is_refused(tmp_path, lewm_file):
    path = tmp_path / "new.h5"
    shutil.copy(lewm_file, path)
    with h5py.File(path, "a") as f:
        f.attrs["lewm_meta"] = f.attrs["lewm_meta"].replace(
            '"format_version": 1', '"format_version": 99'
        )
    with pytest.raises(DatasetError, match="newer"):
        EpisodeStore(path)


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_action_is_refused_on_open_naming_the_rows(lewm_file, bad):
    # episodes of length 12 and 30: row 12 + 4 is episode 1, step 4; row 45 is episode 2, step 3
    _corrupt(lewm_file, lambda f: f["action"].__setitem__((16, 1), bad))
    _corrupt(lewm_file, lambda f: f["action"].__setitem__((45, 0), bad))
    with pytest.raises(DatasetError) as exc:
        EpisodeStore(lewm_file)
    msg = str(exc.value)
    assert str(lewm_file) in msg and "'action'" in msg and "2 row(s)" in msg
    assert "row 16 (episode 1, step 4)" in msg and "row 45 (episode 2, step 3)" in msg
    assert "inf" in msg


def test_nan_action_is_allowed_only_at_an_episode_end(tmp_path, episodes):
    path = tmp_path / "ref.h5"
    write_reference_file(path, episodes)  # every episode ends in a NaN action: accepted
    with EpisodeStore(path) as s:
        assert np.isnan(s.column("action")[11]).all() and s.num_episodes == len(episodes)
    _corrupt(path, lambda f: f["action"].__setitem__((3, 0), np.nan))  # mid-episode NaN
    with pytest.raises(DatasetError, match=r"'action'.*row 3 \(episode 0, step 3\)"):
        EpisodeStore(path)


def test_info_on_an_infinite_action_prints_one_line(lewm_file, capsys):
    from lewm.cli import main

    _corrupt(lewm_file, lambda f: f["action"].__setitem__((0, 0), np.inf))
    assert main(["info", str(lewm_file)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'action'" in err and "row 0 (episode 0, step 0)" in err
