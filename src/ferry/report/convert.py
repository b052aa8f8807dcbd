"""What `ferry convert` prints: a table of targets and verdicts, then each target's route and the code to feed it.

The route and the feed code are printed plain (report/paste.py), one line each, never folded into a table cell or
wrapped at 80 columns: a route names calls (`cv2.dnn.blobFromImageWithParams`), and the code is pasted.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from ferry.report.paste import paste
from ferry.report.terminal import _console


def print_convert(manifest, outdir: str | Path, strict: bool) -> None:
    con = _console()
    src = manifest.source
    p = manifest.preprocess
    con.print(f"source: {src['path']} ({src['format']}, sha256 {src['sha256'][:12]})")
    con.print(f"contract: {p.color} scale={p.scale:.6g} mean={list(p.mean)} std={list(p.std)} "
              f"size={list(p.size) if p.size else None} layout={p.layout} dtype={p.dtype}")
    table = Table()
    for col in ("target", "file", "verdict"):
        table.add_column(col, overflow="fold")
    for t in manifest.targets:
        if not t.reachable:
            verdict = "[yellow]unreachable[/yellow]" + (f" (op {t.op})" if t.op else "")
        elif not manifest.checked:
            verdict = "converted, not checked"
        elif t.passed:
            worst = max((o["max_abs"] or 0.0 for o in (t.check or {}).get("outputs", [])), default=0.0)
            verdict = f"[green]pass[/green] (max abs diff {worst:.2g})"
        else:
            verdict = "[red]FAIL[/red]"
        if t.precision != "fp32" and t.reachable and t.accuracy:  # what the reduced precision costs, in words
            verdict = ("[green]pass[/green]" if t.passed else "[red]FAIL[/red]") + \
                f" {t.precision}: {_cost(t.accuracy)}"
        table.add_row(t.format, Path(t.path).name if t.path else "-", verdict)
    con.print(table)
    for t in manifest.targets:
        if t.route:
            paste(f"route ({t.format}): {t.route}")
    for t in manifest.targets:
        if t.reason:
            con.print(f"[bold]{t.format}[/bold]: {escape(t.reason)}")
        for note in t.notes:
            con.print(f"[yellow]note[/yellow] ({t.format}): {escape(note)}")
        if t.native and t.format == "opencv":
            con.print("[bold]opencv[/bold]: feed it like this:")
            paste(t.native["code"])
    con.print(f"manifest: {Path(outdir) / 'ferry.json'}")
    reached = [t for t in manifest.targets if t.reachable]
    if not reached:
        con.print("[bold red]FAILED[/bold red]: no target could be made (each one's reason is above)")
    elif not manifest.checked:
        con.print("[yellow]NOT CHECKED[/yellow] (--no-check): run ferry check before you deploy")
    elif all(t.passed for t in reached) and (not strict or len(reached) == len(manifest.targets)):
        con.print(f"[bold green]PASSED[/bold green]: {len(reached)} target(s) give the source's outputs")
    else:
        con.print("[bold red]FAILED[/bold red]: " + ", ".join(
            t.format for t in manifest.targets if (t.reachable and not t.passed) or (strict and not t.reachable)))


def _cost(a: dict) -> str:
    """ferry.json's accuracy cost, short: the task agreement and the worst output's error against the source."""
    parts = []
    if "top1_agreement" in a:
        parts.append(f"top-1 {a['top1_agreement']:.0%}")
    if "miou" in a:
        parts.append(f"mIoU {a['miou']:.3f}")
    if "matched" in a:
        parts.append(f"{a['matched']}/{a.get('ref_detections')} boxes")
    if a.get("max_abs") is not None:
        parts.append(f"max abs {a['max_abs']:.2g}")
    return ", ".join(parts) + " vs the source"
