"""`ferry check --report report.html`: one self-contained HTML file a person can open anywhere and mail around.

Everything is inline: the CSS, and every picture as a `data:image/png;base64` URI, so the file has no
neighbours to lose and loads nothing from the network. For each kept photo it shows the source's answer, then
each target's answer and a difference picture (ferry.decode.draw), under the verdict and the tensor and task
tables. Written atomically; an existing file is replaced only when the caller says so.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from ferry.decode.draw import diff_picture, draw_answer, tensor_diff_picture, to_png

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:22px} h2{font-size:17px;margin-top:28px}
.pass{color:#0a0;font-weight:bold} .fail{color:#c00;font-weight:bold}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3} td.num{text-align:right;font-variant-numeric:tabular-nums}
.photos{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
figure{margin:0} figcaption{font-size:12px;color:#555;max-width:360px;word-break:break-all}
img{display:block;max-width:360px;image-rendering:pixelated;border:1px solid #999}
code{background:#f6f6f6;padding:1px 4px}
"""


def _img(pil, alt: str) -> str:
    data = base64.b64encode(to_png(pil)).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _fig(pil, caption: str) -> str:
    return f"<figure>{_img(pil, caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"


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

    if result.samples:
        parts.append("<h2>Photos</h2>")
    for s in result.samples:
        parts.append(f"<h3>{html.escape(Path(s.image).name)}</h3><div class='photos'>")
        ref_ans = decode(plan, s.source, result.threshold) if plan else None
        off = plan.class_offset if plan else 0
        parts.append(_fig(draw_answer(s.view, ref_ans, result.labels, off, result.threshold,
                                      "source"), f"source: {Path(result.source).name} ({result.source_runtime})"))
        for t, outs in zip(result.targets, s.targets, strict=False):
            if plan is not None and plan.task != "none" and set(plan.outputs) <= set(outs):
                ans = decode(plan, outs, result.threshold)
                parts.append(_fig(draw_answer(s.view, ans, result.labels, off, result.threshold, _name(t)),
                                  f"target: {_name(t)}"))
                parts.append(_fig(diff_picture(s.view, ref_ans, ans, result.labels, off, result.threshold,
                                               f"source vs {t.runtime}"), f"difference: {_name(t)}"))
            else:
                for name, arr in outs.items():
                    pic = tensor_diff_picture(s.source[name], arr, f"|{t.runtime} - source| {name}")
                    if pic is not None:
                        parts.append(_fig(pic, f"difference of {name}: {_name(t)}"))
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(result, path: str | Path, force: bool = True) -> Path:
    """Write the report atomically. `force=False` refuses to replace an existing file."""
    from ferry.errors import FerryError
    from ferry.io import atomic_write_text

    out = Path(path)
    if out.exists() and not force:
        raise FerryError(f"{out}: exists; pass --force to replace it")
    atomic_write_text(out, render(result))
    return out
