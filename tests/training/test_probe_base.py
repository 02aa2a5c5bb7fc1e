"""scripts/probe_base_rules.py: what a base knows of the rules on boards it never saw."""

import importlib.util


def _probe_module():
    spec = importlib.util.spec_from_file_location("probe", "scripts/probe_base_rules.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_probe_counts_the_dev_positions_with_a_win_or_a_threat(tiny_base, capsys):
    probe = _probe_module()
    counts = probe.probe(tiny_base)
    # pinned by the frozen dev set: 79 of its 200 positions have a win on the board, 115 a threat
    assert (counts["positions"], counts["wins"], counts["blocks"]) == (200, 79, 115)
    assert 0 <= counts["wins_right"] <= 79 and 0 <= counts["blocks_right"] <= 115
    assert probe.main(["--base", str(tiny_base)]) == 0
    assert "/79 dev positions with a win" in capsys.readouterr().out


def test_probe_refuses_a_folder_that_is_not_a_base(tmp_path, capsys):
    assert _probe_module().main(["--base", str(tmp_path)]) == 2
    assert "not a local arena base" in capsys.readouterr().err
