"""The gate's operating characteristic at a night's settings (issue 17, target 5): with the
learning recipe's gate (4 opening plies, up to 300 pairs) a 5-point gain is promoted most of
the time and an equal candidate rarely; with the old demo gate (2 plies: 60 distinct openings)
the same gain was promoted about 1 time in 10. Simulated with the pair model fitted to real
tic_tac_toe gates (draw_elo 48, seat_elo 179; LEARNING.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def oc(config: Path) -> dict[float, float]:
    """True score -> P(promoted), from scripts/gate_oc.py's table."""
    cmd = [sys.executable, str(ROOT / "scripts/gate_oc.py"), "--config", str(config),
           "--draw-elo", "48", "--seat-elo", "179", "--runs", "300"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    rows = re.findall(r"^\| ([0-9.]+) \| ([0-9.]+) \|", out, flags=re.M)
    return {float(score): float(p) for score, p in rows}


def test_the_learning_gate_sees_a_five_point_gain_and_the_old_one_did_not(tmp_path):
    learning = oc(ROOT / "configs/learning-ttt.toml")
    assert learning[0.5] <= 0.1  # alpha 0.05, plus simulation noise
    assert learning[0.55] >= 0.65 and learning[0.6] >= 0.95
    old = tmp_path / "old.toml"
    old.write_text('[night]\ngames = ["tic_tac_toe"]\n[gate]\nmin_pairs = 10\nmax_pairs = 60\n')
    assert oc(old)[0.55] <= 0.2  # 60 distinct 2-ply openings cannot resolve 5 points
