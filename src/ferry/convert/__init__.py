"""Conversion to every deployment target through the real converters; see ferry.convert.core."""

from ferry.convert.core import TARGETS, convert
from ferry.convert.manifest import Manifest, TargetEntry

__all__ = ["TARGETS", "Manifest", "TargetEntry", "convert"]
