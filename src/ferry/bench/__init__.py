"""`ferry bench`: which deployment path is fastest for this model, preprocessing included, and does it still give
the model's answers. See core.py (the flow), paths.py (the paths), worker.py (one runtime per child process),
timing.py (the method), recommend.py (the choice)."""

from __future__ import annotations

from ferry.bench.core import BenchResult, ModelBench, PathResult, bench
from ferry.bench.paths import PathSpec
from ferry.bench.recommend import Recommendation, recommend

__all__ = ["BenchResult", "ModelBench", "PathResult", "PathSpec", "Recommendation", "bench", "recommend"]
