"""The last two stages of a game's night: the regression check (with automatic rollback) and
the tournament behind the night's rating snapshot."""

from __future__ import annotations

from arena.nightly.decisions import regression_verdict
from arena.nightly.results import (
    DevScore,
    RatingEntry,
    RegressionDevset,
    RegressionResult,
    TournamentResult,
)
from arena.nightly.stages import GameNight, devset_score
from games.schedule import MatchOptions


def _known_score(gn: GameNight, version: str) -> DevScore | None:
    """The dev-set score measured earlier tonight (eval stage), if any."""
    scores = gn.results.eval.scores() if gn.results.eval else []
    return next((e for _, e in scores if e.version == version), None)


def stage_regression(gn: GameNight) -> RegressionResult:
    """Champion vs previous champion; roll back a regressed champion (once per night)."""
    from arena.runs.tournament import TournamentConfig, run_tournament

    reg, r = gn.registry, gn.config.regression
    done = [e for e in reg.events(gn.game, gn.key) if e.kind == "rollback" and e.night == gn.night]
    if done:  # resumed after the rollback was committed
        return RegressionResult(rolled_back=True, reason=done[-1].reason, to=done[-1].to_version)
    current = reg.champion(gn.game, gn.key).version
    if gn.results.decide.decision == "promoted":
        previous = gn.results.plan.champion
    else:
        previous = reg.previous_champion(gn.game, gn.key)
    if previous is None:
        return RegressionResult(skipped=f"{current} has no previous champion", champion=current)
    cur = _known_score(gn, current) or devset_score(gn, current)
    prev = _known_score(gn, previous) or devset_score(gn, previous)
    ci_high, match = None, None
    if r.pairs > 0:
        config = TournamentConfig(
            game=gn.game, players=(gn.spec(current), gn.spec(previous)), pairs=r.pairs,
            format="gauntlet", matches=MatchOptions(seed=gn.seed),
        )  # fmt: skip
        result = run_tournament(
            config, gn.workspace, gn.options, f"{gn.run_prefix}-regression",
            gn.progress("regression"),
        )  # fmt: skip
        match = result.pairings[0]
        if "score_ci" in match:
            ci_high = match["score_ci"][1]
    rollback, reason = regression_verdict(cur, prev, r.devset_tolerance, ci_high, r.score_tolerance)
    to = None
    if rollback:
        to = reg.rollback(gn.game, gn.key, reason, gn.actor, to=previous, night=gn.night).to_version
        gn.say(f"  ROLLBACK {current} -> {previous}: {reason}")
    else:
        gn.say(f"  regression check of {current}: ok ({reason})")
    return RegressionResult(
        champion=current, previous=previous, devset=RegressionDevset(cur, prev), match=match,
        rolled_back=rollback, reason=reason, to=to,
    )  # fmt: skip


def stage_tournament(gn: GameNight) -> TournamentResult:
    """Champion, recent versions and scripted references; Bradley-Terry snapshot."""
    from arena.runs.tournament import run_tournament

    reg, t = gn.registry, gn.config.tournament
    champion = reg.champion(gn.game, gn.key).version
    others = [v.version for v in reversed(reg.versions(gn.game, gn.key)) if v.version != champion]
    versions = [champion, *others[: t.recent]]
    players = [gn.spec(v) for v in versions] + list(t.scripted)
    config = gn.config.tournament_config(
        game=gn.game, players=tuple(players), format="round-robin", seed=gn.seed, pairs=t.pairs
    )
    result = run_tournament(
        config, gn.workspace, gn.options, f"{gn.run_prefix}-tournament", gn.progress("tournament")
    )
    by_spec = dict(zip(players, [*versions, *[None] * len(t.scripted)], strict=True))
    rows = tuple(
        RatingEntry(
            player=r["player"], version=by_spec.get(r["player"]), rank=r["rank"],
            rating=r["rating"], ci_low=r["ci_low"], ci_high=r["ci_high"], games=r["games"],
            score=r["score"],
        )
        for r in (result.leaderboard or {}).get("ratings", [])
    )  # fmt: skip
    reg.snapshot_ratings(gn.night, gn.game, gn.key, [r.to_dict() for r in rows])
    return TournamentResult(run_id=result.run_id, players=tuple(players), leaderboard=rows)
