"""Answers drawn on the photo the model saw, with Pillow (a core dependency, so `ferry show` and the report need
no OpenCV): class ranking as a caption, label maps as a palette overlay, boxes with labels, scores and instance
masks, and difference pictures between two runtimes' answers.

Everything is drawn on the *model's view* (the photo resized by the contract), so boxes and maps need no
geometry undone and the picture shows exactly what the model was given. Small inputs are enlarged (nearest
neighbour) so a 48x64 view is still readable.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ferry.decode.answers import ClassAnswer, DetAnswer, PointsAnswer, SegAnswer, SeqAnswer
from ferry.decode.labels import label
from ferry.decode.palette import color_for, palette

MIN_HEIGHT = 240


def _font(size: int = 12):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _scale(h: int) -> int:
    return max(1, int(np.ceil(MIN_HEIGHT / max(h, 1))))


def _fit(img: Image.Image, width: int | None, smooth: bool = True) -> Image.Image:
    """Enlarged (nearest neighbour, whole steps) when small; shrunk to `width` when wider (the report's
    thumbnails: a 640x640 view is drawn at the 360 px it is shown at, not sent at full size and scaled down)."""
    k = _scale(img.height)
    if k > 1:
        img = img.resize((img.width * k, img.height * k), Image.NEAREST)
    if width is not None and img.width > width:
        img = img.resize((width, max(1, round(img.height * width / img.width))),
                         Image.LANCZOS if smooth else Image.BOX)
    return img


def view_image(view_bgr: np.ndarray, width: int | None = None) -> Image.Image:
    """The model's view (u8 BGR HxWx3) as an RGB Pillow image, enlarged when small, shrunk to `width` if wider."""
    rgb = np.ascontiguousarray(np.asarray(view_bgr)[..., ::-1])
    return _fit(Image.fromarray(rgb.astype(np.uint8), "RGB"), width)


def _mask_at(mask: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """A boolean map as an L image of `size`; shrinking keeps every set pixel visible (any set pixel under a
    thumbnail pixel sets it), so one differing pixel of 640x640 still shows at 360 px."""
    img = Image.fromarray(mask.astype(np.uint8) * 255, "L")
    if size[0] >= img.width and size[1] >= img.height:
        return img.resize(size, Image.NEAREST)
    return img.resize(size, Image.BOX).point(lambda v: 255 if v else 0)


def _caption(img: Image.Image, lines: list[str], color=(255, 255, 255)) -> Image.Image:
    font = _font(13)
    pad = 4
    line_h = 17
    out = Image.new("RGB", (img.width, img.height + pad * 3 + line_h * len(lines)), (24, 24, 24))
    out.paste(img, (0, 0))
    d = ImageDraw.Draw(out)
    for i, text in enumerate(lines):
        d.text((pad, img.height + pad + i * line_h), text, fill=color, font=font)
    return out


def _label_map_image(labels: np.ndarray, n: int, size: tuple[int, int], binary: bool) -> Image.Image:
    colours = palette(max(n, 2) + 1)[1:]  # skip VOC black so class 0 is visible too
    if binary:
        colours = np.array([[0, 0, 0], [255, 64, 64]], np.uint8)
    rgb = colours[np.clip(labels, 0, len(colours) - 1)]
    return Image.fromarray(rgb.astype(np.uint8), "RGB").resize(size, Image.NEAREST)


def draw_segment(view: Image.Image, ans: SegAnswer, alpha: float = 0.55) -> Image.Image:
    over = _label_map_image(ans.labels, ans.n_classes, view.size, ans.binary)
    if ans.binary or ans.channels:  # masks: only where a map is on, the photo left as it is elsewhere
        mask = Image.fromarray((ans.labels > 0).astype(np.uint8) * int(255 * alpha), "L").resize(view.size,
                                                                                                Image.NEAREST)
        return Image.composite(over, view, mask)
    return Image.blend(view, over, alpha)


def _box_pixels(ans: DetAnswer, size: tuple[int, int], model_size: tuple[int, int] | None) -> np.ndarray:
    w, h = size
    b = ans.boxes.astype(np.float64).copy()
    if ans.normalized:
        return b * [w, h, w, h]
    mh, mw = model_size or (h, w)
    return b * [w / mw, h / mh, w / mw, h / mh]


def draw_detect(view: Image.Image, ans: DetAnswer, names: list[str] | None = None, class_offset: int = 0,
                model_size: tuple[int, int] | None = None, threshold: float = 0.5,
                colours: list[tuple[int, int, int]] | None = None, width: int = 2) -> Image.Image:
    img = view.copy()
    boxes = _box_pixels(ans, img.size, model_size)
    font = _font(12)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        c = colours[k] if colours else color_for(int(ans.classes[k]))
        if ans.masks and ans.masks[k] is not None:
            m = np.asarray(ans.masks[k])
            bw, bh = max(1, int(round(x2 - x1))), max(1, int(round(y2 - y1)))
            if m.shape[:2] == (img.height, img.width) or min(m.shape[:2]) > 64:  # a full-image instance mask
                full = Image.fromarray(((m >= threshold) * 110).astype(np.uint8), "L").resize(img.size)
                img = Image.composite(Image.new("RGB", img.size, c), img, full)
            else:
                part = Image.fromarray(((m >= threshold) * 110).astype(np.uint8), "L").resize((bw, bh))
                layer = Image.new("L", img.size, 0)
                layer.paste(part, (int(round(x1)), int(round(y1))))
                img = Image.composite(Image.new("RGB", img.size, c), img, layer)
        d = ImageDraw.Draw(img)
        d.rectangle([x1, y1, x2, y2], outline=c, width=width)
        text = f"{label(names, int(ans.classes[k]), class_offset)} {float(ans.scores[k]):.2f}"
        tw = d.textlength(text, font=font)
        ty = max(0, y1 - 14)
        d.rectangle([x1, ty, x1 + tw + 4, ty + 14], fill=c)
        d.text((x1 + 2, ty), text, fill=(0, 0, 0), font=font)
    return img


def draw_points(view: Image.Image, ans: PointsAnswer, model_size: tuple[int, int]) -> Image.Image:
    """Each output's points as dots in its own colour, scaled from the model input to the picture."""
    img = view.copy()
    draw = ImageDraw.Draw(img)
    sx, sy = img.width / model_size[1], img.height / model_size[0]
    r = max(1, round(min(img.width, img.height) / 150))
    for i, p in enumerate(ans.points.values()):
        color = color_for(i + 1)
        for x, y in p:
            draw.ellipse((x * sx - r, y * sy - r, x * sx + r, y * sy + r), fill=color)
    return img


def _reading(ans: SeqAnswer, names: list[str] | None) -> list[str]:
    blank = "first" if ans.blank == 0 else "last"
    return [f"reads {ans.text(names)!r} (greedy CTC over {len(ans.top1)} positions, blank = the {blank} class)",
            f"mean top-1 probability {float(ans.probs.mean()):.3f}"]


def draw_answer(view_bgr: np.ndarray, ans, names: list[str] | None = None, class_offset: int = 0,
                threshold: float = 0.5, title: str | None = None, width: int | None = None) -> Image.Image:
    """One runtime's answer on the model's view, with a caption; `width` caps the picture's width."""
    view = view_image(view_bgr, width)
    model_size = tuple(np.asarray(view_bgr).shape[:2])
    lines = [title] if title else []
    if isinstance(ans, ClassAnswer):
        img = view
        lines += [f"{label(names, i, class_offset)}: {p:.3f}" for i, p in ans.top(3)]
    elif isinstance(ans, SeqAnswer):
        img = view
        lines += _reading(ans, names)
    elif isinstance(ans, SegAnswer):
        img = draw_segment(view, ans)
        counts = np.bincount(ans.labels.ravel(), minlength=ans.n_classes)
        top = np.argsort(-counts)[:3]
        names = ans.label_names() or names
        lines.append(", ".join(f"{label(names, int(c))} {counts[c] / ans.labels.size:.0%}" for c in top
                               if counts[c]))
    elif isinstance(ans, DetAnswer):
        img = draw_detect(view, ans, names, class_offset, model_size, threshold)
        lines.append(f"{len(ans.scores)} detection(s) at score >= {threshold:g}")
    elif isinstance(ans, PointsAnswer):
        img = draw_points(view, ans, model_size)
        lines += [f"{name}: {len(p)} points ({ans.how[name]})" for name, p in ans.points.items()]
    else:
        img = view
    return _caption(img, lines)


def diff_picture(view_bgr: np.ndarray, ref, tgt, names: list[str] | None = None, class_offset: int = 0,
                 threshold: float = 0.5, title: str = "difference", width: int | None = None) -> Image.Image:
    """Where two answers part, on a grey copy of the view: differing pixels in red (maps), reference boxes in
    green and target boxes in magenta (detections), the two top-1 classes (classification). `width` caps the
    picture's width; a shrunk map still shows every differing pixel. The grey is posterised to 16 levels: it is only
    the backdrop, and a lossless picture of it is a third the bytes (the report keeps these lossless)."""
    grey = view_image(view_bgr, width).convert("L").point(lambda v: v & 0xF0).convert("RGB")
    lines = [title]
    if isinstance(ref, SegAnswer) and isinstance(tgt, SegAnswer) and ref.labels.shape == tgt.labels.shape:
        differ = ref.labels != tgt.labels
        mask = _mask_at(differ, grey.size)
        img = Image.composite(Image.new("RGB", grey.size, (255, 0, 0)), grey, mask)
        lines.append(f"{int(differ.sum())} of {differ.size} pixels differ ({differ.mean():.2%})")
    elif isinstance(ref, DetAnswer) and isinstance(tgt, DetAnswer):
        size = tuple(np.asarray(view_bgr).shape[:2])
        img = draw_detect(grey, DetAnswer(ref.boxes, ref.scores, ref.classes, [], ref.normalized), names,
                          class_offset, size, threshold, colours=[(0, 200, 0)] * len(ref.scores), width=3)
        img = draw_detect(img, DetAnswer(tgt.boxes, tgt.scores, tgt.classes, [], tgt.normalized), names,
                          class_offset, size, threshold, colours=[(230, 0, 230)] * len(tgt.scores), width=1)
        lines.append(f"green: source ({len(ref.scores)}), magenta: target ({len(tgt.scores)})")
    elif isinstance(ref, SeqAnswer) and isinstance(tgt, SeqAnswer) and ref.top1.shape == tgt.top1.shape:
        img = grey
        moved = int(np.sum(ref.top1 != tgt.top1))
        same = "same reading" if ref.classes == tgt.classes else "READING DIFFERS"
        lines.append(f"{same}: {ref.text(names)!r} vs {tgt.text(names)!r}")
        lines.append(f"top-1 differs at {moved} of {len(ref.top1)} positions; largest probability change "
                     f"{float(np.max(np.abs(ref.probs - tgt.probs))):.3g}")
    elif isinstance(ref, ClassAnswer) and isinstance(tgt, ClassAnswer):
        img = grey
        (ri, rp), (ti, tp) = ref.top(1)[0], tgt.top(1)[0]
        same = "same top-1" if ri == ti else "TOP-1 DIFFERS"
        lines.append(f"{same}: {label(names, ri, class_offset)} {rp:.3f} vs {label(names, ti, class_offset)} {tp:.3f}")
        lines.append(f"largest probability change {float(np.max(np.abs(ref.probs - tgt.probs))):.3g}")
    else:
        img = grey
    return _caption(img, lines)


def tensor_diff_picture(ref: np.ndarray, tgt: np.ndarray, title: str = "|target - source|",
                        width: int | None = None) -> Image.Image | None:
    """A heat map of |target - source| for an output with two spatial dims (max over the rest), else None;
    `width` caps the picture's width."""
    r, t = np.asarray(ref, np.float64), np.asarray(tgt, np.float64)
    if r.shape != t.shape or r.ndim < 2:
        return None
    d = np.abs(t - r)
    while d.ndim > 2:
        axis = int(np.argmin(d.shape))
        d = d.max(axis=axis)
    if min(d.shape) < 4:
        return None
    peak = float(d.max()) if np.isfinite(d).all() else float("inf")
    v = np.zeros_like(d) if not peak or not np.isfinite(peak) else d / peak
    heat = np.stack([v * 255, v * 80, (1 - v) * 60], -1).astype(np.uint8)
    img = _fit(Image.fromarray(heat, "RGB"), width, smooth=False)
    return _caption(img, [title, f"max {peak:.3g}"])


def to_png(img: Image.Image) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
