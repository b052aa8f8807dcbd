"""`ferry bench` in the terminal: the method first, then per model one table of paths and one of memory."""

from __future__ import annotations

from typing import Any


def _ms(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def print_bench(result: Any, console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:  # piped: wide enough for the table instead of 80 columns of ellipses
            console = Console(width=160)
    m = result.method
    console.print(f"[bold]method[/]: {m.warmup} warm-up calls, then {m.iterations} timed calls per path; batch "
                  f"{m.batch}; threads {m.threads or 'runtime default'}; one child process per runtime")
    console.print(f"  timed: {m.timed}")
    from ferry.bench.core import LOAD_NOTE, MEMORY_NOTE, PARITY_NOTE

    console.print(f"  {LOAD_NOTE}\n  parity: {PARITY_NOTE}, atol {result.atol:g}, rtol {result.rtol:g}\n"
                  f"  memory: {MEMORY_NOTE}")
    for mb in result.models:
        table = Table(title=f"{mb.model} ({mb.format}), reference path {mb.reference}, {len(mb.images)} photo(s)")
        for col in ("path", "pre", "resize", "load ms", "first ms", "p50 ms", "p90 ms", "p99 ms", "img/s",
                    "parity", "max abs"):
            table.add_column(col, justify="left" if col in ("path", "pre", "resize", "parity") else "right")
        for p in mb.paths:
            star = " *" if p.id == mb.recommendation.path else ""
            if p.error:
                table.add_row(p.id + star, p.preprocess, p.resize, _ms(p.load_ms, 1), "-", "-", "-", "-", "-",
                              "[red]error[/]", p.error[:60])
                continue
            s = p.stats
            worst = max((o.get("max_abs") or 0.0 for o in p.parity), default=0.0)
            table.add_row(p.id + star, p.preprocess, p.resize, _ms(p.load_ms, 1), _ms(p.first_ms),
                          _ms(s.p50_ms, 3) if s else "-", _ms(s.p90_ms, 3) if s else "-",
                          _ms(s.p99_ms, 3) if s else "-", f"{s.throughput_ips:.0f}" if s else "-",
                          "[green]pass[/]" if p.parity_passed else "[red]FAIL[/]", f"{worst:.2g}")
        console.print(table)
        mem = Table(title="memory per runtime (MiB)")
        for col in ("runtime", "import ms", "base RSS", "peak RSS"):
            mem.add_column(col, justify="left" if col == "runtime" else "right")
        for r in mb.memory:
            mem.add_row(r.runtime, _ms(r.import_ms, 1), _ms(r.base_rss_mb, 0) if r.isolated else "-",
                        _ms(r.peak_rss_mb, 0) if r.isolated else "not isolated")
        console.print(mem)
        rec = mb.recommendation
        console.print(f"[bold]recommended[/]: {rec.path or 'none'} ({rec.why})" if rec.path
                      else f"[bold red]no recommendation[/]: {rec.why}")
        v = mb.verdict
        if v.precision != "unknown":
            against = ("not checked against its float source" if v.passed is None
                       else ("passed" if v.passed else "FAILED") + f" its check against the float source: {v.cost()}")
            console.print(f"  precision: {v.precision}; {against}")
        for note in mb.notes:
            console.print(f"  note: {note}")
        seen: dict[str, list[str]] = {}  # one line per note, naming every path it applies to
        for p in mb.paths:
            for note in p.notes:
                seen.setdefault(note, []).append(p.id)
        for note, ids in seen.items():
            console.print(f"  {', '.join(ids)}: {note}")
    across = getattr(result, "recommended", None)
    if across is not None:
        console.print(f"[bold]recommended across precisions[/]: {across.path} ({across.why})" if across.path
                      else f"[bold red]no recommendation across precisions[/]: {across.why}")
