"""Keep a cosmic-ray session to the consumer's protocol and recovery functions: every other mutant is skipped.

    python tests/mutation/scope.py SESSION.sqlite services/consumer/writer.py

The functions are found by name in the module's syntax tree, so the scope follows the code when lines move.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import WorkerOutcome, WorkResult

#: Writing a batch, its dead letters and its commit, in that order; and where a consumer resumes after a crash.
FUNCTIONS = {
    "Batch.bounds",
    "Batch.complete",
    "LakeWriter._flush",
    "LakeWriter._send_dead_letters",
    "LakeWriter._on_dlq_delivery",
    "LakeWriter._commit",
    "LakeWriter._dead_letter",
    "LakeWriter._on_assign",
    "LakeWriter._reconcile",
}


def line_ranges(module: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                name = f"{node.name}.{getattr(item, 'name', '')}"
                if isinstance(item, ast.FunctionDef) and name in FUNCTIONS:
                    found[name] = (item.lineno, item.end_lineno or item.lineno)
    missing = FUNCTIONS - found.keys()
    if missing:
        raise SystemExit(f"not in {module}: {', '.join(sorted(missing))}")
    return found


def main(session: str, module: str) -> None:
    ranges = line_ranges(Path(module)).values()
    kept = skipped = 0
    with use_db(session, WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            if any(lo <= m.start_pos[0] <= hi for m in item.mutations for lo, hi in ranges):
                kept += 1
                continue
            skipped += 1
            db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED,
                                                  output="outside the protocol and recovery functions"))  # fmt: skip
    print(f"{kept} mutants in the protocol and recovery functions; {skipped} others skipped")


if __name__ == "__main__":
    main(*sys.argv[1:])
