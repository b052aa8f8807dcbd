"""Decoding model outputs into answers (class ranking, label map, detections) and drawing them on the photo."""

from ferry.decode.answers import ClassAnswer, DetAnswer, SegAnswer, decode_classify, decode_segment
from ferry.decode.labels import load_labels
from ferry.decode.palette import palette

__all__ = ["ClassAnswer", "DetAnswer", "SegAnswer", "decode_classify", "decode_segment", "load_labels", "palette"]
