"""Write a benchmark's markdown section into BENCHMARKS.md, replacing that section's last run.

Each benchmark script owns one section, delimited by ``<!-- bench:KEY -->`` and
``<!-- /bench:KEY -->``; other sections are left untouched. A new section is appended.
"""

from __future__ import annotations

import re
from pathlib import Path

from games.files import atomic_write

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\nMeasured by the scripts in `scripts/`; each section names the exact command. "
    "Performance claims live here, not in timed tests.\n"
)


def update_section(path: str | Path, key: str, text: str) -> Path:
    """Put ``text`` between the ``key`` markers of ``path`` ("-" prints only)."""
    if str(path) == "-":
        print(text)
        return Path("-")
    path = Path(path)
    body = path.read_text() if path.exists() else HEADER
    start, end = f"<!-- bench:{key} -->", f"<!-- /bench:{key} -->"
    block = f"{start}\n{text.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(body):
        body = pattern.sub(lambda _: block, body)
    else:
        body = body.rstrip() + "\n\n" + block + "\n"
    return atomic_write(path, body)
