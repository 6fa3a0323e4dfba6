"""Keep a cosmic-ray session to the consumer's protocol and recovery functions: every other mutant is skipped.

    python tests/mutation/scope.py SESSION.sqlite [FUNCTION ...]

Naming functions (`LakeWriter._flush`, `recovery.plan`) keeps only theirs: a fresh session that runs again the
mutants of a changed function. The functions are found by name in their module's syntax tree, so the scope follows
the code when lines move.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import WorkerOutcome, WorkResult

CONSUMER = Path("services/consumer")
#: Per module (as `cosmic-ray.toml` lists it): writing a batch, its dead letters and its commit, in that order; and
#: where a consumer resumes after a crash.
FUNCTIONS = {
    CONSUMER / "batch.py": {"Batch.bounds", "Batch.complete"},
    CONSUMER / "writer.py": {
        "LakeWriter._flush",
        "LakeWriter._commit",
        "LakeWriter._on_assign",
        "LakeWriter._reconcile",
    },
    CONSUMER / "dead_letters.py": {"dead_letter", "DeadLetterProducer.send", "DeadLetterProducer._on_delivery"},
    CONSUMER / "recovery.py": {"plan", "listing_floor", "ResumePlan.announce"},
}


def _qualified(module: Path, name: str) -> str:
    """`recovery.plan` for a module-level function, `LakeWriter._flush` for a method (class names are unique)."""
    return name if "." in name else f"{module.stem}.{name}"


def line_ranges(module: Path, functions: set[str] | None = None) -> dict[str, tuple[int, int]]:
    """The lines of each function of `functions` (by default, the module's in FUNCTIONS) in `module`."""
    wanted = FUNCTIONS.get(Path(module), set()) if functions is None else functions
    found = {}
    for node in ast.parse(Path(module).read_text()).body:
        items = [(node.name, node)] if isinstance(node, ast.FunctionDef) else []
        if isinstance(node, ast.ClassDef):
            items = [(f"{node.name}.{getattr(item, 'name', '')}", item) for item in node.body]
        for name, item in items:
            if isinstance(item, ast.FunctionDef) and name in wanted:
                found[name] = (item.lineno, item.end_lineno or item.lineno)
    missing = wanted - found.keys()
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


def main(session: str, *only: str) -> None:
    known = {_qualified(module, name): (module, name) for module, names in FUNCTIONS.items() for name in names}
    unknown = set(only) - known.keys()
    if unknown:
        raise SystemExit(f"not protocol or recovery functions: {', '.join(sorted(unknown))}")
    chosen: dict[Path, set[str]] = {}
    for module, name in (known[q] for q in only) if only else ((m, n) for m, ns in FUNCTIONS.items() for n in ns):
        chosen.setdefault(module, set()).add(name)
    ranges = {str(module): line_ranges(module, names).values() for module, names in chosen.items()}
    annotations = {str(module): annotation_spans(module) for module in FUNCTIONS}
    kept = skipped = typed = 0
    with use_db(session, WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            if not any(
                lo <= m.start_pos[0] <= hi for m in item.mutations for lo, hi in ranges.get(str(m.module_path), ())
            ):
                skipped += 1
                reason = "outside the functions run" if only else "outside the protocol and recovery functions"
            elif all(
                any(a <= tuple(m.start_pos) < b for a, b in annotations.get(str(m.module_path), ()))
                for m in item.mutations
            ):
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
