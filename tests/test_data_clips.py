"""Clip dataset: clips stay inside one episode, action blocks are the z-scored raw actions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lewm.data import ClipDataset, DatasetMeta, EpisodeStore, write_episodes
from lewm.data.clips import clip_starts
from lewm.data.schema import DatasetError

LENGTHS = [12, 30, 7, 25, 20, 41, 22, 9, 15, 33, 21, 26]


def _episodes(lengths, with_state=True):
    rng = np.random.default_rng(1)
    eps = []
    for i, n in enumerate(lengths):
        px = np.zeros((n, 6, 6, 3), dtype=np.uint8)
        px[..., 0] = i  # episode index
        px[..., 1] = np.arange(n)[:, None, None]  # step index
        act = rng.normal(0.5, 3.0, size=(n, 2)).astype(np.float32)
        act[-1] = np.nan
        ep = {
            "pixels": px,
            "action": act,
            "ep_idx": np.full(n, i, dtype=np.int64),
            "step_idx": np.arange(n, dtype=np.int64),
        }
        if with_state:
            ep["state"] = np.stack([np.full(n, i), np.arange(n), np.zeros(n)], 1).astype(np.float32)
        eps.append(ep)
    return eps


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "clips.h5"
    write_episodes(p, _episodes(LENGTHS), DatasetMeta(split_seed=5))
    return p


@pytest.mark.parametrize("stride", [1, 3])
def test_clips_never_cross_episodes(path, stride):
    T, f = 4, 5
    ds = ClipDataset(path, "all", num_frames=T, frameskip=f, stride=stride)
    lens = np.array(LENGTHS)
    assert len(ds) == sum(max(0, (n - T * f) // stride + 1) for n in lens)
    seen = set()
    for i in range(len(ds)):
        px = ds[i]["pixels"].numpy()
        ep, t = ds.clip_info(i)
        assert (px[..., 0] == ep).all()  # every frame from the same episode
        np.testing.assert_array_equal(px[:, 0, 0, 1], t + f * np.arange(T))
        assert t % stride == 0 and t + T * f <= lens[ep]
        seen.add((ep, t))
    assert len(seen) == len(ds)
    assert 2 not in {e for e, _ in seen} and 7 not in {e for e, _ in seen}  # shorter than span


def test_action_blocks_are_zscored_raw_actions(path):
    T, f = 3, 4
    store = EpisodeStore(path)
    ds = ClipDataset(store, "train", num_frames=T, frameskip=f)
    raw = store.column("action")[()]
    mean, std = store.action_mean, store.action_std
    for i in range(0, len(ds), 7):
        ep, t = ds.clip_info(i)
        start = store.ep_offset[ep] + t
        expect = (raw[start : start + T * f] - mean) / std
        expect = np.nan_to_num(expect, nan=0.0).reshape(T, f * 2)
        np.testing.assert_allclose(ds[i]["actions"].numpy(), expect, rtol=1e-6, atol=1e-6)
        # block k starts with the action leaving frame k
        np.testing.assert_allclose(
            ds[i]["actions"][:, :2].numpy(),
            np.nan_to_num((raw[start + f * np.arange(T)] - mean) / std),
            rtol=1e-6,
            atol=1e-6,
        )
    # a clip ending at the episode end sees the final NaN action as 0
    last = [
        i for i in range(len(ds)) if ds.clip_info(i)[1] + T * f == store.ep_len[ds.clip_info(i)[0]]
    ]
    assert last and all((ds[i]["actions"][-1, -2:] == 0).all() for i in last)
    assert all(torch.isfinite(ds[i]["actions"]).all() for i in range(len(ds)))


def test_split_restriction_and_disjointness(path):
    store = EpisodeStore(path)
    eps = {
        s: set(ClipDataset(store, s, 2, 2).clip_episode.tolist()) for s in ("train", "val", "test")
    }
    for s in eps:
        assert eps[s] <= set(store.episodes(s).tolist())
    assert not eps["train"] & eps["val"] and not eps["train"] & eps["test"]
    assert not eps["val"] & eps["test"]


def test_get_batch_matches_items_and_lazy_mode(path):
    ds = ClipDataset(path, "train", 4, 5, with_state=True)
    lazy = ClipDataset(path, "train", 4, 5, with_state=True, in_memory=False)
    idx = np.array([0, 5, len(ds) - 1, 3, 5])
    batch = ds.get_batch(idx)
    assert batch["pixels"].shape == (5, 4, 6, 6, 3) and batch["pixels"].dtype == torch.uint8
    assert batch["actions"].shape == (5, 4, 10) and batch["actions"].dtype == torch.float32
    assert batch["state"].shape == (5, 4, 3)
    for k in batch:
        stacked = torch.stack([ds[int(i)][k] for i in idx])
        torch.testing.assert_close(batch[k], stacked)
        torch.testing.assert_close(lazy.get_batch(idx)[k], stacked)
    # state rows belong to the same frames as the pixels
    np.testing.assert_array_equal(
        batch["state"][..., 1].numpy(), batch["pixels"][..., 0, 0, 1].numpy()
    )
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_dataloader_collates(path):
    ds = ClipDataset(path, "train", 4, 5)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    b = next(iter(loader))
    assert b["pixels"].shape == (8, 4, 6, 6, 3) and b["actions"].shape == (8, 4, 10)


def test_with_state_needs_state_column(tmp_path):
    p = tmp_path / "nostate.h5"
    write_episodes(p, _episodes(LENGTHS, with_state=False))
    with pytest.raises(DatasetError, match="state"):
        ClipDataset(p, "train", 4, 5, with_state=True)


def test_clip_starts_vectorised_matches_loop():
    lens = np.array([1, 5, 19, 20, 21, 40, 3])
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]])
    for span, stride in ((20, 1), (20, 3), (4, 2), (1, 1)):
        ep, t = clip_starts(lens, offs, np.arange(len(lens)), span, stride)
        ref = [(e, s) for e in range(len(lens)) for s in range(0, lens[e] - span + 1, stride)]
        assert list(zip(ep.tolist(), t.tolist())) == ref


def test_in_memory_default_follows_the_store(path):
    lazy_store = EpisodeStore(path)
    ds = ClipDataset(lazy_store, "train", 4, 5)
    assert not lazy_store.in_memory("pixels") and len(ds) > 0
    assert ClipDataset(path, "train", 4, 5).store.in_memory("pixels")
    mem_store = EpisodeStore(path, in_memory=True)
    torch.testing.assert_close(
        ClipDataset(mem_store, "train", 4, 5).get_batch([0, 1]), ds.get_batch([0, 1])
    )
