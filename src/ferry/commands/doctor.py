"""`ferry doctor MODEL --images ...`: why the outputs are wrong, and the fix in the user's runtime's terms.

Exit 0: a confident diagnosis; 1: not sure (or no candidate reproduces the reference); 2: bad input."""

from __future__ import annotations

import json

from ferry.commands import EXIT_DIFF, EXIT_PASS, add_json
from ferry.errors import FerryError
from ferry.io import to_json
from ferry.report.paste import paste


def add_parser(sub) -> None:
    p = sub.add_parser("doctor", help="find the preprocessing the model wants, and how to feed it in your runtime")
    p.add_argument("model")
    p.add_argument("--images", nargs="+", required=True, help="photos or directories of photos")
    p.add_argument("--reference", help="the model that gives the right answers (e.g. the torch source)")
    p.add_argument("--reference-preprocess", help="the reference's contract (default: the one embedded in it)")
    p.add_argument("--preprocess", help="what you feed MODEL today (preset or YAML/JSON contract), if known")
    p.add_argument("--expect", help="photos with known answers: YAML/JSON mapping photo file name -> class index "
                   "(or name, with --labels); or give --images one ImageFolder directory (a folder per class)")
    p.add_argument("--labels", help="class names, one a line or JSON, to read class names in --expect or folders")
    p.add_argument("--runtime", help="runtime to run MODEL in (default: the format's own)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--top", type=int, default=10, help="rows of the ranked table")
    add_json(p)


def run(args) -> int:
    from ferry.doctor import diagnose

    if args.batch < 1 or args.top < 1:
        raise FerryError("--batch and --top must be at least 1")
    if args.reference_preprocess and not args.reference:
        raise FerryError("--reference-preprocess needs --reference")
    if args.expect and args.reference:
        raise FerryError("--expect and --reference are two ways to judge the candidates: give one")
    from ferry.decode.labels import load_labels
    from ferry.doctor.expect import load_expect

    labels = load_labels(args.labels)
    expect = load_expect(args.expect, labels) if args.expect else None
    from ferry.progress import Bar, wanted

    with Bar(wanted(args.json)) as bar:  # on a terminal only: candidate runs (candidates x photos) of each round
        d = diagnose(args.model, args.images, reference=args.reference,
                     reference_preprocess=args.reference_preprocess, preprocess=args.preprocess, runtime=args.runtime,
                     batch=args.batch, expect=expect, labels=labels,
                     progress=bar.counter("doctor: candidate contracts through the model", unit="runs"))
    if args.json:
        print(to_json(d.to_dict()))
    else:
        _print(d, args.top)
    return EXIT_PASS if d.confident else EXIT_DIFF


def _print(d, top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    from ferry.doctor.fix import fixes

    con = Console()
    t = Table(title=f"ferry doctor ({d.mode}): candidates ranked", show_lines=False)
    t.add_column("#", justify="right")
    t.add_column("candidate")
    t.add_column("score", justify="right")
    t.add_column("evidence")
    for i, s in enumerate(d.candidates[:top], 1):
        ev = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in s.evidence.items())
        name = s.candidate.name + (f" (= {', '.join(s.same_as)})" if s.same_as else "")
        t.add_row(str(i), name, f"{s.score:.4f}", ev)
    con.print(t)
    verdict = "confident" if d.confident else "NOT SURE"
    con.print(f"[bold]{verdict}[/bold] ({d.mode}): the model wants {d.name}", markup=True, highlight=False)
    words = {"range": "range and normalisation", "color": "colour order", "layout": "layout", "resize": "resize"}
    for q, ok in d.sure.items():
        con.print(f"  {words[q]}: {'sure' if ok else 'not sure'} - {d.why.get(q, '')}", markup=False,
                  highlight=False)
    for n in d.notes:
        con.print(f"note: {n}")
    if d.differences:
        con.print("\n[bold]What you do differently[/bold]")
        for line in d.differences:
            con.print(f"  - {line}")
    con.print("\n[bold]The contract the model wants[/bold] (save as YAML, pass as --preprocess)")
    paste(d.best.to_yaml().rstrip("\n"))
    con.print("[bold]How to feed it[/bold]")
    for name, fix in fixes(d.best).items():
        if name == "timm_hf":
            paste(f"# timm pretrained_cfg: {json.dumps(fix['timm'])}")
            paste(f"# Hugging Face preprocessor_config.json: {json.dumps(fix['hf'])}")
            for n in fix["notes"]:
                paste(f"#   {n}")
        elif "code" in fix:
            paste(f"# {name}" + ("" if fix.get("exact", True) else " (approximate)"))
            paste(fix["code"])
            for n in fix.get("notes", []):
                paste(f"#   {n}")
