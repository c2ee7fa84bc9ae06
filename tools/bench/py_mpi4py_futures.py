"""mpi4py.futures' side of tools/bench, as JSON lines.

Run as: mpirun -np W+1 python3 -m mpi4py.futures py_mpi4py_futures.py
(rank 0 runs this script, the other ranks are the executor's workers).
"""

from mpi4py.futures import MPIPoolExecutor

from py_common import SCALE, cpu_span, emit as emit_line, empty, median_seconds, rate, spans


def emit(workers, figure, value, unit):
    emit_line("mpi4py.futures", workers, figure, value, unit)


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

        work = spans(int(20_000_000 * SCALE))
        emit(w, "cpu_sum seconds", median_seconds(lambda: list(ex.map(cpu_span, work))), "s")


if __name__ == "__main__":
    main()
