"""The timing method: warm-up calls, then timed calls, each one batch of decoded images in and outputs out.

Written here rather than taken from a library: timeit and pyperf time a statement in a loop and report means or
run whole processes per benchmark; ferry needs per-call percentiles (p50/p90/p99) of one path in a process that
already holds the loaded model, and a progress callback between calls. `time.perf_counter_ns` and
`numpy.percentile` are all it takes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Method:
    """How every path is timed; printed with the results."""

    warmup: int = 5
    iterations: int = 50
    batch: int = 1
    threads: int = 0  # 0: each runtime's own default
    timed: str = ("one call = `batch` decoded BGR uint8 photos at their own size in -> the path's preprocessing "
                  "(host or in-graph) -> inference -> outputs as numpy arrays; decoding the file is not timed")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Stats:
    """Per-call latency in milliseconds after the warm-up, and the throughput that implies (one stream)."""

    calls: int
    images_per_call: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    throughput_ips: float  # images per second: images_per_call / mean call time

    @property
    def per_image_ms(self) -> float:
        return self.p50_ms / max(1, self.images_per_call)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "per_image_ms": self.per_image_ms}


def timed_once(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(milliseconds, result) of one call."""
    t0 = time.perf_counter_ns()
    out = fn()
    return (time.perf_counter_ns() - t0) / 1e6, out


def time_calls(call: Callable[[int], Any], images_per_call: int, warmup: int, iterations: int,
               tick: Callable[[], None] | None = None) -> Stats:
    """Run `call(i)` `warmup` times untimed, then `iterations` times timed (i counts every call, so the caller
    can rotate through its photos)."""
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    for i in range(warmup):
        call(i)
        if tick:
            tick()
    samples = np.empty(iterations, dtype=np.float64)
    for j in range(iterations):
        t0 = time.perf_counter_ns()
        call(warmup + j)
        samples[j] = (time.perf_counter_ns() - t0) / 1e6
        if tick:
            tick()
    p50, p90, p99 = np.percentile(samples, [50, 90, 99])
    mean = float(samples.mean())
    return Stats(calls=iterations, images_per_call=images_per_call, p50_ms=float(p50), p90_ms=float(p90),
                 p99_ms=float(p99), mean_ms=mean, min_ms=float(samples.min()),
                 throughput_ips=images_per_call * 1e3 / mean if mean > 0 else float("inf"))
