"""What the Python sides of tools/bench share: the tasks, timing, and the JSON line format."""
import json
import os
import statistics
import time

SCALE = float(os.environ.get("MPROC_BENCH_SCALE", "1"))
REPS = 3


def empty(x):
    return x


def cpu_span(span):
    """The seeds' CPU-bound task: the sum of i + i^2 + i^3 over [start, stop)."""
    s = 0
    for i in range(span[0], span[1]):
        s += i + i * i + i * i * i
    return s


def spans(total, parts=64):
    return [(total * i // parts, total * (i + 1) // parts) for i in range(parts)]


def emit(impl, workers, figure, value, unit):
    print(json.dumps({"impl": impl, "workers": workers, "figure": figure,
                      "value": value, "unit": unit}), flush=True)


def rate(items, fn):
    """Median items/s over REPS runs of fn."""
    rates = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        fn()
        rates.append(items / (time.perf_counter() - t0))
    return statistics.median(rates)


def median_seconds(fn):
    times = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
