"""The night's decisions as pure functions of measured numbers (no I/O): whether a champion
regressed (automatic rollback) and the exploitability gate of poker nights."""

from __future__ import annotations

from arena.nightly.results import DevScore, ExploitabilityGate


def regression_verdict(
    current: DevScore,
    previous: DevScore,
    devset_tolerance: float,
    score_ci_high: float | None = None,
    score_tolerance: float = 0.0,
) -> tuple[bool, str]:
    """Whether the champion regressed against the previous champion, and why.

    Args:
        current, previous: ``devset_score`` results of the champion and its predecessor.
        devset_tolerance: how much worse the dev-set metric may be (absolute).
        score_ci_high: upper end of the champion's 95% score interval against the previous
            champion (None: no games were played).
        score_tolerance: rollback when ``score_ci_high < 0.5 - score_tolerance``.
    """
    sign = 1.0 if current.higher_is_better else -1.0
    drop = sign * (previous.value - current.value)
    metric = current.metric
    if drop > devset_tolerance:
        return True, (
            f"dev-set {metric} {current.value:.3f} is {drop:.3f} worse than the previous "
            f"champion {previous.version}'s {previous.value:.3f} (tolerance "
            f"{devset_tolerance:g})"
        )
    if score_ci_high is not None and score_ci_high < 0.5 - score_tolerance:
        return True, (
            f"score against the previous champion {previous.version} is below "
            f"{0.5 - score_tolerance:g} with 95% confidence (upper bound {score_ci_high:.3f})"
        )
    return False, (
        f"dev-set {metric} {current.value:.3f} vs {previous.value:.3f} of "
        f"{previous.version} (within tolerance {devset_tolerance:g})"
        + ("" if score_ci_high is None else f"; score upper bound {score_ci_high:.3f}")
    )


def exploitability_gate(
    candidate: DevScore, champion: DevScore, margin: float
) -> ExploitabilityGate:
    """The gate of ``[gate] by = "exploitability"``: accept the candidate when its exact
    exploitability (``devset_score`` of the eval stage) is lower than the champion's by at
    least ``margin`` chips per game. Exact numbers, so no test statistic and no games."""
    gain = champion.value - candidate.value
    accept = gain >= margin
    return ExploitabilityGate(
        by="exploitability",
        decision="accept" if accept else "reject",
        reason=(
            f"exploitability {candidate.value:.4f} vs champion {champion.version}'s "
            f"{champion.value:.4f}: lower by {gain:+.4f}, "
            f"{'at least' if accept else 'less than'} the margin {margin:g}"
        ),
        candidate=candidate.value,
        champion=champion.value,
        margin=margin,
        pairs=0,
    )
