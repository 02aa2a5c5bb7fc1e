"""The last two stages of a game's night: the regression check (with automatic rollback) and
the tournament behind the night's rating snapshot."""

from __future__ import annotations

from arena.nightly_stages import GameNight, devset_score


def regression_verdict(
    current: dict,
    previous: dict,
    devset_tolerance: float,
    score_ci_high: float | None = None,
    score_tolerance: float = 0.0,
) -> tuple[bool, str]:
    """Whether the champion regressed against the previous champion, and why.

    Args:
        current, previous: ``devset_score`` results (``metric``, ``value``, ``higher_is_better``).
        devset_tolerance: how much worse the dev-set metric may be (absolute).
        score_ci_high: upper end of the champion's 95% score interval against the previous
            champion (None: no games were played).
        score_tolerance: rollback when ``score_ci_high < 0.5 - score_tolerance``.
    """
    sign = 1.0 if current["higher_is_better"] else -1.0
    drop = sign * (previous["value"] - current["value"])
    metric = current["metric"]
    if drop > devset_tolerance:
        return True, (
            f"dev-set {metric} {current['value']:.3f} is {drop:.3f} worse than the previous "
            f"champion {previous['version']}'s {previous['value']:.3f} (tolerance "
            f"{devset_tolerance:g})"
        )
    if score_ci_high is not None and score_ci_high < 0.5 - score_tolerance:
        return True, (
            f"score against the previous champion {previous['version']} is below "
            f"{0.5 - score_tolerance:g} with 95% confidence (upper bound {score_ci_high:.3f})"
        )
    return False, (
        f"dev-set {metric} {current['value']:.3f} vs {previous['value']:.3f} of "
        f"{previous['version']} (within tolerance {devset_tolerance:g})"
        + ("" if score_ci_high is None else f"; score upper bound {score_ci_high:.3f}")
    )


def exploitability_gate(candidate: dict, champion: dict, margin: float) -> dict:
    """The gate of ``[gate] by = "exploitability"``: accept the candidate when its exact
    exploitability (``devset_score`` of the eval stage) is lower than the champion's by at
    least ``margin`` chips per game. Exact numbers, so no test statistic and no games."""
    gain = champion["value"] - candidate["value"]
    accept = gain >= margin
    return {
        "by": "exploitability",
        "decision": "accept" if accept else "reject",
        "reason": (
            f"exploitability {candidate['value']:.4f} vs champion {champion['version']}'s "
            f"{champion['value']:.4f}: lower by {gain:+.4f}, "
            f"{'at least' if accept else 'less than'} the margin {margin:g}"
        ),
        "candidate": candidate["value"],
        "champion": champion["value"],
        "margin": margin,
        "pairs": 0,
    }


def _known_score(gn: GameNight, version: str) -> dict | None:
    """The dev-set score measured earlier tonight (eval stage), if any."""
    for entry in gn.results.get("eval", {}).values():
        if isinstance(entry, dict) and entry.get("version") == version:
            return entry
    return None


def stage_regression(gn: GameNight) -> dict:
    """Champion vs previous champion; roll back a regressed champion (once per night)."""
    from arena.tournament import TournamentConfig, run_tournament

    reg, r = gn.registry, gn.config.regression
    done = [e for e in reg.events(gn.game, gn.key) if e.kind == "rollback" and e.night == gn.night]
    if done:  # resumed after the rollback was committed
        return {"rolled_back": True, "reason": done[-1].reason, "to": done[-1].to_version}
    current = reg.champion(gn.game, gn.key).version
    decided = gn.results["decide"]
    if decided.get("decision") == "promoted":
        previous = gn.results["plan"]["champion"]
    else:
        previous = reg.previous_champion(gn.game, gn.key)
    if previous is None:
        return {"skipped": f"{current} has no previous champion", "champion": current}
    cur = _known_score(gn, current) or devset_score(gn, current)
    prev = _known_score(gn, previous) or devset_score(gn, previous)
    ci_high, match = None, None
    if r.pairs > 0:
        config = TournamentConfig(
            game=gn.game, players=(gn.spec(current), gn.spec(previous)), pairs=r.pairs,
            format="gauntlet", seed=gn.seed,
        )  # fmt: skip
        result = run_tournament(
            config, gn.workspace, gn.options, f"{gn.run_prefix}-regression",
            gn.progress("regression"),
        )  # fmt: skip
        match = result.pairings[0]
        if "score_ci" in match:
            ci_high = match["score_ci"][1]
    rollback, reason = regression_verdict(cur, prev, r.devset_tolerance, ci_high, r.score_tolerance)
    out = {
        "champion": current,
        "previous": previous,
        "devset": {"champion": cur, "previous": prev},
        "match": match,
        "rolled_back": rollback,
        "reason": reason,
    }
    if rollback:
        event = reg.rollback(gn.game, gn.key, reason, gn.actor, to=previous, night=gn.night)
        out["to"] = event.to_version
        gn.say(f"  ROLLBACK {current} -> {previous}: {reason}")
    else:
        gn.say(f"  regression check of {current}: ok ({reason})")
    return out


def stage_tournament(gn: GameNight) -> dict:
    """Champion, recent versions and scripted references; Bradley-Terry snapshot."""
    from arena.tournament import run_tournament

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
    rows = [
        {
            "player": r["player"], "version": by_spec.get(r["player"]), "rank": r["rank"],
            "rating": r["rating"], "ci_low": r["ci"][0], "ci_high": r["ci"][1],
            "games": r["games"], "score": r["score"],
        }
        for r in (result.leaderboard or {}).get("ratings", [])
    ]  # fmt: skip
    reg.snapshot_ratings(gn.night, gn.game, gn.key, rows)
    return {"run_id": result.run_id, "players": players, "leaderboard": rows}
