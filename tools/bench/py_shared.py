"""The Python anchors for shared state, W workers each busy for the same fixed time:

  py_shared.py W             multiprocessing.Value + get_lock(): `with v.get_lock(): v.value += 1`
                             (a shared-memory semaphore; one node only)
  mpirun -np 1+W py_shared.py mpi4py
                             an mpi4py one-sided counter: Win.Allocate on rank 0,
                             Fetch_and_op + Flush from ranks 1..W
"""
import multiprocessing as mp
import sys
import time

from py_common import SCALE, emit

SECONDS = 0.5 * SCALE


def locked_increments(value, seconds, out):
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(64):
            with value.get_lock():
                value.value += 1
        n += 64
    out.put(n)


def multiprocessing_value(workers):
    rates = []
    for _ in range(3):
        value = mp.Value("q", 0)
        out = mp.Queue()
        procs = [mp.Process(target=locked_increments, args=(value, SECONDS, out)) for _ in range(workers)]
        for p in procs:
            p.start()
        total = sum(out.get() for _ in procs)
        for p in procs:
            p.join()
        assert value.value == total
        rates.append(total / SECONDS)
    rates.sort()
    emit("multiprocessing.Value", workers, "Lock + update + unlock", rates[1], "ops/s")


def mpi4py_counter():
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    import array
    win = MPI.Win.Allocate(8 if rank == 0 else 0, 8, comm=comm)
    win.Lock_all(MPI.MODE_NOCHECK)
    one, old = array.array("q", [1]), array.array("q", [0])
    rates = []
    for _ in range(3):
        comm.Barrier()
        n = 0
        if rank > 0:
            end = time.perf_counter() + SECONDS
            while time.perf_counter() < end:
                for _ in range(64):
                    win.Fetch_and_op(one, old, 0, 0, MPI.SUM)
                    win.Flush(0)
                n += 64
        total = comm.reduce(n, op=MPI.SUM, root=0)
        if rank == 0:
            rates.append(total / SECONDS)
    win.Unlock_all()
    win.Free()
    if rank == 0:
        rates.sort()
        emit("mpi4py", size - 1, "Value.fetch_add", rates[1], "ops/s")


if __name__ == "__main__":
    if sys.argv[1] == "mpi4py":
        mpi4py_counter()
    else:
        multiprocessing_value(int(sys.argv[1]))
