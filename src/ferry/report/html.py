"""`ferry check --report report.html`: one self-contained HTML file a person can open anywhere and mail around.

Everything is inline: the CSS, and every picture as a `data:` URI, so the file has no neighbours to lose and loads
nothing from the network. Pictures are drawn at the size they are shown (THUMB px wide), answers as JPEG and
difference pictures losslessly (WebP or PNG, the smaller; a differing pixel stays pure red): a 640x640 segmenter
on 7 photos with two targets was 16 MB of full-size PNGs and is now well under 3 MB. A click opens the full-size
picture (a CSS :target overlay, no script, no data: navigation that browsers block) only where it is small
(FULL_MAX bytes, FULL_BUDGET for the whole report); otherwise there is no link. Per photo one row: the source's
answer once, then each target's answer and its difference beside it. A target that could not load has its own
row with the reason. Written atomically; an existing file is replaced only when the caller says so.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferry.decode.draw import diff_picture, draw_answer, tensor_diff_picture

THUMB = 360  # px: the width a picture is shown at (img max-width below), and drawn at
FULL_MAX = 150_000  # bytes: a full-size picture larger than this gets no link (the thumbnail is all there is)
FULL_BUDGET = 600_000  # bytes of full-size pictures in one report, so more photos do not mean a bigger file
FULL_MIN = 20_000  # bytes: budget left below which no full-size picture is tried
JPEG_QUALITY = 85

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:22px} h2{font-size:17px;margin-top:28px}
.pass{color:#0a0;font-weight:bold} .fail{color:#c00;font-weight:bold}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3} td.num{text-align:right;font-variant-numeric:tabular-nums}
table.photos td{vertical-align:top} .pair{display:flex;gap:8px;align-items:flex-start}
figure{margin:0} figcaption{font-size:12px;color:#555;max-width:360px;word-break:break-all}
img{display:block;max-width:360px;image-rendering:pixelated;border:1px solid #999}
a.full{display:none} a.full:target{display:flex;position:fixed;inset:0;background:rgba(0,0,0,.85);
align-items:center;justify-content:center;z-index:9} a.full img{max-width:96vw;max-height:96vh}
code{background:#f6f6f6;padding:1px 4px}
"""


def _encode(pil, exact: bool) -> tuple[str, bytes]:
    """(mime, bytes): JPEG for an answer on the photo; a difference picture, whose red pixels must stay red, as
    lossless WebP (half a PNG's bytes at a tenth of `optimize`'s time), PNG where Pillow lacks WebP."""
    from PIL import features

    pil = pil.convert("RGB")
    buf = io.BytesIO()
    if not exact:
        pil.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        return "image/jpeg", buf.getvalue()
    if features.check("webp"):
        pil.save(buf, format="WEBP", lossless=True, method=2)
        return "image/webp", buf.getvalue()
    pil.save(buf, format="PNG")
    return "image/png", buf.getvalue()


def _uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


@dataclass
class _Pictures:
    """Figures for one report, with the full-size budget they share."""

    full_left: int = FULL_BUDGET
    count: int = 0

    def fig(self, draw, caption: str, exact: bool = False) -> str:
        """`draw(width)` makes the picture: at THUMB for the page, at None (full size) for the click."""
        thumb = draw(THUMB)
        if thumb is None:
            return ""
        mime, data = _encode(thumb, exact)
        img = f'<img class="thumb" alt="{html.escape(caption)}" src="{_uri(mime, data)}">'
        full = draw(None) if self.full_left >= FULL_MIN else None  # spent: not drawn at all
        if full is not None and full.width > thumb.width:
            fmime, fdata = _encode(full, exact)
            if len(fdata) <= min(FULL_MAX, self.full_left):
                self.full_left -= len(fdata)
                self.count += 1
                fid = f"full{self.count}"
                img = (f'<a href="#{fid}" title="full size">{img}</a><a class="full" id="{fid}" href="#_">'
                       f'<img alt="{html.escape(caption)} (full size)" src="{_uri(fmime, fdata)}"></a>')
        return f"<figure>{img}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return html.escape(str(v))


def _verdict(ok: bool) -> str:
    return '<span class="pass">pass</span>' if ok else '<span class="fail">FAIL</span>'


def _name(t) -> str:
    return f"{Path(t.path).name} ({t.runtime})"


def render(result) -> str:
    """The report as one HTML string."""
    from ferry.compare.task import decode

    plan = result.plan
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>ferry check report</title>",
             f"<style>{CSS}</style></head><body>"]
    verdict = ('<span class="pass">PASSED</span>: every target gives the source\'s answers' if result.passed
               else '<span class="fail">FAILED</span>: ' + html.escape(", ".join(_name(t) for t in result.targets
                                                                               if not t.passed)))
    parts.append(f"<h1>ferry check: {verdict}</h1>")
    p = result.preprocess
    parts.append(f"<p>source <code>{html.escape(result.source)}</code> ({html.escape(result.source_runtime)}), "
                 f"{len(result.images)} photo(s). Contract: {html.escape(p.color)}, scale {p.scale:.6g}, "
                 f"mean {list(p.mean)}, std {list(p.std)}, size {list(p.size) if p.size else None}, "
                 f"{html.escape(p.layout or '')}, resize {html.escape(p.resize.mode)}.</p>")
    if plan is not None:
        parts.append(f"<p>Task: <b>{html.escape(plan.task)}</b>: {html.escape(plan.why)} "
                     f"(threshold {result.threshold:g}).</p>")

    parts.append("<h2>Outputs (tensor parity)</h2><table><tr><th>target</th><th>output</th><th>max abs</th>"
                 "<th>max rel</th><th>mean abs</th><th>cosine</th><th>within tol</th><th>atol / rtol</th>"
                 "<th>tensor</th></tr>")
    for t in result.targets:
        if t.error is not None:
            parts.append(f"<tr class='unloadable'><td>{html.escape(_name(t))}</td><td colspan=7>could not load: "
                         f"{html.escape(t.error)}</td><td>{_verdict(False)}</td></tr>")
        kind = (t.precision or {}).get("kind", "fp32")  # ferry.precision: reduced-precision rows say so
        for o in t.outputs:
            parts.append(f"<tr><td>{html.escape(_name(t))} ({html.escape(kind)})</td><td>{html.escape(o.name)}</td>"
                         f"<td class=num>{_fmt(o.max_abs)}</td><td class=num>{_fmt(o.max_rel)}</td>"
                         f"<td class=num>{_fmt(o.mean_abs)}</td><td class=num>{o.cosine:.6f}</td>"
                         f"<td class=num>{o.within:.2%}</td><td class=num>{o.atol:.3g} / {o.rtol:.3g}</td>"
                         f"<td>{_verdict(o.passed)} {html.escape(o.reason or '')}</td></tr>")
    parts.append("</table>")

    if any(t.task for t in result.targets):
        parts.append("<h2>Answers (task parity)</h2><table><tr><th>target</th><th>task</th><th>metrics</th>"
                     "<th>tolerances</th><th>task</th><th>verdict</th></tr>")
        for t in result.targets:
            if t.task is None:
                continue
            d = t.task.to_dict()
            metrics = "<br>".join(f"{html.escape(k)}: {_fmt(v)}" for k, v in d["metrics"].items())
            tols = "<br>".join(f"{html.escape(k)}: {_fmt(v)}" for k, v in d["tolerances"].items())
            parts.append(f"<tr><td>{html.escape(_name(t))}</td><td>{html.escape(d['task'])}</td>"
                         f"<td>{metrics}</td><td>{tols}</td>"
                         f"<td>{_verdict(d['passed'])} {html.escape(d['reason'] or '')}</td>"
                         f"<td>{_verdict(t.passed)}</td></tr>")
        parts.append("</table>")

    for t in result.targets:
        if t.bisect:
            b = t.bisect
            if b.get("found"):
                text = (f"first layer that parts: <b>{html.escape(str(b['node']))}</b> "
                        f"({html.escape(str(b['op_type']))}), tensor {html.escape(str(b['tensor']))}, "
                        f"max abs {_fmt(b.get('max_abs'))}, cosine {_fmt(b.get('cosine'))}")
            else:
                text = html.escape(str(b.get("reason", "no layer found")))
            parts.append(f"<h2>Bisect: {html.escape(_name(t))}</h2><p>{text}</p>")

    parts.extend(_photos(result, plan, decode))
    parts.append("</body></html>")
    return "\n".join(parts)


def _photos(result, plan, decode) -> list[str]:
    """One table row per kept photo: the source's answer once, then each loaded target's answer and difference."""
    if not result.samples:
        return []
    loaded = [t for t in result.targets if t.error is None]  # samples hold outputs of the targets that ran
    pics = _Pictures()
    off = plan.class_offset if plan else 0
    labels, thr = result.labels, result.threshold
    head = "".join(f"<th>{html.escape(_name(t))}</th>" for t in loaded)
    parts = ["<h2>Photos</h2><table class='photos'><tr><th>photo</th>"
             f"<th>source: {html.escape(Path(result.source).name)} ({html.escape(result.source_runtime)})</th>"
             f"{head}</tr>"]
    for s in result.samples:
        ref_ans = decode(plan, s.source, thr) if plan else None
        src = pics.fig(lambda w, s=s, r=ref_ans: draw_answer(s.view, r, labels, off, thr, "source", w),
                       f"source: {Path(result.source).name} ({result.source_runtime})")
        cells = []
        for t, outs in zip(loaded, s.targets, strict=False):
            figs = []
            if plan is not None and plan.task != "none" and set(plan.outputs) <= set(outs):
                ans = decode(plan, outs, thr, like=ref_ans)
                figs.append(pics.fig(lambda w, s=s, a=ans, t=t: draw_answer(s.view, a, labels, off, thr, _name(t), w),
                                     f"target: {_name(t)}"))
                figs.append(pics.fig(lambda w, s=s, a=ans, r=ref_ans, t=t: diff_picture(
                    s.view, r, a, labels, off, thr, f"source vs {t.runtime}", w), f"difference: {_name(t)}",
                    exact=True))
            else:
                for name, arr in outs.items():
                    figs.append(pics.fig(lambda w, s=s, n=name, a=arr, t=t: tensor_diff_picture(
                        s.source[n], a, f"|{t.runtime} - source| {n}", w), f"difference of {name}: {_name(t)}",
                        exact=True))
            cells.append(f"<td><div class='pair'>{''.join(figs)}</div></td>")
        parts.append(f"<tr><td>{html.escape(Path(s.image).name)}</td><td>{src}</td>{''.join(cells)}</tr>")
    parts.append("</table>")
    return parts


def write_report(result, path: str | Path, force: bool = True) -> Path:
    """Write the report atomically. `force=False` refuses to replace an existing file."""
    from ferry.errors import FerryError
    from ferry.io import atomic_write_text

    out = Path(path)
    if out.exists() and not force:
        raise FerryError(f"{out}: exists; pass --force to replace it")
    atomic_write_text(out, render(result))
    return out
