"""Rich tables for people."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


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


def print_check(result) -> None:
    con = _console()
    con.print(f"source: {result.source} ({result.source_runtime}), {len(result.images)} image(s)")
    p = result.preprocess
    con.print(f"contract: {p.color} scale={p.scale:.6g} mean={list(p.mean)} std={list(p.std)} "
              f"size={list(p.size) if p.size else None} layout={p.layout} resize={p.resize.mode}")
    table = Table(show_lines=False)
    for col in ("target", "runtime", "preprocessing", "output", "max abs", "max rel", "mean abs", "cosine",
                "within tol", "verdict"):
        table.add_column(col, justify="right" if col in ("max abs", "max rel", "mean abs", "cosine",
                                                           "within tol") else "left")
    for t in result.targets:
        for i, o in enumerate(t.outputs):
            verdict = "[green]pass[/green]" if o.passed else f"[red]FAIL[/red] {o.reason or ''}"
            first = i == 0
            table.add_row(_short(t.path) if first else "", t.runtime if first else "",
                          t.preprocess_path if first else "", o.name, _fmt(o.max_abs), _fmt(o.max_rel),
                          _fmt(o.mean_abs), f"{o.cosine:.6f}",
                          f"{o.within:.2%}", verdict)
        if not t.outputs:
            table.add_row(t.path, t.runtime, t.preprocess_path, "-", "", "", "", "", "",
                          "[red]FAIL[/red] no outputs")
    con.print(table)
    for t in result.targets:
        for note in t.notes:
            con.print(f"[yellow]note[/yellow] ({t.runtime}): {note}")
    for note in result.notes:
        con.print(f"[yellow]note[/yellow]: {note}")
    if result.passed:
        con.print("[bold green]PASSED[/bold green]: every target gives the source's outputs within tolerance")
    else:
        failed = [f"{t.path} ({t.runtime})" for t in result.targets if not t.passed]
        con.print(f"[bold red]FAILED[/bold red]: {', '.join(failed)} differ from the source")
