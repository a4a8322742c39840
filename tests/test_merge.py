"""`lewm merge`: shards of one collection merge into exactly the file one collection writes;
incompatible or overlapping shards are refused with a message naming the problem."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from lewm.cli import main
from lewm.data.collect import collect
from lewm.data.merge import merge
from lewm.data.schema import DatasetError, DatasetMeta
from lewm.data.store import EpisodeStore
from lewm.data.writer import write_episodes

KW = dict(image_size=16, policy="expert", workers=1, progress=False, max_steps=30)


def _collect(path, episodes, seed=3, offset=0, **kw):
    return collect("tworoom", path, episodes=episodes, seed=seed, episode_offset=offset,
                   **{**KW, **kw})  # fmt: skip


def _content(path):
    """Every dataset and attribute of an episode file (metadata parsed, provenance dropped)."""
    with h5py.File(path, "r") as f:
        data = {k: f[k][()] for k in f}
        meta = json.loads(f.attrs["lewm_meta"])
        split = np.asarray(f.attrs["lewm_split"])
    meta["extra"].pop("merged_from", None)
    return data, meta, split


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("merge")
    whole = _collect(d / "whole.h5", 6)
    a = _collect(d / "a.h5", 3, offset=0)
    b = _collect(d / "b.h5", 2, offset=3)
    c = _collect(d / "c.h5", 1, offset=5)
    return d, whole, [a, b, c]


def test_merged_shards_equal_one_collection(shards):
    d, whole, parts = shards
    out = d / "merged.h5"
    meta = merge(parts[::-1], out)  # the command-line order does not matter
    data, m_meta, m_split = _content(out)
    ref_data, ref_meta, ref_split = _content(whole)
    assert sorted(data) == sorted(ref_data)
    for k in ref_data:
        np.testing.assert_array_equal(data[k], ref_data[k], err_msg=k)
    np.testing.assert_array_equal(m_split, ref_split)
    assert m_meta == ref_meta  # split seed, action statistics, collection record, counts
    assert [s["file"] for s in meta.extra["merged_from"]] == ["a.h5", "b.h5", "c.h5"]
    with EpisodeStore(out) as s:
        assert s.num_episodes == 6 and len(s.episodes("train")) == 4


def test_merged_file_can_be_extended_like_a_collection(shards, tmp_path):
    d, _, parts = shards
    out = tmp_path / "m.h5"
    merge(parts[:2], out)  # episodes 0..4
    _collect(out, 6, resume=True)  # adds episode 5
    data, meta, split = _content(out)
    ref_data, ref_meta, ref_split = _content(d / "whole.h5")
    for k in ref_data:
        np.testing.assert_array_equal(data[k], ref_data[k], err_msg=k)
    np.testing.assert_array_equal(split, ref_split)


def test_shards_of_different_seeds_merge_with_fresh_split_and_stats(shards, tmp_path):
    d, _, parts = shards
    other = _collect(tmp_path / "seed9.h5", 2, seed=9)
    out = tmp_path / "mixed.h5"
    rc = main(["merge", str(other), str(parts[0]), "--out", str(out)])
    assert rc == 0
    with EpisodeStore(out) as s:
        assert s.num_episodes == 5
        np.testing.assert_array_equal(np.unique(s.column("ep_idx")[()]), np.arange(5))
        assert "collection" not in s.meta.extra and s.meta.seed is None
        train = s.episodes("train")
        rows = np.concatenate([np.arange(o, o + n) for o, n in zip(s.ep_offset[train],
                                                                     s.ep_len[train])])  # fmt: skip
        act = s.column("action")[()][rows]
        act = act[~np.isnan(act).any(axis=1)]
        np.testing.assert_allclose(s.action_mean, act.mean(0), rtol=1e-5, atol=1e-6)
    with EpisodeStore(parts[0]) as s0, EpisodeStore(out) as s:  # seed 3 sorts before seed 9
        np.testing.assert_array_equal(s.episode(0)["pixels"], s0.episode(0)["pixels"])


def test_incompatible_or_overlapping_shards_are_refused(shards, tmp_path):
    d, whole, parts = shards
    big = _collect(tmp_path / "big.h5", 1, offset=7, image_size=24)
    with pytest.raises(DatasetError, match="image_size"):
        merge([parts[0], big], tmp_path / "x.h5")
    with pytest.raises(DatasetError, match="same episodes"):
        merge([whole, parts[1]], tmp_path / "x.h5")
    plain = tmp_path / "plain.h5"
    with EpisodeStore(parts[0]) as s:
        write_episodes(plain, [s.episode(0)], DatasetMeta(env_id=s.meta.env_id))
    with pytest.raises(DatasetError, match="not written by `lewm collect`"):
        merge([parts[0], plain], tmp_path / "x.h5")
    with pytest.raises(DatasetError, match="exists"):
        merge(parts, whole)
    assert not (tmp_path / "x.h5").exists()
    assert main(["merge", str(parts[0]), str(big), "--out", str(tmp_path / "y.h5")]) == 2
