"""The state of a cosmic-ray session as text: counts, then each surviving mutant with its function, line and diff.

python tests/mutation/survivors.py SESSION.sqlite
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome

sys.path.insert(0, str(Path(__file__).parent))
from scope import line_ranges


def main(session: str) -> None:
    with use_db(session, WorkDB.Mode.open) as db:
        done = db.completed_work_items
        pending = db.num_work_items - len(done)
    outcomes: Counter[str] = Counter()
    survivors = []
    for item, result in done:
        if result.worker_outcome == WorkerOutcome.SKIPPED:
            outcomes[f"skipped ({result.output})"] += 1
            continue
        if result.worker_outcome != WorkerOutcome.NORMAL:
            outcomes[f"worker {result.worker_outcome}"] += 1
            continue
        outcomes[result.test_outcome.value if result.test_outcome else "no outcome"] += 1
        if result.test_outcome == TestOutcome.SURVIVED:
            survivors.append((item, result))
    print(f"pending: {pending}; " + "; ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())))
    ranges = {}
    for item, _ in survivors:
        path = item.mutations[0].module_path
        if path not in ranges:
            ranges[path] = line_ranges(Path(path))
    for item, result in sorted(survivors, key=lambda s: s[0].mutations[0].start_pos):
        mutation = item.mutations[0]
        row = mutation.start_pos[0]
        where = next((name for name, (lo, hi) in ranges[mutation.module_path].items() if lo <= row <= hi), "?")
        operator = f"{mutation.operator_name} (occurrence {mutation.occurrence}, job {item.job_id})"
        print(f"\n## {where}, line {row}: {operator}")
        print((result.diff or "").strip())


if __name__ == "__main__":
    main(*sys.argv[1:])
