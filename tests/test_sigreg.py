"""SIGReg (SPEC §2): separates Gaussian from non-Gaussian samples, matches the Epps–Pulley
integral, is differentiable, reproducible from a generator, and decomposes across processes."""

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from lewm.losses import (
    epps_pulley,
    epps_pulley_knots,
    lewm_loss,
    prediction_loss,
    random_directions,
    sigreg,
    sigreg_with_directions,
)

B, D = 512, 64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _stat(z: torch.Tensor, seed: int = 1) -> float:
    return sigreg(z, _gen(seed)).item()


def test_gaussian_small_others_large():
    g = _gen(0)
    gauss = torch.randn(2, B, D, generator=g)
    base = _stat(gauss)
    assert base < 3.0  # O(1): B * E|φ̂ − φ|² stays bounded for N(0, I)
    others = {
        "collapsed": torch.full((2, B, D), 0.3),
        "shifted": gauss + 2.0,
        "scaled": gauss * 3.0,
        "uniform": torch.rand(2, B, D, generator=g),
    }
    for name, z in others.items():
        assert _stat(z) > 10 * base, name


def test_shape_only_difference_detected():
    # Standardised uniform (mean 0, var 1) in 1-D: only the shape differs from N(0, 1).
    g = _gen(0)
    n = 4096
    uni = (torch.rand(1, n, 1, generator=g) - 0.5) * 12**0.5
    gauss = torch.randn(1, n, 1, generator=g)
    assert _stat(uni) > 5 * _stat(gauss)


def test_matches_numerical_integral_for_fixed_direction():
    g = _gen(3)
    n = 64
    h = torch.randn(n, generator=g, dtype=torch.float64) * 1.3 + 0.2
    z = torch.zeros(1, n, 5)
    z[0, :, 2] = h.float()
    u = torch.zeros(5, 1)
    u[2, 0] = 1.0
    hn = h.float().double().numpy()

    def integrand(t: float) -> float:
        phi = np.exp(-t * t / 2)
        return phi * ((np.cos(t * hn).mean() - phi) ** 2 + np.sin(t * hn).mean() ** 2)

    ref = n * quad(integrand, -3.0, 3.0, limit=200)[0]
    assert sigreg_with_directions(z, u, num_knots=17).item() == pytest.approx(ref, rel=1e-3)
    assert sigreg_with_directions(z, u, num_knots=1001).item() == pytest.approx(ref, rel=1e-5)


def test_quadrature_weights():
    t, w = epps_pulley_knots(17)
    dt = 3.0 / 16
    assert torch.allclose(t, torch.linspace(0, 3, 17))
    assert w[0].item() == pytest.approx(dt)
    assert w[5].item() == pytest.approx(2 * dt * np.exp(-(t[5].item() ** 2) / 2))
    # ∫_{-3}^{3} e^{-t²/2} dt via the weights.
    assert w.sum().item() == pytest.approx(np.sqrt(2 * np.pi) * 0.9973, rel=1e-3)


def test_directions_unit_norm_and_reproducible():
    u1 = random_directions(D, 128, _gen(7))
    u2 = random_directions(D, 128, _gen(7))
    assert torch.equal(u1, u2)
    assert torch.allclose(u1.norm(dim=0), torch.ones(128), atol=1e-5)
    z = torch.randn(3, 32, D, generator=_gen(0)) + 0.5
    assert sigreg(z, _gen(5)).item() == sigreg(z, _gen(5)).item()
    assert sigreg(z, _gen(5)).item() != sigreg(z, _gen(6)).item()


def test_gradient_finite_and_reduces_statistic():
    z = (torch.randn(2, 128, 16, generator=_gen(0)) * 2 + 1).requires_grad_()
    s = sigreg(z, _gen(1), num_projections=256)
    s.backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    with torch.no_grad():
        z2 = z - 0.05 * z.grad / z.grad.norm() * z.norm()
    assert sigreg(z2, _gen(1), num_projections=256) < s


def test_mean_over_time_steps():
    g = _gen(0)
    z = torch.randn(3, 64, 8, generator=g)
    z[1] += 1.0
    u = random_directions(8, 32, g)
    per_t = [sigreg_with_directions(z[i : i + 1], u).item() for i in range(3)]
    assert sigreg_with_directions(z, u).item() == pytest.approx(np.mean(per_t), rel=1e-5)


def test_reduce_mean_reproduces_global_batch():
    # Two "ranks" with half the batch each; averaging the ECF means before squaring and scaling
    # by the global batch gives the single-device statistic on the full batch.
    g = _gen(0)
    h = torch.randn(2, 256, 16, generator=g) * 1.5 + 0.3
    h1, h2 = h[:, :128], h[:, 128:]
    captured = {}
    epps_pulley(h2, reduce_mean=lambda e: captured.setdefault("ecf", e), global_batch=1)
    dist = epps_pulley(h1, reduce_mean=lambda e: (e + captured["ecf"]) / 2, global_batch=256)
    assert torch.allclose(dist, epps_pulley(h), rtol=1e-5)
    with pytest.raises(ValueError, match="global_batch"):
        epps_pulley(h1, reduce_mean=lambda e: e)


def test_prediction_and_total_loss():
    pred, target = torch.zeros(2, 3, 4), torch.ones(2, 3, 4) * 2
    assert prediction_loss(pred, target).item() == pytest.approx(4.0)
    emb = torch.randn(16, 4, 8, generator=_gen(0))
    out = lewm_loss(pred, target, emb, lam=0.5, generator=_gen(1), num_projections=64)
    reg = sigreg(emb.transpose(0, 1), _gen(1), num_projections=64)
    assert set(out) == {"loss", "pred_loss", "sigreg"}
    assert out["sigreg"].item() == pytest.approx(reg.item())
    assert out["loss"].item() == pytest.approx(4.0 + 0.5 * reg.item())
