#!/usr/bin/env python3
"""A discrete-event model of mproc's scheduler at scale: rank 0, group leaders and workers.

It runs `pool.map` of tasks of T µs at chunksize 1 in steady state, flat or in groups, with the
engine's own rules (ARCHITECTURE.md, "Scale"):

- rank 0 is one thread: each time it wakes it pays a wake-up, receives every result message
  that has come (a message each, a chunk each), refills every worker below its budget in whole
  messages (a chunk each; a message per worker flat, one per group with groups), and sleeps
  again: flat for half a task (the workers hold a second chunk), with groups for a quarter of
  a task (at most 500 µs), at most 1 ms, and not at all while results wait;
- a leader wakes every half a task (at most 1 ms, its hold): it copies its members' results
  from their rings into one message to rank 0 and rank 0's refills into their rings;
- a worker holds two chunks flat; in a group one more than covers 5 ms of work (kRelayCover:
  four 2 ms chunks), sent a third at a time; it runs them one after another and sends each
  result at once.

Costs come from the same bench run on this machine: a timed wake-up's CPU, an MPI message's,
rank 0's per chunk, a ring record's, the CPU the rest of the host spends per task (the workers'
own: taking a chunk, the task's sleep and wake-up, sending the result) at 33 ranks, and how
long a task took where it ran (a sleep on a loaded host ends late: the workers time it). On
the calibration host every rank shares 2 cores: a process that wakes may wait for a core,
which stretches rank 0's and the leaders' turns by the mean wait of an M/M/c queue (Erlang C,
the utilisation solved for); on a cluster each rank has a core of its own, and only rank 0's
queue can hold work up. Two costs are fitted rather than measured apart, to rank 0's CPU in
the 2 ms rows: what each MPI call of rank 0 pays per peer whose mailbox Open MPI polls (at
most 32), and how much rank 0's costs grow with the host's load (cold caches). Rank 0's
wake-ups per task are measured too (its sleeps, from getrusage) and shown beside the model's,
a check of its sleep rule.

    scale_model.py RAW [--plot FILE.svg]

RAW is `tools/mproc bench`'s JSON lines (build/bench/results.jsonl): the costs come from its cost
rows and its 33-rank scale rows; the model is checked against its 8-, 32- and 128-worker scale
rows (rank 0's CPU per task within 20%, efficiency within 3 points; exit 1 if not), then
projects 10^3, 10^4 and 10^5 ranks with tasks of 1, 10 and 100 ms.
"""
import heapq
import json
import os
import sys
from collections import defaultdict

MAX_SLEEP = 1000.0      # µs: rank 0's and a leader's longest sleep
MAX_HOLD = 1000.0       # µs: a leader's longest hold (kMaxRelayHold); rank 0's sleep in groups
                        # is at most half of it
POLL = 20.0             # µs: a sleep shorter than a timer can be is a yielding poll
TURN_MESSAGES = 64      # result messages rank 0 takes per turn before it refills
FBOX_PEERS = 32         # peers whose mailboxes Open MPI's vader polls on every call (at most)
RELAY_COVER = 5000.0    # µs of work a member keeps queued beyond its running chunk (kRelayCover)
TARGET_IN_FLIGHT = 200.0  # µs of work every worker holds at least (kTargetInFlightNs)


def budget_of(T, group):
    """Chunks a worker holds (Scheduler::in_flight_budget for chunks of T µs, chunksize 1), and
    how many a refill waits for (a message's worth: half the budget flat, a third in groups)."""
    budget = min(16, max(2, 1 + -(-RELAY_COVER // T))) if group else 2
    budget = max(budget, min(16, int(TARGET_IN_FLIGHT / T)))
    return budget, max(1, budget // (3 if group else 2))


def simulate(workers, task_us, group, costs, cores=None, periods=8, took_us=None):
    """Steady-state figures of one configuration.

    workers: ranks that run tasks; group: members per leader (None: flat); cores: cores the
    whole run shares (None: a core per rank); took_us: how long a task takes where it runs,
    if not task_us (on a loaded host a sleep ends late). Returns rank 0's CPU per task (µs),
    the efficiency (share of the ideal rate, workers x 10^6 / task_us tasks/s) and the leaders'
    busiest utilisation."""
    T = took_us or task_us
    budget, batch = budget_of(T, group)
    c_wake, c_msg, c_chunk, c_ring = (costs["wake"], costs["message"], costs["chunk"],
                                      costs["ring record"])
    c_rest = costs["rest per task, groups" if group else "rest per task, flat"]
    leaders = 0 if not group else -(-workers // group)
    stretch, load = 1.0, 0.0
    result = None
    for _ in range(20):  # solve for the shared cores' utilisation (one pass with a core each)
        # On a loaded host a thread that wakes finds its caches cold: its wake-up, and every
        # other cost of rank 0's loop, costs more.
        grow = 1 + costs.get("wake growth with load", 0.0) * load
        result = _run(workers, T, group, budget, batch, c_wake * grow, c_msg * grow,
                      c_chunk * grow, c_ring, c_rest, leaders, periods, stretch,
                      costs.get("poll per peer", 0.0) * grow)
        result["eff"] *= task_us / T
        if cores is None:
            break
        demand = min(result["rate"] * (result["cpu0"] + result["cpu_leaders"] + c_rest) / 1e6,
                     0.98 * cores)
        new = 1.0 + erlang_c(cores, demand) / (cores - demand)
        if abs(new - stretch) < 0.01 * stretch and abs(demand / cores - load) < 0.01:
            break
        stretch = 0.7 * stretch + 0.3 * new
        load = 0.7 * load + 0.3 * demand / cores
    result["stretch"] = stretch
    result["load"] = load
    return result


def erlang_c(c, a):
    """The chance that a process that wakes finds all `c` cores busy, with `a` cores' worth of
    demand (Erlang C); the wait then averages 1 / (c - a) of the work it waits for."""
    term, total = 1.0, 1.0
    for k in range(1, c):
        term *= a / k
        total += term
    last = term * a / c * c / (c - a)
    return last / (total + last)


def _run(W, T, group, budget, batch, c_wake, c_msg, c_chunk, c_ring, c_rest, L, periods, stretch,
         c_peer):
    """One simulation: CPU is counted as the costs say; it takes `stretch` times as long."""
    # The ranks rank 0 exchanges MPI messages with, as many as Open MPI's shared-memory
    # transport gives a mailbox of their own and polls (btl_vader_fbox_max, 32).
    peers0 = min(FBOX_PEERS, L if group else W)
    # Past the chunks every worker starts with (and rank 0's backlog of them, if it cannot
    # keep up), then `periods` task times measured.
    warm = 2 * budget * T + 10 * MAX_SLEEP
    horizon = warm + periods * T + 10 * MAX_SLEEP
    events = []  # (time, seq, kind, payload)
    seq = 0

    def at(t, kind, payload):
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, payload))

    # A task's length where it ran is measured (T), its wake-up and wait for a core included;
    # the rest of the host's CPU per task is mostly that wake-up, and the leaders' work, off
    # the worker's path: it counts in the host's load, not in the worker's turn.
    cycle = T
    queued = [budget - 1] * W      # chunks waiting on each worker (one is running)
    out = [budget] * W             # chunks rank 0 counts out on each worker
    running = [True] * W
    # Start staggered, as a running map is.
    for w in range(W):
        at(cycle * (w + 0.5) / W, "done", w)
    inbox0 = []                    # messages arrived at rank 0: lists of workers answered
    leader_inbox = defaultdict(list)   # results waiting at a leader
    leader_refill = defaultdict(list)  # refills waiting at a leader
    cpu0 = 0.0
    handled = 0  # results rank 0 took in the window
    cpu_leader = defaultdict(float)
    done_in_window = 0
    at(0.0, "wake0", None)
    if group:
        hold = min(T / 2, MAX_HOLD)
        for l in range(L):
            at(hold * (l + 0.5) / L, "wakeL", l)

    # Rank 0's sleep, as Scheduler::poll_again_in works it out: until the earliest worker's
    # head chunk is due (it was sent, or the worker last answered, a chunk's time ago), plus
    # half a chunk's time flat or a quarter (at most 500 µs) in groups; at most 1 ms.
    # owed[w] is when worker w last answered; `dues` a heap of (owed + T, w), stale entries
    # skipped.
    owed = [0.0] * W
    dues = [(T, w) for w in range(W)]
    heapq.heapify(dues)
    slack = min(T / 4, MAX_HOLD / 2) if group else T / 2
    wakes = 0

    def r0_sleep(now):
        while dues and dues[0][0] != owed[dues[0][1]] + T:
            heapq.heappop(dues)
        due = dues[0][0] if dues else now
        return max(POLL, min(MAX_SLEEP, max(due - now, 0.0) + slack))

    while events:
        t, _, kind, p = heapq.heappop(events)
        if t > horizon:
            break
        if kind == "done":
            w = p
            if t >= warm:
                done_in_window += 1
            if group:
                leader_inbox[w // group].append(w)
            else:
                inbox0.append([w])
            if queued[w] > 0:
                queued[w] -= 1
                at(t + cycle, "done", w)
            else:
                running[w] = False
        elif kind == "arrive":  # chunks reach a worker
            w, k = p
            queued[w] += k
            if not running[w]:
                running[w] = True
                queued[w] -= 1
                at(t + cycle, "done", w)
        elif kind == "to0":  # a message reaches rank 0
            inbox0.append(p)
        elif kind == "toL":  # rank 0's refill reaches a leader
            leader_refill[p[0]].append(p[1])
        elif kind == "wakeL":
            l = p
            cpu = c_wake
            res = leader_inbox.pop(l, [])
            if res:
                cpu += c_ring * len(res) + c_msg
            fills = leader_refill.pop(l, [])
            for msg in fills:
                cpu += c_msg
                for w, k in msg:
                    cpu += c_ring * k
            if t >= warm:
                cpu_leader[l] += cpu
            end = t + cpu * stretch
            if res:
                at(end + c_msg, "to0", res)
            for msg in fills:
                for w, k in msg:
                    at(end, "arrive", (w, k))
            at(max(end, t + max(POLL, min(T / 2, MAX_HOLD))), "wakeL", l)
        elif kind in ("wake0", "turn0"):
            # A turn's MPI calls each look at every peer's mailbox (Open MPI's shared-memory
            # transport polls one per rank that has sent here): a cost that grows with them.
            cpu = (c_wake if kind == "wake0" else c_msg) + peers0 * c_peer
            if kind == "wake0" and t >= warm:
                wakes += 1
            answered = []
            taken = 0
            while inbox0 and taken < TURN_MESSAGES:
                msg = inbox0.pop()
                taken += 1
                cpu += c_msg + peers0 * c_peer + c_chunk / 2 * len(msg)
                answered.extend(msg)
            for w in answered:
                out[w] -= 1
                owed[w] = t
                heapq.heappush(dues, (t + T, w))
            fills = defaultdict(list)
            for w in answered:
                k = (budget - out[w]) // batch * batch  # whole messages, as the engine sends
                if k == 0:
                    continue
                out[w] += k
                cpu += c_chunk / 2 * k
                if group:
                    fills[w // group].append((w, k))
                else:
                    cpu += c_msg * (k // batch)
                    fills[w].append((w, k))
            if group:
                cpu += c_msg * len(fills)
            if t >= warm:
                cpu0 += cpu
                handled += len(answered)
            end = t + cpu * stretch
            for dest, msg in fills.items():
                if group:
                    at(end + c_msg, "toL", (dest, msg))
                else:
                    for w, k in msg:
                        at(end + c_msg, "arrive", (w, k))
            # Results that came meanwhile are taken at once (a turn without a sleep, which
            # costs no wake-up); otherwise sleep.
            if inbox0:
                at(end, "turn0", None)
            else:
                at(end + r0_sleep(end), "wake0", None)
            # A message arriving while rank 0 sleeps waits for the wake-up (it is polled).
    window = horizon - warm
    # Steady state: what rank 0 took in the window (when it cannot keep up, that is the rate).
    rate = min(done_in_window, handled) / window * 1e6
    return {"cpu0": cpu0 / max(handled, 1),
            "busy0": cpu0 * stretch / window,
            "eff": rate * T / 1e6 / W,
            "rate": rate,
            "cpu_leaders": sum(cpu_leader.values()) / max(handled, 1),
            "wakes per task": wakes / max(handled, 1),
            "leader_util": max(cpu_leader.values(), default=0.0) / window}


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def read_raw(raw):
    """The bench's JSON lines: impl -> (workers, figure) -> every value."""
    rows = defaultdict(lambda: defaultdict(list))
    for line in open(raw):
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            rows[r["impl"]][(r["workers"], r["figure"])].append(r["value"])
    return rows


def costs_from(raw):
    """What the model is fed, from the bench's own measurements on this machine."""
    rows = read_raw(raw)
    one = lambda impl, fig: median(rows[impl][(1, fig)])
    message = 1e6 / (2 * one("raw MPI", "8-byte round trips, 4 in flight"))
    costs = {
        "cores": os.cpu_count(),
        # A timed sleep and wake-up of a thread, bare.
        "thread wake": one("mproc", "cost: timed wake-up"),
        # One MPI message sent or received: a round trip is two of each, on two ranks.
        "message": message,
        # Rank 0's per chunk, without its share of the messages (8 chunks to a message): half
        # of it packing the chunk, half taking its result.
        "chunk": one("mproc", "cost: rank 0 CPU per chunk") - 2 * message / 8,
        "ring record": one("mproc", "cost: ring record"),
    }
    # A turn of rank 0's loop that wakes from a sleep (the services polled, the sleep worked
    # out): with one worker on 2 ms tasks rank 0 mostly sleeps and wakes (its sleeps are 1 ms
    # at most); what the model counts for that run besides its wake-ups is taken off, and the
    # rest shared among the wake-ups it counts.
    costs["wake"] = 0.0
    alone = simulate(1, 2000.0, None, dict(costs, **{"rest per task, flat": 0.0}), periods=400)
    costs["wake"] = ((one("mproc", "cost: rank 0 CPU per 2 ms task") - alone["cpu0"]) /
                     alone["wakes per task"])
    # The rest of the host's CPU per task (the workers' own, and the leaders'): at 33 ranks,
    # where the cores are far from full and the host's own background is spread over 16,000
    # tasks a second.
    for layout, key in (("mproc flat", "rest per task, flat"),
                        ("mproc groups of 16", "rest per task, groups")):
        figs = {fig: v for (w, fig), v in rows[layout].items() if 16 < w < 64}
        costs[key] = (median(figs["host CPU per 2 ms task"]) -
                      median(figs["rank 0 CPU per 2 ms task"]))
    costs.update(fit_two(raw, costs))
    return costs


def fit_two(raw, costs):
    """The two costs not measured apart, fitted (least squares) to rank 0's CPU in the 2 ms
    rows; every other figure is a check. What each MPI call of rank 0 pays per peer whose
    mailbox Open MPI polls (at most 32), and how much rank 0's costs grow on a loaded host
    (cold caches): each of rank 0's costs x (1 + growth x utilisation)."""
    names = ("poll per peer", "wake growth with load")
    rows = []
    for (impl, w, ms), (cpu, _, took, _) in measured(raw).items():
        if ms != 2:
            continue
        group = None if impl == "mproc flat" else int(impl.rsplit(" ", 1)[1]) - 1
        at = lambda p, g: simulate(w, 2000.0, group, dict(costs, **{names[0]: p, names[1]: g}),
                                   cores=costs["cores"], took_us=took)["cpu0"]
        a = at(0.0, 0.0)
        rows.append((a, at(1.0, 0.0) - a, at(0.0, 1.0) - a, cpu))
    # Normal equations for cpu = a + x b + y c.
    bb = sum(b * b for _, b, _, _ in rows)
    cc = sum(c * c for _, _, c, _ in rows)
    bc = sum(b * c for _, b, c, _ in rows)
    rb = sum(b * (m - a) for a, b, _, m in rows)
    rc = sum(c * (m - a) for a, _, c, m in rows)
    det = bb * cc - bc * bc
    x, y = ((rb * cc - rc * bc) / det, (rc * bb - rb * bc) / det) if det else (0.0, 0.0)
    if x < 0 or y < 0:  # one alone, the other at 0
        x, y = (max(0.0, rb / bb), 0.0) if rb * rb / bb >= rc * rc / cc else (0.0, max(0.0, rc / cc))
    return {names[0]: x, names[1]: y}


def measured(raw):
    """Medians of the bench's scale rows: (layout, workers, ms) -> (rank 0 µs, efficiency %,
    a task's measured length in µs, rank 0's wake-ups per task; None where not measured)."""
    out = {}
    for impl, figs in read_raw(raw).items():
        if not impl.startswith(("mproc flat", "mproc groups")):
            continue
        for (w, fig), values in figs.items():
            if fig.startswith("rank 0 CPU per "):
                ms = float(fig[len("rank 0 CPU per "):-len(" ms task")])
                eff = figs.get((w, f"{ms:g} ms tasks efficiency"))
                took = figs.get((w, f"length of a {ms:g} ms task"))
                wakes = figs.get((w, f"rank 0 wake-ups per {ms:g} ms task"))
                out[(impl, w, ms)] = (median(values), median(eff) if eff else None,
                                      median(took) if took else None,
                                      median(wakes) if wakes else None)
    return out


def calibrate(raw, costs):
    ok = True
    print("| layout | workers | task | a task took | rank 0 CPU/task measured | modelled | error "
          "| efficiency measured | modelled | error | rank 0 wake-ups/task measured | modelled |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (impl, w, ms), (cpu, eff, took, wakes) in sorted(measured(raw).items(), key=lambda k: (k[0][2], k[0][1], k[0][0])):
        group = None if impl == "mproc flat" else int(impl.rsplit(" ", 1)[1]) - 1
        m = simulate(w, ms * 1000, group, costs, cores=costs["cores"], took_us=took)
        cpu_err = (m["cpu0"] - cpu) / cpu * 100
        eff_err = m["eff"] * 100 - eff
        good = abs(cpu_err) <= 20 and abs(eff_err) <= 3
        ok &= good
        print(f"| {impl[6:]} | {w} | {ms:g} ms | {f'{took / 1000:.3f} ms' if took else '–'} "
              f"| {cpu:.2f} µs | {m['cpu0']:.2f} µs | {cpu_err:+.0f}% "
              f"| {eff:.1f}% | {m['eff'] * 100:.1f}% | {eff_err:+.1f} pts "
              f"| {f'{wakes:.3f}' if wakes is not None else '–'} | {m['wakes per task']:.3f} |"
              f"{'' if good else ' outside'}")
    return ok


def project(costs, plot=None):
    rows = []
    print("| ranks | task | layout | workers | rank 0 CPU/task | rank 0 busy | task rate | efficiency "
          "| busiest leader |")
    print("|---|---|---|---|---|---|---|---|---|")
    for ranks in (1000, 10000, 100000):
        for ms in (1, 10, 100):
            for group in (None, 127):
                leaders = 0 if group is None else -(-(ranks - 1) // (group + 1))
                w = ranks - 1 - leaders
                m = simulate(w, ms * 1000.0, group, costs, cores=None, periods=6)
                # A saturated rank 0 may show a little over 100%: its last turns run past the
                # measured window.
                busy = min(m["busy0"], 1.0)
                layout = "flat" if group is None else f"groups of {group + 1}"
                rows.append((ranks, ms, layout, w, m))
                print(f"| {ranks:,} | {ms} ms | {layout} | {w:,} | {m['cpu0']:.2f} µs | {busy * 100:.0f}% "
                      f"| {m['rate']:,.0f}/s | {m['eff'] * 100:.1f}% | {m['leader_util'] * 100:.1f}% |")
    if plot:
        write_plot(rows, plot)


def write_plot(rows, path):
    """Efficiency against ranks, one line per task time and layout, as a small SVG."""
    import math
    width, height, left, bottom = 560, 300, 50, 40
    xs = {1000: 0, 10000: 1, 100000: 2}
    colors = {1: "#d62728", 10: "#1f77b4", 100: "#2ca02c"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11">',
             f'<rect width="{width}" height="{height}" fill="white"/>']
    px = lambda i: left + 40 + i * (width - left - 160) / 2
    py = lambda e: height - bottom - e * (height - bottom - 20)
    for e in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{left}" x2="{width - 110}" y1="{py(e)}" y2="{py(e)}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{py(e) + 4}" text-anchor="end">{e * 100:.0f}%</text>')
    for r, i in xs.items():
        parts.append(f'<text x="{px(i)}" y="{height - bottom + 16}" text-anchor="middle">{r:,} ranks</text>')
    legend = 0
    for ms in (1, 10, 100):
        for layout in ("flat", "groups of 128"):
            pts = [(px(xs[r]), py(m["eff"])) for r, t, lay, _, m in rows if t == ms and lay == layout]
            dash = "" if layout == "flat" else ' stroke-dasharray="5,3"'
            parts.append(f'<polyline fill="none" stroke="{colors[ms]}" stroke-width="2"{dash} points="'
                         + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
            y = 30 + legend * 16
            parts.append(f'<line x1="{width - 100}" x2="{width - 80}" y1="{y}" y2="{y}" '
                         f'stroke="{colors[ms]}" stroke-width="2"{dash}/>')
            parts.append(f'<text x="{width - 76}" y="{y + 4}">{ms} ms, {layout.replace("groups of ", "g")}</text>')
            legend += 1
    parts.append(f'<text x="{left}" y="14">modelled efficiency (share of the ideal task rate), '
                 f'chunksize 1</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def main():
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    raw = sys.argv[1]
    plot = sys.argv[3] if len(sys.argv) >= 4 and sys.argv[2] == "--plot" else None
    costs = costs_from(raw)
    print("Costs measured on this machine (µs):")
    print()
    print("| " + " | ".join(costs) + " |")
    print("|" + "---|" * len(costs))
    print("| " + " | ".join(f"{v:.3g}" for v in costs.values()) + " |")
    print()
    print("Calibration: the bench's scale rows (medians of 3) against the model, on "
          f"{costs['cores']} shared cores:")
    print()
    ok = calibrate(raw, costs)
    print()
    print("Projection: a core per rank, groups of 128 ranks (a leader and 127 workers):")
    print()
    project(costs, plot)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
