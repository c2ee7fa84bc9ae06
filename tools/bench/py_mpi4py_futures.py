"""mpi4py.futures' side of tools/bench, as JSON lines.

Run as: mpirun -np W+1 python3 -m mpi4py.futures py_mpi4py_futures.py
(rank 0 runs this script, the other ranks are the executor's workers).
"""
import json
import os
import statistics
import time

from mpi4py.futures import MPIPoolExecutor

SCALE = float(os.environ.get("MPROC_BENCH_SCALE", "1"))
REPS = 3


def empty(x):
    return x


def cpu_span(span):
    s = 0
    for i in range(span[0], span[1]):
        s += i + i * i + i * i * i
    return s


def emit(workers, figure, value, unit):
    print(json.dumps({"impl": "mpi4py.futures", "workers": workers,
                      "figure": figure, "value": value, "unit": unit}), flush=True)


def rate(items, fn):
    rates = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        fn()
        rates.append(items / (time.perf_counter() - t0))
    return statistics.median(rates)


def main():
    with MPIPoolExecutor() as ex:
        from mpi4py import MPI
        w = MPI.COMM_WORLD.Get_size() - 1
        n1 = int(20_000 * SCALE)
        n1000 = int(2_000_000 * SCALE)
        emit(w, "map cs=1", rate(n1, lambda: list(ex.map(empty, range(n1), chunksize=1))), "tasks/s")
        emit(w, "map cs=1000",
             rate(n1000, lambda: list(ex.map(empty, range(n1000), chunksize=1000))), "tasks/s")
        # executor.map yields results in input order as they come: mpi4py's imap.
        emit(w, "imap cs=1", rate(n1, lambda: sum(ex.map(empty, range(n1), chunksize=1))), "tasks/s")
        emit(w, "imap cs=1000",
             rate(n1000, lambda: sum(ex.map(empty, range(n1000), chunksize=1000))), "tasks/s")
        emit(w, "imap_unordered cs=1",
             rate(n1, lambda: sum(ex.map(empty, range(n1), chunksize=1, unordered=True))), "tasks/s")
        emit(w, "imap_unordered cs=1000",
             rate(n1000, lambda: sum(ex.map(empty, range(n1000), chunksize=1000, unordered=True))),
             "tasks/s")
        napply = int(10_000 * SCALE)

        def submit_all():
            fs = [ex.submit(empty, i) for i in range(napply)]
            for f in fs:
                f.result()
        emit(w, "apply_async", rate(napply, submit_all), "tasks/s")

        total = int(20_000_000 * SCALE)
        spans = [(total * i // 64, total * (i + 1) // 64) for i in range(64)]
        times = []
        for _ in range(REPS):
            t0 = time.perf_counter()
            list(ex.map(cpu_span, spans))
            times.append(time.perf_counter() - t0)
        emit(w, "cpu_sum seconds", statistics.median(times), "s")


if __name__ == "__main__":
    main()
