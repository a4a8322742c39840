"""Collection: episode structure, determinism across worker counts, kill + resume, extend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from lewm.data import EpisodeStore
from lewm.data.collect import collect, parts_dir
from lewm.data.schema import DatasetError

pytest.importorskip("lewm.envs.tworoom")

KW = dict(image_size=16, policy="expert", seed=11, progress=False)


def _content(path):
    """Every dataset and attribute of a file, minus the worker count (which may differ)."""
    with h5py.File(path, "r") as f:
        data = {k: f[k][()] for k in f}
        meta = json.loads(f.attrs["lewm_meta"])
        meta.pop("workers")
        return data, meta, f.attrs["lewm_split"][()]


def _assert_same(a, b):
    da, ma, sa = _content(a)
    db, mb, sb = _content(b)
    assert sorted(da) == sorted(db)
    for k in da:
        np.testing.assert_array_equal(da[k], db[k], err_msg=k)
    assert ma == mb
    np.testing.assert_array_equal(sa, sb)


def test_episode_structure(tmp_path):
    from lewm.envs import make

    out = collect("tworoom", tmp_path / "d.h5", 4, workers=1, **KW)
    assert not parts_dir(out).exists()
    env = make("tworoom", image_size=16)
    with EpisodeStore(out) as s:
        assert s.meta.policy == "expert" and s.meta.env_id == env.env_id
        assert s.meta.state_names == tuple(env.state_names)
        for i in range(s.num_episodes):
            ep = s.episode(i)
            n = len(ep["pixels"])
            assert np.isnan(ep["action"][-1]).all() and np.isfinite(ep["action"][:-1]).all()
            assert (np.abs(ep["action"][:-1]) <= 1).all()
            np.testing.assert_array_equal(ep["step_idx"], np.arange(n))
            assert (ep["ep_idx"] == i).all()
            # frame t is the render of state t, and action t leads from state t to state t+1
            for t in (0, n // 2, n - 2):
                env.set_state(ep["state"][t])
                np.testing.assert_array_equal(env.render(), ep["pixels"][t])
                env.step(ep["action"][t])
                np.testing.assert_allclose(env.get_state(), ep["state"][t + 1], atol=1e-4)
            # the expert's episode ends at success or truncation
            env.set_state(ep["state"][-1])
            assert env.is_success() or n == env.max_episode_steps + 1


def test_deterministic_across_worker_counts(tmp_path):
    a = collect("tworoom", tmp_path / "w1.h5", 5, workers=1, **KW)
    b = collect("tworoom", tmp_path / "w2.h5", 5, workers=2, **KW)
    _assert_same(a, b)
    c = collect("tworoom", tmp_path / "s.h5", 5, workers=1, **{**KW, "seed": 12})
    assert not np.array_equal(_content(a)[0]["action"], _content(c)[0]["action"])


_KILLED_RUN = textwrap.dedent("""
    import sys, time
    import lewm.data.collect as c
    save = c._save_part
    def slow_save(*a):
        n = save(*a)
        time.sleep(0.3)  # slow enough for the test to kill us mid-run
        return n
    c._save_part = slow_save
    c.collect("tworoom", sys.argv[1], 8, image_size=16, policy="expert", seed=11,
              workers=1, progress=False)
""")


def test_resume_after_sigkill_equals_uninterrupted(tmp_path):
    out = tmp_path / "k.h5"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, str(out)])
    parts = parts_dir(out)
    deadline = time.time() + 60
    while time.time() < deadline:
        if parts.exists() and len(list(parts.glob("ep_*.npz"))) >= 3:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    n_done = len(list(parts.glob("ep_*.npz")))
    assert 3 <= n_done < 8
    with pytest.raises(FileExistsError, match="resume"):
        collect("tworoom", out, 8, workers=1, **KW)
    with pytest.raises(DatasetError, match="settings differ"):
        collect("tworoom", out, 8, workers=1, resume=True, **{**KW, "seed": 3})
    (out.with_name(out.name + ".tmp")).write_bytes(b"debris of a killed merge")
    collect("tworoom", out, 8, workers=2, resume=True, **KW)
    assert not parts.exists()
    ref = collect("tworoom", tmp_path / "ref.h5", 8, workers=1, **KW)
    _assert_same(out, ref)


def test_resume_extends_finished_file(tmp_path):
    out = collect("tworoom", tmp_path / "e.h5", 3, workers=1, **KW)
    collect("tworoom", out, 6, workers=1, resume=True, **KW)
    ref = collect("tworoom", tmp_path / "ref.h5", 6, workers=1, **KW)
    _assert_same(out, ref)
    collect("tworoom", out, 4, workers=1, resume=True, **KW)  # already has more: no-op
    assert EpisodeStore(out).num_episodes == 6


def test_min_length_and_max_steps(tmp_path):
    out = collect("tworoom", tmp_path / "m.h5", 4, workers=1, min_length=30, max_steps=40, **KW)
    with EpisodeStore(out) as s:
        assert (s.ep_len >= 30).all() and (s.ep_len <= 41).all()
        assert s.meta.min_length == 30 and s.meta.max_steps == 40


def test_random_policy_runs_to_truncation(tmp_path):
    out = collect(
        "tworoom", tmp_path / "r.h5", 2, workers=1, max_steps=25, **{**KW, "policy": "random"}
    )
    with EpisodeStore(out) as s:
        assert (s.ep_len == 26).all() and s.meta.policy == "random"


def test_bad_env_fails_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="unknown env"):
        collect("nope", tmp_path / "x.h5", 2, **KW)
    assert not parts_dir(tmp_path / "x.h5").exists()
