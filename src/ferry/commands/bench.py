"""`ferry bench MODEL...`: every deployment path timed from the decoded photo, with parity and a recommendation."""

from __future__ import annotations

from ferry.commands import EXIT_DIFF, EXIT_PASS, add_json, split_list
from ferry.io import to_json


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="time every deployment path (runtime x where preprocessing runs), check "
                       "parity, recommend the fastest that passes")
    p.add_argument("models", nargs="+")
    p.add_argument("--images", nargs="+", help="photos or directories (default: one synthetic 1920x1080 frame)")
    p.add_argument("--runtimes", help="comma-separated: onnxruntime,openvino,opencv,tflite,coreml,torch,tensorflow")
    p.add_argument("--batch", type=int, default=1, help="photos per call (1)")
    p.add_argument("--threads", type=int, default=0, help="threads per runtime (0: the runtime's default)")
    p.add_argument("--preprocess", help="preset (imagenet, caffe, tf, unit, raw) or YAML/JSON contract; default: "
                   "the one embedded in the model")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls before timing (5)")
    p.add_argument("--iterations", type=int, default=50, help="timed calls per path (50)")
    p.add_argument("--atol", type=float, default=None, help="parity tolerance, as in ferry check (1e-4)")
    p.add_argument("--rtol", type=float, default=None, help="parity tolerance, as in ferry check (1e-3)")
    p.add_argument("--no-isolate", action="store_true", help="run every runtime in this process (no memory figures)")
    add_json(p)


def run(args) -> int:
    from ferry.bench import bench
    from ferry.compare.tensor import DEFAULT_ATOL, DEFAULT_RTOL

    kwargs = dict(images=args.images, runtimes=split_list(args.runtimes), batch=args.batch, threads=args.threads,
                  preprocess=args.preprocess, warmup=args.warmup, iterations=args.iterations,
                  isolate=not args.no_isolate,
                  atol=DEFAULT_ATOL if args.atol is None else args.atol,
                  rtol=DEFAULT_RTOL if args.rtol is None else args.rtol)
    if args.json:
        result = bench(args.models, **kwargs)
        print(to_json(result.to_dict()))
    else:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        from ferry.bench.report import print_bench

        console = Console(stderr=True)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console,
                      transient=True) as bar:
            tasks: dict[str, int] = {}

            def progress(path_id: str, done: int, total: int) -> None:
                if path_id not in tasks:
                    tasks[path_id] = bar.add_task(path_id, total=total)
                bar.update(tasks[path_id], completed=done)

            result = bench(args.models, progress=progress, **kwargs)
        print_bench(result)
    ok = all(m.recommendation.path is not None for m in result.models)
    return EXIT_PASS if ok else EXIT_DIFF
