"""Python multiprocessing.Pool's side of tools/bench, as JSON lines (run with Debian's python3).

usage: py_multiprocessing.py WORKERS [memory]
"""
import multiprocessing as mp
import resource
import sys
import time

from py_common import SCALE, cpu_span, emit as emit_line, empty, median_seconds, rate, spans


def emit(workers, figure, value, unit):
    emit_line("multiprocessing.Pool", workers, figure, value, unit)


def main():
    w = int(sys.argv[1])
    if len(sys.argv) > 2 and sys.argv[2] == "memory":
        # In a process of its own, like mproc's. Python's task handler reads the whole input
        # ahead of the workers, so this is measured at 10^7 (10^8 takes minutes and GBs).
        with mp.Pool(w) as pool:
            nbig = int(10_000_000 * SCALE)
            t0 = time.perf_counter()
            total_sum = sum(pool.imap(empty, range(nbig), 10_000))
            secs = time.perf_counter() - t0
            assert total_sum == nbig * (nbig - 1) // 2
            emit(w, "imap 1e7 peak RSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MiB")
            emit(w, "imap 1e7 rate", nbig / secs, "tasks/s")
        return
    n1 = int(50_000 * SCALE)
    n1000 = int(4_000_000 * SCALE)
    with mp.Pool(w) as pool:
        emit(w, "map cs=1", rate(n1, lambda: pool.map(empty, range(n1), 1)), "tasks/s")
        emit(w, "map cs=1000", rate(n1000, lambda: pool.map(empty, range(n1000), 1000)), "tasks/s")
        big = 2**40  # 64-bit values, as mproc's int64 row sends
        emit(w, "map cs=1000, int64",
             rate(n1000, lambda: pool.map(empty, range(big, big + n1000), 1000)), "tasks/s")
        emit(w, "map cs=auto", rate(n1000, lambda: pool.map(empty, range(n1000))), "tasks/s")
        for cs, n in ((1, n1), (1000, n1000)):
            emit(w, f"imap cs={cs}", rate(n, lambda: sum(pool.imap(empty, range(n), cs))), "tasks/s")
            emit(w, f"imap_unordered cs={cs}",
                 rate(n, lambda: sum(pool.imap_unordered(empty, range(n), cs))), "tasks/s")
        napply = int(20_000 * SCALE)

        def apply_all():
            rs = [pool.apply_async(empty, (i,)) for i in range(napply)]
            for r in rs:
                r.get()
        emit(w, "apply_async", rate(napply, apply_all), "tasks/s")

        work = spans(int(20_000_000 * SCALE))
        emit(w, "cpu_sum seconds", median_seconds(lambda: pool.map(cpu_span, work, 1)), "s")


if __name__ == "__main__":
    main()
