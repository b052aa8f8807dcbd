"""`ferry show MODEL IMAGE -o out.png`: one runtime's answer on one photo, drawn (classes, mask, boxes)."""

from __future__ import annotations

from pathlib import Path

from ferry.commands import EXIT_PASS
from ferry.errors import FerryError


def add_parser(sub) -> None:
    p = sub.add_parser("show", help="run one runtime on one photo and draw its answer")
    p.add_argument("model")
    p.add_argument("image")
    p.add_argument("--preprocess", help="preset or YAML/JSON contract (default: the one in the model)")
    p.add_argument("--runtime", help="onnxruntime, openvino, opencv, tflite, torch, tensorflow")
    p.add_argument("--task", default="auto",
                   help="classify, segment, detect, landmarks (regression heads read as points) or auto (default)")
    p.add_argument("--threshold", type=float, default=0.5, help="binary masks and detection scores (0.5)")
    p.add_argument("--labels", help="class names: one a line, or a JSON list / id2label object")
    p.add_argument("-o", "--output", required=True, help="PNG to write")
    p.add_argument("--force", action="store_true", help="replace an existing output file")


def render(model_path: str | Path, image: str | Path, preprocess=None, runtime: str | None = None,
           task: str = "auto", threshold: float = 0.5, labels=None):
    """(Pillow image, TaskPlan, answer): the model's answer on the photo as that runtime gives it."""
    from ferry.check import resolve_contract, task_hint
    from ferry.compare.task import decode, pick_task
    from ferry.decode.draw import draw_answer
    from ferry.decode.labels import load_labels
    from ferry.images import load_image
    from ferry.preprocess.reference import resize_batch
    from ferry.runtimes import load

    if not 0.0 <= threshold <= 1.0:
        raise FerryError(f"--threshold {threshold}: must be between 0 and 1")
    names = list(labels) if isinstance(labels, list) else load_labels(labels)
    pixels = load_image(image)
    model = load(model_path, runtime)
    contract = model.resolve(resolve_contract(model, preprocess))
    if names is None:
        from ferry.check import stated_labels

        names = stated_labels(model)  # an Ultralytics export's names, a PaddleOCR recogniser's characters
    outs = model.run_image([pixels], contract)
    one = {k: (v[:1] if getattr(v, "ndim", 0) and v.shape[0] == 1 else v) for k, v in outs.items()}
    view = resize_batch([pixels], contract)[0]
    title = f"{Path(model_path).name} ({model.runtime})"
    if task == "landmarks":
        from ferry.compare.task import TaskPlan
        from ferry.decode.answers import decode_points

        answer = decode_points(one, tuple(view.shape[:2]))
        if not answer.points:
            raise FerryError(f"{model_path}: no output reads as points inside the input (x,y or x,y,z, in pixels "
                             "or 0..1 of it); nothing to draw as landmarks")
        plan = TaskPlan("none", "landmarks: " + ", ".join(f"{k} as {v}" for k, v in answer.how.items()))
        return draw_answer(view, answer, None, 0, threshold, f"{title}: landmarks"), plan, answer
    plan = pick_task(task, one, stated=task_hint(model))
    if plan.task == "none":
        what = plan.why.removeprefix("auto: ").split("; tensor comparison only")[0]
        raise FerryError(f"{model_path}: ferry show draws class scores, masks, boxes and text readings, and this "
                         f"model gives none of them ({what}); `ferry check` compares its outputs as tensors; pass "
                         "--task landmarks to draw its outputs as points, or --task classify|segment|detect if one "
                         "output is one of those")
    answer = decode(plan, one, threshold)
    return draw_answer(view, answer, names, plan.class_offset, threshold, f"{title}: {plan.task}"), plan, answer


def run(args) -> int:
    from ferry.decode.draw import to_png
    from ferry.io import atomic_write_bytes

    out = Path(args.output)
    if out.exists() and not args.force:
        raise FerryError(f"{out}: exists; pass --force to replace it")
    if out.suffix.lower() != ".png":
        raise FerryError(f"{out}: ferry show writes PNG; name the output *.png")
    for given in (args.model, args.image):
        if Path(given).exists() and out.resolve() == Path(given).resolve():
            raise FerryError(f"{out}: is an input; ferry never overwrites what you gave it")
    img, plan, answer = render(args.model, args.image, args.preprocess, args.runtime, args.task, args.threshold,
                               args.labels)
    atomic_write_bytes(out, to_png(img))
    print(f"{plan.why}")
    print(f"wrote {out} ({img.width}x{img.height})")
    return EXIT_PASS
