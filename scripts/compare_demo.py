"""Compare two ``nonrecours demo`` folders: every file byte for byte, the manifest without timings/versions.

Usage: python scripts/compare_demo.py BEFORE AFTER   (exit 1 and a list of differences if any)

Used to check that a refactoring leaves the demo's outputs unchanged (issue 11): run
``python -m nonrecours demo --out BEFORE`` on the old code and ``--out AFTER`` on the new.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

VOLATILE = ("timings_seconds", "versions")  # manifest keys allowed to differ


def _manifest(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in VOLATILE:
        data.pop(key, None)
    return data


def compare(before: Path, after: Path) -> list[str]:
    """Differences between the two folders (relative paths), empty when identical."""
    files_a = {p.relative_to(before) for p in before.rglob("*") if p.is_file()}
    files_b = {p.relative_to(after) for p in after.rglob("*") if p.is_file()}
    diffs = [f"only in {before}: {p}" for p in sorted(files_a - files_b)]
    diffs += [f"only in {after}: {p}" for p in sorted(files_b - files_a)]
    for rel in sorted(files_a & files_b):
        a, b = before / rel, after / rel
        same = _manifest(a) == _manifest(b) if rel.name == "manifest.json" else a.read_bytes() == b.read_bytes()
        if not same:
            diffs.append(f"differs: {rel}")
    return diffs


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    found = compare(Path(sys.argv[1]), Path(sys.argv[2]))
    print("\n".join(found) if found else "identical (manifest timings and versions aside)")
    sys.exit(1 if found else 0)
