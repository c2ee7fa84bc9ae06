"""Turns the benchmarks' JSON lines into one Markdown table with ratios."""
import json
import os
import sys
from collections import defaultdict

IMPLS = ["mproc", "multiprocessing.Pool", "mpi4py.futures", "raw MPI"]
RATES = ["map cs=1", "map cs=1000", "map cs=1000, int64", "map cs=auto", "imap cs=1", "imap cs=1000",
         "imap_unordered cs=1", "imap_unordered cs=1000", "apply_async",
         "map cs=1, isolate", "map cs=1000, isolate"]


def fmt_rate(v):
    if v is None:
        return "–"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M/s"
    return f"{v / 1e3:.1f} k/s"


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def ratio(a, b):
    return f"{a / b:.1f}×" if a and b else "–"


def main():
    data = defaultdict(dict)  # (workers, figure) -> impl -> value
    scale = defaultdict(list)  # (impl, workers, figure) -> values of every run
    for line in open(sys.argv[1]):
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            # The scale rows run with many workers of their own; they have a table apart.
            if r["impl"].startswith(("mproc flat", "mproc groups", "MPI ranks sleeping")):
                scale[(r["impl"], r["workers"], r["figure"])].append(r["value"])
                continue
            # The scale simulator's costs are its own (tools/model reads them; their "workers" may
            # count threads that only sleep).
            if r["figure"].startswith("cost: "):
                continue
            data[(r["workers"], r["figure"])][r["impl"]] = r["value"]
    # The worker counts of the main tables: the makespan rows' 8 workers have a row of their own.
    workers = sorted({w for w, fig in data if not fig.startswith("makespan")}, reverse=True)
    installed = {fig: row for (w, fig), row in data.items() if "mproc, installed" in row}
    raw = {w: data.get((w, "8-byte round trips, 4 in flight"), {}).get("raw MPI") for w in workers}

    print("| workers | figure | mproc | multiprocessing.Pool | mpi4py.futures | raw MPI (4 in flight) "
          "| mproc / Pool | mproc / mpi4py | mproc / raw MPI |")
    print("|---|---|---|---|---|---|---|---|---|")
    for w in workers:
        for fig in RATES:
            row = data.get((w, fig), {})
            m, p, f = row.get("mproc"), row.get("multiprocessing.Pool"), row.get("mpi4py.futures")
            rawv = raw[w] if fig.endswith("cs=1") or fig == "apply_async" else None
            print(f"| {w} | {fig} | {fmt_rate(m)} | {fmt_rate(p)} | {fmt_rate(f)} | {fmt_rate(rawv)} "
                  f"| {ratio(m, p)} | {ratio(m, f)} | {ratio(m, rawv)} |")
    # CPU-bound speed-up: the 1-worker time over the W-worker time, per implementation.
    if 1 in workers:
        for w in workers:
            if w == 1:
                continue
            cells = []
            for impl in IMPLS[:3]:
                one = data.get((1, "cpu_sum seconds"), {}).get(impl)
                many = data.get((w, "cpu_sum seconds"), {}).get(impl)
                cells.append(f"{one / many:.2f}× ({one / many / w * 100:.0f}%)" if one and many else "–")
            print(f"| {w} vs 1 | cpu_sum speed-up (efficiency) | {cells[0]} | {cells[1]} | {cells[2]} | – | | | |")
    runner_rows = []
    for w in workers:
        sq = data.get((w, "squares 1e6 via the runner"), {})
        if sq:
            runner_rows.append(f"| {w} | squares over 10^6 inputs to .jsonl | {sq.get('mproc run', 0):.2f} s "
                               f"| library directly: {sq.get('library', 0):.2f} s | runner overhead "
                               f"{(sq.get('mproc run', 0) / sq.get('library', 1) - 1) * 100:+.0f}% |")
        traced = data.get((w, "squares 1e6 traced"), {}).get("mproc run")
        untraced = data.get((w, "squares 1e6 untraced"), {}).get("mproc run")
        if traced and untraced:
            runner_rows.append(f"| {w} | squares over 10^6 inputs, with the trace `mproc report` reads "
                               f"| {traced:.2f} s | without (MPROC_TRACE=): {untraced:.2f} s "
                               f"| trace overhead {(traced / untraced - 1) * 100:+.1f}% (medians of 5, alternating) |")
        plain = data.get((w, "squares 1e5 plain"), {}).get("mproc run")
        iso = data.get((w, "squares 1e5 isolate"), {}).get("mproc run")
        if plain and iso:
            n = 100000 * float(os.environ.get("MPROC_BENCH_SCALE", "1"))
            runner_rows.append(f"| {w} | squares over 10^5 inputs, `pool.isolate: true` | {iso:.2f} s "
                               f"| plainly: {plain:.2f} s | {(iso - plain) * w / n * 1e6:.0f} µs more per input "
                               f"and worker |")
        for fig, label in [("10^4 true commands", "10,000 `true` commands"),
                           ("10^4 sleep 0 commands", "10,000 `sleep 0` commands")]:
            cmd = data.get((w, fig), {})
            if cmd:
                runner_rows.append(f"| {w} | {label} | {cmd.get('mproc run', 0):.1f} s "
                                   f"| GNU parallel -j {w}: {cmd.get('GNU parallel', 0):.1f} s "
                                   f"| {cmd.get('GNU parallel', 0) / max(cmd.get('mproc run', 1), 1e-9):.1f}× faster |")
        many = data.get((w, "10^5 true commands"), {}).get("mproc run")
        if many:
            n = 100000 * float(os.environ.get("MPROC_BENCH_SCALE", "1"))
            runner_rows.append(f"| {w} | 100,000 `true` commands | {many:.1f} s "
                               f"| {n / many:.0f} tasks/s | {many * w / n * 1e6:.0f} µs per task "
                               f"and worker, start to end |")
    for tw in sorted({w for w, fig in data if fig == "makespan bound"}):
        tail = {fig: data.get((tw, fig), {}).get("mproc run")
                for fig in ("makespan input order", "makespan longest first", "makespan bound")}
        if not all(tail.values()):
            continue
        runner_rows.append(f"| {tw} | 200 `sleep` commands, the 20 long ones (20× longer) last, "
                           f"`pool.order: longest_first`, medians of 3 | {tail['makespan longest first']:.2f} s "
                           f"| input order: {tail['makespan input order']:.2f} s "
                           f"| {tail['makespan input order'] / tail['makespan longest first']:.2f}× "
                           f"sooner; the tasks' work ÷ {tw}: {tail['makespan bound']:.2f} s |")
    for w in workers:
        row_m = data.get((w, "imap 1e8 peak RSS"), {}).get("mproc")
        row_p = data.get((w, "imap 1e7 peak RSS"), {}).get("multiprocessing.Pool")
        rate_m = data.get((w, "imap 1e8 rate"), {}).get("mproc")
        rate_p = data.get((w, "imap 1e7 rate"), {}).get("multiprocessing.Pool")
        print(f"| {w} | master peak RSS, imap cs=10000 | {row_m:.0f} MiB over 10^8 ({fmt_rate(rate_m)}) "
              f"| {row_p:.0f} MiB over 10^7 ({fmt_rate(rate_p)}) | – | – | | | |"
              if row_m and row_p else f"| {w} | master peak RSS | – | – | – | – | | | |")
    shared_rows = []
    for w in workers:
        for fig in ["Value.fetch_add", "Lock + update + unlock"]:
            row = data.get((w, fig), {})
            if not row:
                continue
            m, r = row.get("mproc"), row.get("raw MPI")
            p = data.get((w, "Lock + update + unlock"), {}).get("multiprocessing.Value")
            f = data.get((w, fig), {}).get("mpi4py")  # a counter only: no lock row
            shared_rows.append(f"| {w} | {fig} | {fmt_rate(m)} | {fmt_rate(r)} | {fmt_rate(p)} | {fmt_rate(f)} "
                               f"| {ratio(m, r)} | {ratio(m, p)} | {ratio(m, f)} |")
    if shared_rows:
        print()
        print("Shared state (one-sided windows; each worker busy for the same time; medians of 3). "
              "The Python anchors are `with v.get_lock(): v.value += 1` on a `multiprocessing.Value` "
              "(one node only; Python's only atomic increment, so it stands in both rows) and an mpi4py `Win.Allocate` counter with `Fetch_and_op` + `Flush`; "
              "raw MPI is the same operations, and a bare MCS lock, written directly on MPI:")
        print()
        print("| workers | figure | mproc | raw MPI | multiprocessing.Value + get_lock | mpi4py Fetch_and_op "
              "| mproc / raw MPI | mproc / Python | mproc / mpi4py |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in shared_rows:
            print(r)
    queue_rows = []
    for pairs in (1, 2):
        for fig in [f"queue {pairs} → {pairs}, 8-byte items", f"queue {pairs} → {pairs}, 64 KiB items",
                    "pipe round trips", "pipe round trips, worker ↔ worker"]:
            row = data.get((pairs, fig), {})
            if row:
                m, p = row.get("mproc"), row.get("multiprocessing")
                queue_rows.append(f"| {fig} | {fmt_rate(m)} | {fmt_rate(p)} | {ratio(m, p)} |")
    if queue_rows:
        print()
        print("Queues and pipes (producers and consumers are Processes, on worker ranks: 3 ranks for "
              "1 → 1, 5 for 2 → 2; timed from start to join; the pipe's near end is rank 0's main "
              "thread, as Python's is its parent; medians of 3):")
        print()
        print("| figure | mproc | multiprocessing | mproc / Python |")
        print("|---|---|---|---|")
        for r in queue_rows:
            print(r)
    scale_rows = []
    def ranks_of(impl, w):  # rank 0, the workers, and a leader per group of g - 1 workers
        g = int(impl.rsplit(" ", 1)[1]) if impl.startswith("mproc groups of ") else 0
        return 1 + w + (-(-w // (g - 1)) if g else 0)
    for impl, w, fig in sorted(scale, key=lambda k: (ranks_of(k[0], k[1]), float(k[2].split()[-3])
                                                      if k[2].startswith("rank 0") else 0,
                                                      k[0] != "mproc flat")):
        if not fig.startswith("rank 0 CPU per "):
            continue
        ms = fig[len("rank 0 CPU per "):-len(" task")]
        cpu = median(scale[(impl, w, fig)])
        host = median(scale.get((impl, w, f"host CPU per {ms} task"), [0]))
        effs = scale.get((impl, w, f"{ms} tasks efficiency"), [0])
        took = scale.get((impl, w, f"length of a {ms} task"))
        ranks = ranks_of(impl, w)
        # The host's floor: as many bare MPI ranks, all but rank 0 only sleeping.
        floor = scale.get(("MPI ranks sleeping", ranks - 1, f"{ms} tasks efficiency"))
        scale_rows.append(f"| {ranks} | {ms} | {impl[len('mproc '):]} | {w} | {cpu:.2f} µs | "
                          f"{median(effs):.1f}% ({min(effs):.0f}–{max(effs):.0f}) | "
                          f"{f'{median(floor):.1f}%' if floor else '–'} | "
                          f"{f'{median(took) / 1000:.3f} ms' if took else '–'} | {host:.0f} µs | "
                          f"{1e6 / cpu:,.0f} tasks/s |")
    if scale_rows:
        print()
        print("Scale: rank 0's own cost with many workers (`pool.map` of tasks that sleep 0.5 or 2 ms, "
              "chunksize 1, every rank oversubscribed on this machine's cores; flat, or in groups of 16 "
              "ranks with `MPROC_GROUP_SIZE=16`, where each group's leader runs no tasks; rank 0's CPU "
              "time, all its threads, over the map, and the whole host's; efficiency is the ideal time "
              "(workers × tasks/s of one) over the measured one; a task's length is how long its sleep "
              "took, timed inside the task (a loaded host wakes it late); the host's floor is the "
              "efficiency of as many bare MPI ranks, all but rank 0 only sleeping as long in a loop, "
              "which mproc's rows should not beat but for noise; medians of 3 runs, one in each of three "
              "rounds over every row, the efficiency's range beside it):")
        print()
        print("| ranks | task | layout | workers | rank 0 CPU per task | efficiency | the host's floor "
              "| a task took | host CPU per task | rank 0 saturates at |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in scale_rows:
            print(r)
    if runner_rows:
        print()
        print("The batch runner (`tools/mproc run`, whole commands timed, launch included; medians of 3 "
              "for squares, one run each for the commands):")
        print()
        print("| workers | work | mproc run | the alternative | ratio |")
        print("|---|---|---|---|---|")
        for r in runner_rows:
            print(r)
    if installed:
        print()
        print("A program built against the installed package (`tools/bench/installed`: the same "
              "benchmark, `find_package(mproc)`), 2 workers, beside `multiprocessing.Pool` run "
              "again in the same minute:")
        print()
        print("| figure | mproc, installed | multiprocessing.Pool | mproc / Pool |")
        print("|---|---|---|---|")
        for fig in RATES:
            row = installed.get(fig)
            if row:
                m, p = row.get("mproc, installed"), row.get("multiprocessing.Pool, beside installed")
                print(f"| {fig} | {fmt_rate(m)} | {fmt_rate(p)} | {ratio(m, p)} |")


if __name__ == "__main__":
    main()
