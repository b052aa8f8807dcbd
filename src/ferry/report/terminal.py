"""Rich tables for people."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ferry.errors import RUN_FAILED


def _console() -> Console:
    import os
    import sys

    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160"))
    return Console(highlight=False, soft_wrap=True, width=width)


def print_inspect(info: dict[str, Any], path: str) -> None:
    con = _console()
    con.print(f"[bold]{path}[/bold]: {info['format']} (loaded by {info['runtime']})")
    for kind in ("inputs", "outputs"):
        table = Table(title=kind, title_justify="left")
        for col in ("name", "shape", "dtype"):
            table.add_column(col)
        for t in info[kind]:
            dims = t["shape"]
            shape = "?" if dims is None else "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"
            table.add_row(t["name"], shape, t["dtype"])
        con.print(table)
    pre = info.get("preprocess")
    prec = info.get("precision")
    if prec:
        con.print(f"[bold]precision[/bold]: {prec['kind']} (compute {prec['compute']}): "
                  f"{escape('; '.join(prec['evidence']))}")
    if pre:
        con.print("[bold]embedded preprocessing[/bold] (read from the graph):")
        import yaml

        con.print(yaml.safe_dump(pre, sort_keys=False).rstrip())
    else:
        con.print("embedded preprocessing: none (the model takes a ready tensor)")
    for note in info.get("notes", []):
        con.print(f"[yellow]note:[/yellow] {note}")


def _fmt(v: float | None) -> str:
    if v is None:
        return "nan"
    return f"{v:.3g}"


def _short(path: str) -> str:
    from pathlib import Path

    return Path(path).name


def print_check(result, console: Console | None = None) -> None:
    con = console or _console()
    con.print(f"source: {result.source} ({result.source_runtime}), {len(result.images)} image(s)")
    p = result.preprocess
    con.print(f"contract: {p.color} scale={p.scale:.6g} mean={list(p.mean)} std={list(p.std)} "
              f"size={list(p.size) if p.size else None} layout={p.layout} resize={p.resize.mode}")
    table = Table(show_lines=False)
    for col in ("target", "runtime", "precision", "preprocessing", "output", "max abs", "max rel", "mean abs",
                "cosine", "within tol", "verdict"):
        table.add_column(col, justify="right" if col in ("max abs", "max rel", "mean abs", "cosine",
                                                           "within tol") else "left")
    for t in result.targets:
        for i, o in enumerate(t.outputs):
            verdict = (f"[green]pass[/green] {escape(o.reason or '')}".rstrip() if o.passed
                       else f"[red]FAIL[/red] {o.reason or ''}")
            first = i == 0
            table.add_row(_short(t.path) if first else "", t.runtime if first else "",
                          _precision(t) if first else "", t.preprocess_path if first else "", o.name,
                          _fmt(o.max_abs), _fmt(o.max_rel), _fmt(o.mean_abs), f"{o.cosine:.6f}",
                          f"{o.within:.2%}", verdict)
        if not t.outputs:
            why = _load_failure(t.error) if getattr(t, "error", None) else "no outputs"
            table.add_row(_short(t.path), t.runtime, _precision(t), t.preprocess_path, "-", "", "", "", "", "",
                          f"[red]FAIL[/red] {why}")
    con.print(table)
    _print_task(con, result)
    for t in result.targets:
        if t.bisect:
            b = t.bisect
            if b.get("found"):
                con.print(f"[bold]bisect[/bold] ({_short(t.path)}, {t.runtime}): first layer that parts: "
                          f"[bold]{b['node']}[/bold] ({b['op_type']}), tensor {b['tensor']}, max abs "
                          f"{_fmt(b.get('max_abs'))}, cosine {b.get('cosine', float('nan')):.6f} "
                          f"({b['compared']} tensors compared, matched by {b['matched_by']}): {b.get('hint', '')}")
            else:
                con.print(f"[bold]bisect[/bold] ({_short(t.path)}, {t.runtime}): {b.get('reason')}")
    said: dict[tuple[str, str], int] = {}  # one runtime's note said once, however many of its rows carry it
    for t in result.targets:
        for note in t.notes:
            said[(t.runtime, note)] = said.get((t.runtime, note), 0) + 1
    for (runtime, note), rows in said.items():
        con.print(f"[yellow]note[/yellow] ({runtime}{f', {rows} rows' if rows > 1 else ''}): {note}")
    for note in result.notes:
        con.print(f"[yellow]note[/yellow]: {note}")
    if result.passed:
        # held to a reduced-precision rule (ferry.compare.fair): the same fp16 weights on both sides are float32's
        reduced = [t for t in result.targets if "rule" in (getattr(t, "precision", None) or {})]
        more = (f" ({len(reduced)} reduced-precision row(s) within their precision's rule: quantization drift)"
                if reduced else "")
        con.print(f"[bold green]PASSED[/bold green]: every target gives the source's outputs within tolerance{more}")
    else:
        errors = [t for t in result.targets if getattr(t, "error", None)]
        cannot = [f"{t.path} ({t.runtime})" for t in errors if RUN_FAILED not in t.error]
        fails = [f"{t.path} ({t.runtime})" for t in errors if RUN_FAILED in t.error]
        differ = [f"{t.path} ({t.runtime})" for t in result.targets if not t.passed and not getattr(t, "error", None)]
        said = ([f"{', '.join(cannot)} cannot load"] if cannot else []) + (
            [f"{', '.join(fails)} load but fail to run"] if fails else []) + (
            [f"{', '.join(differ)} differ from the source"] if differ else [])
        con.print(f"[bold red]FAILED[/bold red]: {escape('; '.join(said))}")


def _precision(t) -> str:
    """The row's precision kind (ferry.precision): fp32, fp16, int8-weights, int4-weights, int8."""
    p = getattr(t, "precision", None)
    return p.get("kind", "") if p else ""


def _load_failure(error: str) -> str:
    """A row that never loaded says so, with the node the runtime stopped at when it named one (issue 15)."""
    import re

    if RUN_FAILED in error:
        return "loads, fails to run (see below)"
    m = re.search(r": node (\S+) \(([\w.]+)\)", error)
    if not m:
        return "cannot load it (see below)"
    return escape(f"cannot load it: node {m.group(1)} ({m.group(2)}) (see below)")


_TASK_COLUMNS = {
    "classify": [("top-1", "top1_agreement", "{:.0%}"), ("top-k", "topk_agreement", "{:.0%}"),
                 ("max prob delta", "max_prob_delta", "{:.3g}")],
    "segment": [("pixels agree", "pixel_agreement", "{:.3%}"), ("mIoU", "miou", "{:.4f}"),
                ("worst image mIoU", "worst_image_miou", "{:.4f}")],
    "detect": [("matched", "matched", "{}"), ("missing / extra", None, ""), ("class diff", "class_mismatches", "{}"),
               ("min IoU", "min_box_iou", "{:.4f}"), ("max score delta", "max_score_delta", "{:.3g}"),
               ("min mask IoU", "min_mask_iou", "{:.4f}")],
}


def _print_task(con, result) -> None:
    """The task table: what a user would see, next to the tensor table, with the tolerances it was held to."""
    plan = getattr(result, "plan", None)
    if plan is None:
        return
    con.print(f"task: [bold]{plan.task}[/bold]: {plan.why}")
    rows = [t for t in result.targets if t.task is not None]
    if not rows:
        return
    cols = _TASK_COLUMNS.get(plan.task, [])
    table = Table(show_lines=False)
    for col in ("target", "runtime", *[c[0] for c in cols], "tolerances", "task", "verdict"):
        table.add_column(col)
    for t in rows:
        m = t.task.metrics
        cells = []
        for _, key, fmt in cols:
            if key is None:
                cells.append(f"{m.get('unmatched_ref', 0)} / {m.get('unmatched_target', 0)}")
            else:
                v = m.get(key)
                cells.append("-" if v is None else fmt.format(v))
        tols = ", ".join(f"{k} {v:g}" for k, v in t.task.tolerances.items())
        task_v = "[green]pass[/green]" if t.task.passed else f"[red]FAIL[/red] {t.task.reason or ''}"
        verdict = "[green]pass[/green]" if t.passed else "[red]FAIL[/red]"
        table.add_row(_short(t.path), t.runtime, *cells, tols, task_v, verdict)
    con.print(table)
