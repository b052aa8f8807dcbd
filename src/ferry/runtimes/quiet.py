"""Keep the frameworks' chatter off stderr while a model loads, so a bad file gets ferry's one line and nothing else.

TensorFlow prints "oneDNN custom operations are on" and absl's "All log messages before absl::InitializeLog()" from
C++ at import, whatever TF_CPP_MIN_LOG_LEVEL says; OpenVINO's bundled TensorFlow frontend logs protobuf parse errors
(`text_format.cc`) when it probes a file that is not its own; coremltools warns through Python. None of it is the
answer, and the one-line error that follows is. So:

- `framework_env()` sets the frameworks' quiet switches with setdefault (a user's own value always wins), before
  they are imported: TF_CPP_MIN_LOG_LEVEL=3, absl's and coremltools' Python loggers at ERROR. TF_ENABLE_ONEDNN_OPTS is
  left alone: turning oneDNN off would change TensorFlow's numbers, which is what `ferry check` measures.
- `quiet_load()` sends file descriptor 2 to a temporary file around a load (C++ writes there directly, past Python),
  and Python warnings nowhere. With `ferry --debug` (set_debug) the captured text is written back to stderr after
  the load, so nothing is lost to someone who asks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator

_DEBUG = False
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "ORT_DISABLE_TELEMETRY": "1"}
QUIET_LOGGERS = ("absl", "tensorflow", "coremltools", "openvino")


def set_debug(on: bool) -> None:
    """`ferry --debug`: replay what a load printed instead of dropping it."""
    global _DEBUG
    _DEBUG = on


def framework_env() -> None:
    """The frameworks' quiet settings, each only where the user set nothing; call before importing them."""
    for k, v in QUIET_ENV.items():
        os.environ.setdefault(k, v)
    for name in QUIET_LOGGERS:
        lg = logging.getLogger(name)
        if lg.level == logging.NOTSET:  # a level the user set stays
            lg.setLevel(logging.ERROR)


@contextlib.contextmanager
def quiet_load() -> Iterator[None]:
    """File descriptor 2 and Python warnings silenced for the block; replayed on stderr after it with --debug."""
    framework_env()
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (an embedding host): nothing to redirect
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
        return
    sink = tempfile.TemporaryFile()
    os.dup2(sink.fileno(), 2)
    try:
        with warnings.catch_warnings():
            if not _DEBUG:
                warnings.simplefilter("ignore")
            yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        if _DEBUG:
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            if text:
                sys.stderr.write(text)
                sys.stderr.flush()
        sink.close()
