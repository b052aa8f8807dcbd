"""Seeded small Ultralytics-style YOLO exports (issue 15 item 6): the heads and the ONNX metadata
`yolo export format=onnx` writes, built here with torch.nn alone and exported with the legacy exporter (opset 17).

    detect.onnx    images [1, 3, 128, 128] -> output0 [1, 4 + NC, N]: cx, cy, w, h in input pixels (anchor points at
                   strides 8/16/32 plus a tanh offset, sizes sigmoid * 6 strides) and NC sigmoid class scores, no
                   objectness, N = 16*16 + 8*8 + 4*4 = 336
    segment.onnx   the same plus P = 32 mask coefficients per candidate (output0 [1, 4 + NC + 32, N]) and
                   output1 prototypes [1, 32, 32, 32] (1/4 of the input)
    yolov5.onnx    a YOLOv5-family head: output0 [1, N, 5 + NC] (candidates first), cx, cy, w, h, a sigmoid
                   objectness and NC sigmoid class scores; metadata exactly stride and names, as
                   ultralytics/yolov5's export.py writes it
Metadata: author Ultralytics, task, imgsz "[128, 128]", stride 32, batch 1, names "{0: 'person', ...}".
The class scores carry a gain so that a good share of candidates clear 0.5 on real photos, and the first
convolution has random per-channel weights, so BGR for RGB or 0..255 for 0..1 moves boxes and scores.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch_models

NC, P, SIZE = 3, 32, 128
NAMES = {0: "person", 1: "bicycle", 2: "car"}


def _net(seg: bool, v5: bool = False):
    import torch
    from torch import nn

    torch.manual_seed(3)

    class Yolo(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.SiLU(), nn.Conv2d(16, 16, 3, 2, 1), nn.SiLU())
            self.down = nn.ModuleList(nn.Conv2d(16 if i == 0 else 32, 32, 3, 2, 1) for i in range(3))
            self.heads = nn.ModuleList(nn.Conv2d(32, 4 + int(v5) + NC + (P if seg else 0), 1) for _ in range(3))
            self.proto = nn.Conv2d(16, P, 3, 1, 1)
            for m in self.modules():  # wider than torch's default init, so the features follow the photo
                if isinstance(m, nn.Conv2d):
                    fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                    nn.init.normal_(m.weight, 0.0, 2.0 / fan_in ** 0.5)

        def forward(self, x):
            f4 = self.stem(x)
            f, rows = f4, []
            for i, (down, head) in enumerate(zip(self.down, self.heads, strict=True)):
                f = torch.nn.functional.silu(down(f))
                o = head(f)
                stride = 8 * 2 ** i
                h, w = o.shape[2], o.shape[3]
                gy = torch.arange(h, dtype=o.dtype).view(1, h, 1).expand(1, h, w)
                gx = torch.arange(w, dtype=o.dtype).view(1, 1, w).expand(1, h, w)
                cx = (gx + 0.5 + torch.tanh(o[:, 0])) * stride
                cy = (gy + 0.5 + torch.tanh(o[:, 1])) * stride
                bw = torch.sigmoid(o[:, 2]) * 6 * stride
                bh = torch.sigmoid(o[:, 3]) * 6 * stride
                z = o[:, 4:4 + int(v5) + NC]
                z = z - z.mean(dim=(2, 3), keepdim=True)
                z = z / (z.abs().mean(dim=(2, 3), keepdim=True) + 1e-6)
                cls = torch.sigmoid(3 * z - (3 if v5 else 6))  # normalised over the level: a few clear 0.5
                parts = [cx[:, None], cy[:, None], bw[:, None], bh[:, None], cls]
                if seg:
                    parts.append(o[:, 4 + NC:])
                rows.append(torch.cat(parts, 1).flatten(2))
            out0 = torch.cat(rows, 2)
            if v5:
                return out0.transpose(1, 2)  # YOLOv5: [1, N, 5 + NC]
            return (out0, 4 * self.proto(f4)) if seg else out0

    return Yolo().eval()


def export(task: str) -> Path:
    """The cached export for `task` ("detect", "segment" or "yolov5")."""
    dest = torch_models.keyed_cache_dir("yolo", __file__) / f"{task}.onnx"
    if dest.is_file():
        return dest
    import onnx
    import torch

    seg, v5 = task == "segment", task == "yolov5"
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=dest.parent)
    os.close(fd)
    try:
        torch.onnx.export(_net(seg, v5), torch.rand(1, 3, SIZE, SIZE), tmp, dynamo=False, opset_version=17,
                          input_names=["images"], output_names=["output0", "output1"] if seg else ["output0"])
        proto = onnx.load(tmp)
        meta = {"description": f"Ultralytics YOLO11n-{task} (seeded test model)", "author": "Ultralytics",
                "version": "8.3.0", "license": "AGPL-3.0 License (https://ultralytics.com/license)",
                "stride": "32", "task": task, "batch": "1", "imgsz": f"[{SIZE}, {SIZE}]", "names": str(NAMES)}
        if v5:  # ultralytics/yolov5 export.py: d = {"stride": int(max(model.stride)), "names": model.names}
            meta = {"stride": "32", "names": str(NAMES)}
        for k, v in meta.items():
            proto.metadata_props.add(key=k, value=v)
        onnx.save(proto, tmp)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest
