"""scripts/first_mistakes.py: where an agent's losses to the solver begin."""

import importlib.util


def _module():
    spec = importlib.util.spec_from_file_location("first_mistakes", "scripts/first_mistakes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_solver_never_errs_and_random_play_errs_in_most_games(capsys):
    script = _module()
    perfect = script.first_mistakes("solver", pairs=3)
    assert perfect["lost"] == 0 and perfect["by_ply"] == {}
    r = script.first_mistakes("random", pairs=10)
    mistakes = sum(r["by_ply"].values())
    assert r["games"] == 20 and r["lost"] >= 10 and mistakes >= r["lost"]
    assert sum(r["by_class"].values()) == mistakes
    assert script.main(["--agent", "random", "--pairs", "2"]) == 0
    assert "games lost to the solver" in capsys.readouterr().out
    assert script.main(["--agent", "nobody"]) == 2
