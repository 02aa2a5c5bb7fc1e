"""Plain-text tables for the terminal (results, leaderboards) and per-pairing report entries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
