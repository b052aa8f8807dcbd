"""Resident memory of this process: the high-water mark (VmHWM, else getrusage) and the current value (statm).

psutil would do the same but is not a ferry dependency; the standard library covers Linux and macOS. The
high-water mark only means something per process, which is why `ferry bench` runs each runtime in its own child.
"""

from __future__ import annotations

import os
import resource
import sys


def peak_rss_mb() -> float:
    """The largest resident set this process image has had, in MiB.

    Linux: VmHWM from /proc/self/status, the high-water mark of this process's own address space. Not
    getrusage's ru_maxrss: Linux carries that across fork and exec (measured here: every child started from a
    200 MB parent reported 195 MB, whatever it ran). Elsewhere ru_maxrss (bytes on macOS)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def current_rss_mb() -> float | None:
    """The resident set now, in MiB (Linux); None where /proc is not there."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
