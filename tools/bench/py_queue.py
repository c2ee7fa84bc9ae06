"""The Python anchors for queues and pipes: multiprocessing.Queue items per second from P
producer processes to P consumer processes (8-byte ints and 64 KiB bytes), and Pipe round
trips per second between the parent and one process.

  py_queue.py P
"""
import multiprocessing as mp
import statistics
import sys
import time

from py_common import SCALE, emit


def produce(q, item, n):
    for _ in range(n):
        q.put(item)


def consume(q, n):
    for _ in range(n):
        q.get()


def bounce(conn, n):
    for _ in range(n):
        conn.send(conn.recv())


def queue_rate(pairs, item, n):
    q = mp.Queue()
    t0 = time.perf_counter()
    ps = []
    for _ in range(pairs):
        ps.append(mp.Process(target=produce, args=(q, item, n // pairs)))
        ps.append(mp.Process(target=consume, args=(q, n // pairs)))
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    return n / (time.perf_counter() - t0)


def round_trips(n):
    mine, theirs = mp.Pipe()
    p = mp.Process(target=bounce, args=(theirs, n))
    p.start()
    t0 = time.perf_counter()
    for i in range(n):
        mine.send(i)
        mine.recv()
    rate = n / (time.perf_counter() - t0)
    p.join()
    return rate


def main():
    pairs = int(sys.argv[1])
    small = int(200_000 * SCALE) // pairs * pairs
    big = int(4_000 * SCALE) // pairs * pairs
    who = f"{pairs} → {pairs}"
    emit("multiprocessing", pairs, f"queue {who}, 8-byte items",
         statistics.median(queue_rate(pairs, 42, small) for _ in range(3)), "items/s")
    emit("multiprocessing", pairs, f"queue {who}, 64 KiB items",
         statistics.median(queue_rate(pairs, b"x" * 65536, big) for _ in range(3)), "items/s")
    if pairs == 1:
        emit("multiprocessing", pairs, "pipe round trips",
             statistics.median(round_trips(int(20_000 * SCALE)) for _ in range(3)), "round trips/s")


if __name__ == "__main__":
    main()
