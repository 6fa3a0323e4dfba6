"""Keep a cosmic-ray session to the consumer's protocol and recovery functions: every other mutant is skipped.

    python tests/mutation/scope.py SESSION.sqlite services/consumer/writer.py [FUNCTION ...]

Naming functions (`LakeWriter._flush`) keeps only theirs: a fresh session that runs again the mutants of a changed
function. The functions are found by name in the module's syntax tree, so the scope follows the code when lines move.
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


def line_ranges(module: Path, functions: set[str] = FUNCTIONS) -> dict[str, tuple[int, int]]:
    found = {}
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                name = f"{node.name}.{getattr(item, 'name', '')}"
                if isinstance(item, ast.FunctionDef) and name in functions:
                    found[name] = (item.lineno, item.end_lineno or item.lineno)
    missing = functions - found.keys()
    if missing:
        raise SystemExit(f"not in {module}: {', '.join(sorted(missing))}")
    return found


def annotation_spans(module: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the module's type annotations are: with `from __future__ import annotations` they are never evaluated,
    so a mutant inside one (`int | None` to `int + None`) cannot change what the code does."""
    spans = []
    for node in ast.walk(ast.parse(module.read_text())):
        annotations = []
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            annotations.append(node.annotation)
        if isinstance(node, ast.FunctionDef) and node.returns is not None:
            annotations.append(node.returns)
        for a in annotations:
            spans.append(((a.lineno, a.col_offset), (a.end_lineno or a.lineno, a.end_col_offset or 0)))
    return spans


def main(session: str, module: str, *only: str) -> None:
    unknown = set(only) - FUNCTIONS
    if unknown:
        raise SystemExit(f"not protocol or recovery functions: {', '.join(sorted(unknown))}")
    ranges = line_ranges(Path(module), set(only) or FUNCTIONS).values()
    annotations = annotation_spans(Path(module))
    kept = skipped = typed = 0
    with use_db(session, WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            if not any(lo <= m.start_pos[0] <= hi for m in item.mutations for lo, hi in ranges):
                skipped += 1
                reason = "outside the functions run" if only else "outside the protocol and recovery functions"
            elif all(any(a <= tuple(m.start_pos) < b for a, b in annotations) for m in item.mutations):
                typed += 1
                reason = "inside a type annotation, which is never evaluated"
            else:
                kept += 1
                continue
            db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output=reason))
    scope = ", ".join(only) or "the protocol and recovery functions"
    print(f"{kept} mutants in {scope}; {typed} in their type annotations and {skipped} elsewhere skipped")


if __name__ == "__main__":
    main(*sys.argv[1:])
