"""The paper's published numbers that a report puts beside a run's own (SPEC §6 and §7).

Keys are our short env names (``RunConfig.env``); probe entries are keyed by the probe's group or
quantity name (``probe.json`` "groups" / "quantities"), so a run's row and the paper's row line up.
"""

from __future__ import annotations

# SPEC §6 (Figure 6): LeWM planning success, %.
PAPER_SUCCESS = {"tworoom": 87.0, "reacher": 86.0, "pusht": 96.0, "cube": 74.0}

# SPEC §7 "Probing": LeWM linear probe test MSE / Pearson r (None where the paper gives none).
PAPER_PROBE: dict[str, dict[str, dict]] = {
    "tworoom": {"agent": {"label": "agent position", "linear_mse": None, "linear_r": 0.996}},
    "pusht": {
        "agent": {"label": "agent location", "linear_mse": 0.052, "linear_r": 0.974},
        "block": {"label": "block location", "linear_mse": 0.029, "linear_r": 0.986},
        "block_angle": {"label": "block angle", "linear_mse": 0.187, "linear_r": 0.902},
    },
    "cube": {"block": {"label": "block position", "linear_mse": None, "linear_r": 0.997}},
}

PAPER_PROBE_NOTES = {
    "pusht": "MLP probe r ≥ 0.99 on all three quantities.",
    "cube": "No method recovers the block rotation.",
}

# SPEC §7 "Temporal straightening": the paper's value on Push-T (no other env is reported).
PAPER_STRAIGHTNESS = "≈0.5–0.6 on Push-T (rises during training without an explicit term)"

# SPEC §7 "Violation of expectation".
PAPER_SURPRISE = (
    "LeWM's surprise spikes at teleports (paired t-test p < 0.01) in Two-Room, Push-T and Cube; "
    "colour changes raise it weakly."
)
