"""Plain-text tables for the terminal (results, leaderboards) and per-pairing report entries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from games.schedule import PairingSummary


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-align text, right-align numbers; floats with 3 decimals."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.3f}"
        return str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(headers)
    ]
    numeric = [
        bool(rows) and all(isinstance(r[i], int | float) for r in rows) for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out.extend(line(r) for r in text)
    return "\n".join(out)


RATING_COLUMNS = ("rank", "player", "Elo", "95% CI", "games", "score")


def ratings_table(rows: Iterable[Mapping]) -> str:
    """The one Bradley-Terry table (tournaments, the night report, ``arena registry``,
    ``arena leaderboard``): rows with ``rank``, ``player``, ``rating``, ``ci_low``,
    ``ci_high`` (the interval's ends, as every JSON output names them), ``games``, ``score``.

    Example::

        rank  player     Elo  95% CI        games  score
        ----  ---------  ---  ------------  -----  -----
           1  llm:t@v2  1062  [1015, 1110]     40  0.700
    """
    body = [
        [r["rank"], r["player"], round(r["rating"]), f"[{r['ci_low']:.0f}, {r['ci_high']:.0f}]",
         r["games"], f"{r['score']:.3f}"]
        for r in rows
    ]  # fmt: skip
    return format_table(RATING_COLUMNS, body)


def rating_interval(row: Mapping) -> tuple[float, float]:
    """``(ci_low, ci_high)`` of a stored rating row; tournament summaries written before the
    names were unified carry ``"ci": [low, high]``."""
    if "ci_low" in row:
        return float(row["ci_low"]), float(row["ci_high"])
    low, high = row["ci"]
    return float(low), float(high)


def pairing_entry(summary: PairingSummary) -> dict:
    """A pairing's counts plus score/Elo intervals from ``ratings.pairing_estimate`` (the one
    rule: pentanomial over complete pairs, Wilson over games that are not paired)."""
    from ratings import pairing_estimate

    entry = summary.to_dict()
    entry["score"] = summary.score if summary.games else None
    est = pairing_estimate(summary.pentanomial, summary.wins, summary.draws, summary.losses)
    if est is not None:
        entry.update(score_ci=list(est.score_ci), elo=est.elo, elo_ci=list(est.ci), los=est.los)
    return entry


def pairing_table(entries: Iterable[dict]) -> str:
    rows = []
    for e in entries:
        ci = e.get("score_ci")
        rows.append(
            [e["player"], e["opponent"], e["games"], e["wins"], e["draws"], e["losses"]]
            + [e["score"] if e["score"] is not None else "-"]
            + [f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "-", _elo_text(e.get("elo"))]
            + ["/".join(map(str, e["pentanomial"]))]
        )
    headers = ["agent", "opponent", "games", "W", "D", "L", "score", "95% CI", "Elo"]
    return format_table([*headers, "pairs 0/½/1/1½/2"], rows)


def _elo_text(elo: float | None) -> str:
    if elo is None:
        return "-"
    if elo in (float("inf"), float("-inf")):
        return "+inf" if elo > 0 else "-inf"
    return f"{elo:+.0f}"


def format_eval_report(report: dict) -> str:
    """The terminal summary of an eval report: dev-set metric, then a table of opponents
    (and of the solver against the same opponents, the reference)."""
    dev = report["devset"]
    if dev["metric"] == "exploitability":
        ref = dev["reference"]
        lines = [
            f"{report['agent']} on {report['game']}: exploitability {dev['exploitability']:.4f} "
            f"(uniform random {ref['uniform_random']:.4f}, CFR+ {ref['cfr_plus']:.4f})"
        ]
    else:
        low, high = dev["ci95"]
        mass = dev.get("policy_mass_on_optimal")
        lines = [
            f"{report['agent']} on {report['game']}: optimal-move accuracy {dev['accuracy']:.3f} "
            f"[{low:.3f}, {high:.3f}] on {dev['positions']} dev positions"
            + (f"; policy mass on optimal moves {mass:.3f}" if mass is not None else "")
        ]
    chips = dev["metric"] == "exploitability"
    header = ["player", "opponent", "games", "W", "D", "L", "score", "95% CI"]
    header += ["chips/game", "95% CI"] if chips else []
    rows = []
    for o in [*report["opponents"], *report.get("reference", [])]:
        row = [o["player"], o["opponent"], o["games"], o["wins"], o["draws"], o["losses"],
               o["score"], f"[{o['score_ci95'][0]:.3f}, {o['score_ci95'][1]:.3f}]"]  # fmt: skip
        if chips:
            ci = o.get("mean_return_ci95") or [float("nan")] * 2
            row += [o.get("mean_return"), f"[{ci[0]:.3f}, {ci[1]:.3f}]"]
        rows.append(row)
    if rows:
        lines.append(format_table(header, rows))
    return "\n".join(lines)
