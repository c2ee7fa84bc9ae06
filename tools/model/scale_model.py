#!/usr/bin/env python3
"""A discrete-event model of mproc's scheduler at scale: rank 0, group leaders and workers.

It runs `pool.map` of tasks of T µs at chunksize 1 in steady state, flat or in groups, with the
engine's own rules (ARCHITECTURE.md, "Node groups"):

- rank 0 is one thread: each time it wakes it pays a wake-up, takes every result message that
  has come (up to 64 a turn), refills every worker below its budget in whole messages (one
  per worker flat, one per group with groups), and sleeps until the earliest worker's message
  is due plus half a message's time flat or a quarter (at most 1 ms) in groups, at most
  1 ms; while results keep coming it turns again without sleeping; after nothing for 4 times
  that (and at least 1 ms) it naps instead, from 20 µs doubling;
- a leader wakes when its batch is due or a hold has passed (a member's message's time, at
  most 2 ms): it copies its members' results from their rings into its batch, sends the batch
  to rank 0 as one message once every member has answered or the oldest answer has waited
  its hold, and copies rank 0's refills into the rings;
- a worker holds two chunks flat; in a group one more than covers 10 ms of work (kRelayCover),
  sent a third at a time; it runs a message's chunks one after another and answers the
  message when they are done. A worker with nothing left looks for work, yielding the core
  between looks, for 1 ms; then a member sleeps on its ring (a write wakes it) and a flat
  worker sleeps in growing naps.

Where the run shares a few cores (the calibration host: every rank on 2 cores) the model hands
them out as Linux's scheduler (EEVDF) does here: a thread that wakes from a sleep with a short
slice (rank 0's, a leader's) takes a core at once; the workers' short turns queue for a core in
order; a thread that keeps running (rank 0 turning without a sleep, a worker yielding for
work) gets its fair share only, waiting after each slice until every runnable thread has had
as much. On a cluster every rank has a core and nobody waits.

It is fed costs measured on this machine in the same bench run: a timed wake-up's CPU, an MPI
message's, rank 0's per chunk and per wake-up (a leader's turn costs as much), a ring
record's, a yield that hands the core over; per row, how long a task took where it ran and
how far its late ends spread (the model solves for how late its sleep ends), and what the
bench's probe (a thread of rank 0 that only sleeps and wakes) paid per wake-up meanwhile; and
the workers' own CPU per task with the host's background, from the host's CPU at 8 and 32
workers. A wake-up of rank 0's loop on the shared host is the probe's times rank 0's over the
probe's in the cost rows at as many wake-ups a second on the host's cores: the host's state
moves both from one run to the next, and the probe's bare wake-up gets cheaper where the
cores wake often, rank 0's does not. Two costs are fitted (least squares on the relative
error, to rank 0's CPU in the 2 ms rows) because the cost rows cannot tell them apart: what
each MPI call of rank 0 pays per peer whose mailbox Open MPI polls, and rank 0's bookkeeping
per worker message. Besides rank 0's CPU and the efficiency, the model's task length, rank
0's wake-ups per task and the host's CPU per task are set beside the measured ones.

    scale_model.py RAW [--plot FILE.svg] [--cores N]

RAW is `tools/mproc bench`'s JSON lines (build/bench/results.jsonl); N the cores that run
shared (default: this machine's). The model is checked against its 8-, 32- and 128-worker
scale rows (rank 0's CPU per task within 20%, efficiency within 3 points; exit 1 if not), then
projects 10^3, 10^4 and 10^5 ranks with tasks of 1, 10 and 100 ms.
"""
import heapq
import json
import math
import os
import random
import sys
from collections import defaultdict, deque, namedtuple

MAX_SLEEP = 1000.0      # µs: rank 0's and a leader's longest sleep
MAX_HOLD = 2000.0       # µs: a leader's longest hold (kMaxRelayHold); rank 0's sleep in groups
                        # is at most half of it
POLL = 20.0             # µs: a sleep shorter than a timer can be is a yielding poll
TURN_MESSAGES = 64      # result messages rank 0 takes per turn before it refills
FBOX_PEERS = 32         # peers whose mailboxes Open MPI's vader polls on every call (at most)
RELAY_COVER = 5 * MAX_HOLD  # µs of work a member keeps queued beyond its running chunk
                            # (kRelayCover)
TARGET_IN_FLIGHT = 200.0  # µs of work every worker holds at least (kTargetInFlightNs)
IDLE_YIELD = 1000.0     # µs a dry worker looks and yields before it sleeps (kIdleWorker)
SHORT_SLICE = 100.0     # µs: the slice rank 0's and the leaders' loops ask for
MIN_NAP = 20.0          # µs: its first sleep, doubled each time up to MAX_SLEEP (Backoff)
# The events that are a timed wake-up on the host: a task's sleep ending, a dry worker's nap,
# a leader's and rank 0's loops waking (a member woken by its ring counts where it wakes).
TIMED_WAKES = ("woke", "nap", "wakeL", "wake0")
PROBE_WAKES = 1000.0    # the bench's probe's wake-ups a second (it sleeps 1 ms at a time)
# The bench's sleepers wake this often each (a 500 µs sleep and its late end; 1,850-1,910 a
# second each among 2 to 64, counted by the bench at 2d999da).
SLEEPER_WAKES = 1880.0


def budget_of(T, group):
    """Chunks a worker holds (Dispatcher::in_flight_budget for chunks of T µs, chunksize 1), and
    how many a refill waits for (a message's worth: half the budget flat, a third in groups)."""
    budget = min(16, max(2, 1 + int(-(-RELAY_COVER // T)))) if group else 2
    budget = max(budget, min(16, int(TARGET_IN_FLIGHT / T)))
    return budget, max(1, budget // (3 if group else 2))


class Job:
    """A turn of a process's thread: CPU to run, and the event it ends with."""
    __slots__ = ("prio", "left", "kind", "payload", "first", "slice", "debt")

    def __init__(self, prio, left, kind, payload, slice=None, debt=0.0):
        self.prio, self.left, self.kind, self.payload, self.first = prio, left, kind, payload, None
        self.slice = slice  # the longest it runs while others wait (None: to the end)
        # CPU the thread has just had without sleeping: under a fair scheduler it waits until
        # every other runnable thread has had as much (0: it slept before this turn).
        self.debt = debt


class Host:
    """The cores a run shares, handed out as the kernel (EEVDF) does here. A thread that wakes
    with a short slice (priority 0: rank 0's and the leaders' loops ask for one, ARCHITECTURE.md
    section 7; its deadline is the earliest) takes a core from a worker's turn at once; the
    workers' turns (priority 1) queue for a core in order; a thread that has had CPU without
    sleeping (its debt, or a slice run out) waits for its fair share first. cores=None: a core
    for every process, nobody waits."""

    def __init__(self, cores, at, warm):
        self.cores, self.at, self.warm = cores, at, warm
        self.free = list(range(cores or 0))
        self.running = {}  # core -> (job, start, token)
        self.queues = (deque(), deque())
        self.token = 0
        self.busy = 0.0  # core-µs used after `warm`

    def _count(self, start, end):
        self.busy += max(0.0, end - max(start, self.warm))

    def submit(self, t, job):
        if self.cores and job.debt:
            # Runnable and ahead of its share: eligible again once the others (the workers
            # waiting or running, sharing the cores) have caught up.
            runnable = len(self.queues[1]) + sum(j.prio for j, _, _ in self.running.values())
            delay = job.debt * (runnable + 1) / self.cores
            job.debt = 0.0
            self.at(t + delay, "eligible", job)
            return
        self.admit(t, job)

    def admit(self, t, job):
        """A turn that may run now: a free core, a worker's core (priority 0), or the queue
        (a thread that was owed its share goes first: its deadline is the earliest)."""
        if self.cores is None:
            job.first = t
            self._count(t, t + job.left)
            self.at(t + job.left, job.kind, job)
        elif self.free:
            self._start(t, self.free.pop(), job)
        elif job.prio == 0 and any(j.prio for j, _, _ in self.running.values()):
            core = max((c for c, (j, _, _) in self.running.items() if j.prio),
                       key=lambda c: self.running[c][1])
            victim, start, _ = self.running.pop(core)
            victim.left -= t - start
            self._count(start, t)
            self.queues[1].appendleft(victim)
            self._start(t, core, job)
        elif job.first is not None:
            self.queues[job.prio].appendleft(job)
        else:
            self.queues[job.prio].append(job)

    def _start(self, t, core, job):
        self.token += 1
        if job.first is None:
            job.first = t
        self.running[core] = (job, t, self.token)
        self.at(t + min(job.left, job.slice or job.left), "core", (core, self.token))

    def finish(self, t, core, token):
        """A core's turn ended at t (unless it was taken away since): the job's own event
        fires, or, if its slice ran out first, it goes behind those waiting; the core takes
        the next turn waiting."""
        if self.running.get(core, (None, 0.0, None))[2] != token:
            return
        job, start, _ = self.running.pop(core)
        self._count(start, t)
        job.left -= t - start
        waiting = self.queues[0] or self.queues[1]
        if job.left > 1e-6:  # its slice ran out: it has had its share for now
            if not waiting:
                self._start(t, core, job)
                return
            job.debt = t - start
            self.submit(t, job)
        else:
            job.debt = t - start  # what it ran last, for the thread's next turn to owe
            self.at(t, job.kind, job)
        if waiting:
            self._start(t, core, waiting.popleft())
        else:
            self.free.append(core)


def simulate(workers, task_us, group, costs, cores=None, periods=None, took_us=None,
             spread=1.0, probe=None):
    """Steady-state figures of one configuration.

    workers: ranks that run tasks; group: members per leader (None: flat); cores: cores the
    whole run shares (None: a core per process, and tasks exactly task_us long); took_us: how
    long a task took where it ran, measured (its sleep ends late on a loaded host, by more
    than the model's queue for a core explains: the late wake-up is solved for so that the
    modelled length matches); spread: the share of that lateness that varies from task to
    task (exponentially; the rest every task has); probe: what a bare timed wake-up cost on
    the host meanwhile (the bench's probe; None: a wake-up of rank 0's loop costs what the
    cost rows measured alone). Returns rank 0's CPU per task (µs), the efficiency (share of
    the ideal rate, workers x 10^6 / task_us tasks/s), how long a task took where it ran, and
    the leaders' busiest utilisation."""
    late = max(0.0, took_us - task_us) if took_us and cores else 0.0
    # Long enough to count some 2000 tasks (a few workers finish few per task time).
    periods = periods or max(8, -(-2000 // workers))
    # What a wake-up of rank 0's loop costs, with the probe on a shared host: the probe's,
    # times rank 0's over the probe's as measured with the host's cores waking as often
    # (guessed from the tasks' wake-ups first, then counted in the run before).
    by_probe = bool(probe and cores)
    wakes = workers * 1e6 / (took_us or task_us) / cores if by_probe else None
    result = None
    for _ in range(12):  # solve for the lateness (and the host's wake-ups, by the probe)
        wake = probe * over_probe(costs, wakes) if by_probe else None
        result = _run(workers, task_us, group, costs, cores, periods, late, spread, wake)
        off = (took_us - result["took"]) if took_us and cores else 0.0
        moved = by_probe and abs(result["host wakes"] - wakes) > 0.05 * wakes
        if (abs(off) < 2.0 or (late == 0 and off < 0)) and not moved:
            break
        late = max(0.0, late + 0.8 * off)
        wakes = result["host wakes"]
    return result


def over_probe(costs, per_core):
    """Rank 0's wake-up over the probe's on a host whose cores wake `per_core` times a second
    each, as the cost rows measured it (alone and among sleepers): the probe's bare wake-up
    gets cheaper as the cores wake more often, rank 0's loop does not. Between the measured
    points linear in the logarithm of the rate, outside them the nearest."""
    curve = sorted((float(k.split(", ")[1].split(" ")[0]), v) for k, v in costs.items()
                   if k.startswith("wake over probe, "))
    if per_core <= curve[0][0]:
        return curve[0][1]
    for (x0, y0), (x1, y1) in zip(curve, curve[1:]):
        if per_core <= x1:
            return y0 + math.log(per_core / x0) / math.log(x1 / x0) * (y1 - y0)
    return curve[-1][1]


def _run(W, T, group, costs, cores, periods, late, spread=1.0, wake_us=None):
    """One simulation; sleeps end `late` on average, `spread` of it varying; a wake-up of rank
    0's or a leader's loop costs `wake_us` (None: costs["wake"])."""
    c_msg, c_chunk, c_ring = (costs[k] for k in ("message", "chunk", "ring record"))
    c_wake = costs["wake"] if wake_us is None else wake_us
    c_peer = costs.get("poll per peer", 0.0)
    # Rank 0's bookkeeping per message to or from a worker (packing it, answering it), by MPI
    # or inside a leader's message.
    c_part = costs.get("per worker message", 0.0)
    # A dry worker's look for work on a shared host: a poll (as dear as a message) and a yield
    # that hands the core to another process.
    c_look = costs["message"] + costs["yield"]
    # A worker's own CPU per task (taking the chunk, the task's wake-up, sending its result),
    # and the host's background (in cores), measured by task length; a length not measured
    # takes the nearest's.
    key = "groups" if group else "flat"
    near = min((k for k in costs if k.startswith(f"worker per task, {key}, ")),
               key=lambda k: abs(float(k.split(", ")[2][:-3]) - T), default=None)
    c_task = costs[near] if near else 0.0
    # A task's own timing (how long it took, measured) ends after its sleep's wake-up: that
    # much of the worker's CPU per task is inside it, the rest (its result sent, the next
    # chunk taken) after.
    c_in = min(c_task, costs.get("thread wake", 0.0))
    background = costs[near.replace("worker per task", "background")] if near else 0.0
    budget, batch = budget_of(T, group)
    L = 0 if not group else -(-W // group)
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

    host = Host(cores, at, warm)
    # How late a task's sleep ends: every sleep a little late, and the `spread` share of the
    # mean varying exponentially (a few much later), so tasks that start together drift apart
    # as they do on a real host (the same draws every run).
    draw = random.Random(W * 7919 + int(T))
    wake_late = ((lambda: late * (1 - spread + spread * draw.expovariate(1.0))) if late > 0
                 else (lambda: 0.0))
    if cores and background > 0:  # the background, as turns of 20 µs spread evenly
        for i in range(int(horizon * background / 20.0)):
            at(i * 20.0 / background, "background", None)
    # The messages each worker holds, as [chunks left, chunks]: it runs the first one's
    # chunks one after another and answers it when they are done.
    msgs = [deque([m, m] for m in [batch] * (budget // batch) + [budget % batch] if m)
            for _ in range(W)]
    out = [budget] * W             # chunks rank 0 counts out on each worker
    running = [True] * W
    slept_at = [0.0] * W           # when each worker's task began its sleep
    took = []                      # how long tasks took where they ran (their own timing)
    idle = [("", 0.0)] * W         # how a dry worker waits, and since when (shared cores)

    def start(w, t):
        running[w] = True
        idle[w] = ("", 0.0)
        slept_at[w] = t
        at(t + T + wake_late(), "woke", w)
    # Start staggered, as a running map is.
    for w in range(W):
        slept_at[w] = T * (w + 0.5) / W - T
        at(slept_at[w] + T + wake_late(), "woke", w)
    inbox0 = []                    # messages arrived at rank 0: lists of (worker, chunks)
    leader_inbox = defaultdict(list)   # results waiting at a leader
    leader_refill = defaultdict(list)  # refills waiting at a leader
    gathered = defaultdict(list)       # results a leader holds for its next message to rank 0
    flush_at = defaultdict(float)      # when a leader's batch is due
    cpu0 = 0.0
    handled = 0  # results rank 0 took in the window
    cpu_leader = defaultdict(float)
    done_in_window = 0
    at(0.0, "wake0", None)
    # The engine's estimate of a chunk is what chunks took: the task with its late wake-up.
    est = T + late + c_in
    hold = min(batch * est, MAX_HOLD)  # a member's message's time
    for l in range(L):
        at(hold * (l + 0.5) / L, "wakeL", l)

    # Rank 0's sleep, as Dispatcher::poll_again_in works it out: until the earliest worker's
    # head chunk is due (it was sent, or the worker last answered, a chunk's time ago), plus
    # half a chunk's time flat or a quarter (at most 500 µs) in groups; at most 1 ms.
    # owed[w] is when worker w last answered; `dues` a heap of (owed + T, w), stale entries
    # skipped.
    per_msg = batch * est
    owed = [0.0] * W
    dues = [(per_msg, w) for w in range(W)]
    heapq.heapify(dues)
    slack = min(per_msg / 4, MAX_HOLD / 2) if group else per_msg / 2
    wakes = 0  # rank 0's, after the warm-up
    woken = 0  # every timed wake-up on the host (tasks', naps', rings', leaders', rank 0's)
    ran0 = 0.0  # what rank 0's thread ran last before its turn ended
    took0 = False  # whether rank 0's last turn took results
    # Since when rank 0's loop has found nothing, and its next nap once that is overdue.
    idle0, nap0 = 0.0, MIN_NAP

    def r0_sleep(now):
        nonlocal nap0
        while dues and dues[0][0] != owed[dues[0][1]] + per_msg:
            heapq.heappop(dues)
        due = dues[0][0] if dues else now
        wait = max(due - now, 0.0) + slack
        # Nothing for 4 times as long as expected (and at least 1 ms): MpiThread::loop backs
        # off instead, in naps from 20 µs doubling to 1 ms. With one group, whose batches come
        # a hold apart, that happens often.
        if now - idle0 > max(4 * wait, MAX_SLEEP):
            nap, nap0 = nap0, min(2 * nap0, MAX_SLEEP)
            return nap
        return max(POLL, min(MAX_SLEEP, wait))

    while events:
        t, _, kind, p = heapq.heappop(events)
        if t > horizon:
            break
        if kind in TIMED_WAKES and t >= warm:
            woken += 1
        if kind == "core":
            host.finish(t, *p)
        elif kind == "eligible":
            host.admit(t, p)
        elif kind == "background":
            host.submit(t, Job(1, 20.0, "idle", None))
        elif kind == "idle":
            pass
        elif kind == "woke":  # a task's sleep ended: the worker needs a core to go on
            host.submit(t, Job(1, c_task, "done", p))
        elif kind == "done":  # the task returned and its result went out
            w = p.payload
            if t >= warm:
                done_in_window += 1
                took.append(p.first + c_in - slept_at[w])
            head = msgs[w][0]
            head[0] -= 1
            if head[0] == 0:  # the message's last chunk: its results go out
                msgs[w].popleft()
                if group:
                    leader_inbox[w // group].append((w, head[1]))
                else:
                    inbox0.append([(w, head[1])])
            if msgs[w]:
                slept_at[w] = t
                at(t + T + wake_late(), "woke", w)
            else:
                running[w] = False
                if cores:  # it looks for work, yielding the core between looks
                    idle[w] = ("yield", t)
                    host.submit(t, Job(1, c_look, "look", w))
        elif kind == "look":  # a dry worker looked for work
            w = p.payload
            if msgs[w]:
                start(w, t)
            elif t - idle[w][1] < IDLE_YIELD:
                host.submit(t, Job(1, c_look, "look", w))
            elif group:  # it sleeps on its ring, which the leader's write wakes
                idle[w] = ("ring", t)
            else:  # it sleeps, longer each time, and looks again
                idle[w] = ("nap", t)
                at(t + MIN_NAP, "nap", (w, MIN_NAP))
        elif kind == "nap":  # a napping worker wakes and looks (a waker: it gets a core first)
            host.submit(t, Job(0, c_look, "napped", p))
        elif kind == "napped":
            w, nap = p.payload
            if msgs[w]:
                start(w, t)
            else:
                nap = min(2 * nap, MAX_SLEEP)
                at(t + nap, "nap", (w, nap))
        elif kind == "arrive":  # a message of k chunks reaches a worker
            w, k = p
            msgs[w].append([k, k])
            # One that yields or naps finds them when it next looks; one on its ring wakes.
            if not running[w] and idle[w][0] in ("", "ring"):
                woken += idle[w][0] == "ring" and t >= warm
                start(w, t)
        elif kind == "to0":  # a message reaches rank 0
            inbox0.append(p)
        elif kind == "toL":  # rank 0's refill reaches a leader
            leader_refill[p[0]].append(p[1])
        elif kind == "wakeL":
            # A leader's turn (GroupLeader): its members' results join the batch, which goes
            # to rank 0 once every member's is in or the oldest has waited a hold.
            l = p
            cpu = c_wake  # a turn of the same loop as rank 0's, as dear as its wake-up
            new = leader_inbox.pop(l, [])
            cpu += c_ring * len(new)
            if new and not gathered[l]:
                flush_at[l] = t + hold
            gathered[l].extend(new)
            res = []
            if gathered[l] and (len(gathered[l]) >= group or t >= flush_at[l]):
                res, gathered[l] = gathered[l], []
                cpu += c_msg
            fills = leader_refill.pop(l, [])
            for msg in fills:
                cpu += c_msg
                for w, k in msg:
                    cpu += c_ring * (k // batch)
            if t >= warm:
                cpu_leader[l] += cpu
            host.submit(t, Job(0, cpu, "endL", (l, t, res, fills)))
        elif kind == "endL":
            l, began, res, fills = p.payload
            if res:
                at(t + c_msg, "to0", res)
            for msg in fills:
                for w, k in msg:
                    for _ in range(k // batch):
                        at(t, "arrive", (w, batch))
            # It sleeps a hold, or until the batch is due (a hold is its loop's longest sleep).
            wait = min(hold, flush_at[l] - began if gathered[l] else hold)
            at(max(t, began + max(POLL, wait)), "wakeL", l)
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
                cpu += c_msg + peers0 * c_peer
                for _, n in msg:
                    cpu += c_part + c_chunk / 2 * n
                answered.extend(msg)
            for w, n in answered:
                out[w] -= n
                owed[w] = t
                heapq.heappush(dues, (t + per_msg, w))
            fills = defaultdict(list)
            for w, _ in answered:
                k = (budget - out[w]) // batch * batch  # whole messages, as the engine sends
                if k == 0:
                    continue
                out[w] += k
                cpu += c_chunk / 2 * k + c_part * (k // batch)
                if group:
                    fills[w // group].append((w, k))
                else:
                    cpu += c_msg * (k // batch)
                    fills[w].append((w, k))
            if group:
                cpu += c_msg * len(fills)
            took0 = bool(answered)
            if t >= warm:
                cpu0 += cpu
                handled += sum(n for _, n in answered)
            # A thread that wakes from a sleep gets a core first (its short slice); one that
            # goes on from turn to turn without sleeping has had its share, and waits for it
            # with the workers.
            host.submit(t, Job(0 if kind == "wake0" else 1, cpu, "end0", fills, SHORT_SLICE,
                               debt=0.0 if kind == "wake0" else ran0))
        elif kind == "end0":
            ran0 = p.debt
            for dest, msg in p.payload.items():
                if group:
                    at(t + c_msg, "toL", (dest, msg))
                else:
                    for w, k in msg:
                        for _ in range(k // batch):
                            at(t + c_msg, "arrive", (w, batch))
            # Results that came meanwhile are taken at once (a turn without a sleep, which
            # costs no wake-up); otherwise sleep. A message arriving while rank 0 sleeps
            # waits for the wake-up (it is polled).
            if took0:
                idle0, nap0 = t, MIN_NAP
            if inbox0:
                at(t, "turn0", None)
            else:
                at(t + r0_sleep(t), "wake0", None)
    window = horizon - warm
    # Steady state: the tasks the workers finished in the window (what the bench counts). Not
    # what rank 0 took: from leaders that comes in batches, and the window's ends would cut
    # one (10^3 ranks in groups with 10 ms tasks read 96.3% so). When rank 0 cannot keep up,
    # the workers run dry and finish no more than it takes.
    rate = done_in_window / window * 1e6
    return {"cpu0": cpu0 / max(handled, 1),
            "busy0": cpu0 / window,
            "eff": rate * T / 1e6 / W,
            "rate": rate,
            "took": sum(took) / max(len(took), 1),
            "load": host.busy / window / cores if cores else 0.0,
            "host per task": (host.busy / window + (background if cores else 0.0)) / max(rate, 1.0) * 1e6,
            "cpu_leaders": sum(cpu_leader.values()) / max(handled, 1),
            "wakes per task": wakes / max(handled, 1),
            # With the bench's probe, which wakes every millisecond.
            "host wakes": (woken / window * 1e6 + PROBE_WAKES) / cores if cores else None,
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


def costs_from(rows, cores):
    """What the model is fed, from the bench's own measurements on this machine (`rows`, as
    read_raw reads them; the run shared `cores` cores)."""
    one = lambda impl, fig: median(rows[impl][(1, fig)])
    # Rank 0 with its one worker on 2 ms tasks is measured alone and among k sleeping threads,
    # with the probe beside it; "workers" is k (0 alone). A bench from before the probe
    # measured it alone, with "workers" 1.
    among = sorted(k for k, fig in rows["mproc"] if fig == "cost: probe's CPU per wake-up")
    rank0_per_task = lambda k: rows["mproc"][(k if among else 1, "cost: rank 0 CPU per 2 ms task")]
    message = 1e6 / (2 * one("raw MPI", "8-byte round trips, 4 in flight"))
    costs = {
        "cores": cores,
        # A timed sleep and wake-up of a thread, bare.
        "thread wake": one("mproc", "cost: timed wake-up"),
        # One MPI message sent or received: a round trip is two of each, on two ranks.
        "message": message,
        # Rank 0's per chunk, without its share of the messages (8 chunks to a message): half
        # of it packing the chunk, half taking its result.
        "chunk": one("mproc", "cost: rank 0 CPU per chunk") - 2 * message / 8,
        "ring record": one("mproc", "cost: ring record"),
        # A sched_yield that switches to another thread on the same core.
        "yield": one("mproc", "cost: yield to another thread"),
    }
    scale = measured(rows)
    for _ in range(2):  # the fitted costs change what the wake-up is measured as, and back
        # A turn of rank 0's loop that wakes from a sleep (the services polled, the sleep
        # worked out): with one worker on 2 ms tasks rank 0 mostly sleeps and wakes (its
        # sleeps are 1 ms at most); what the model counts for that run besides its wake-ups
        # is taken off, and the rest shared among the wake-ups it counts. Measured alone, it
        # is what a rank with a core of its own pays (the projection's). On the shared host it
        # moves (with the other tenants, with how often the cores wake) by a third from one
        # run to the next, and the probe's wake-up moves with it: each scale row is fed the
        # probe's reading during that row times rank 0's wake-up over the probe's in the cost
        # rows at as many wake-ups a second on the cores (over_probe; the median of the runs).
        costs["wake"] = 0.0
        alone = simulate(1, 2000.0, None, costs, periods=400)
        wake_of = lambda cpu: (cpu - alone["cpu0"]) / alone["wakes per task"]
        costs["wake"] = median([wake_of(cpu) for cpu in rank0_per_task(0)])
        # Alone and among k sleepers the host's cores wake this often: the sleepers', rank 0's
        # (about twice a task), its worker's tasks' (500 a second), the probe's.
        for k in among:
            rate = (k * SLEEPER_WAKES + 1000.0 + 500.0 + PROBE_WAKES) / cores
            costs[f"wake over probe, {rate:.0f} a core"] = median([
                wake_of(cpu) / probe for cpu, probe in
                zip(rank0_per_task(k), rows["mproc"][(k, "cost: probe's CPU per wake-up")])])
        # The rest of the host's CPU: the workers' own per task (taking a chunk, the task's
        # wake-up, sending its result), and a background the ranks cost whatever the rate
        # (in cores). The host's CPU less rank 0's (measured) and the leaders' (modelled) is a
        # line against the task rate through the two least loaded rows of each layout and task
        # length (8 and 32 workers, where the cores are far from full); the 128-worker rows
        # are left to check it.
        for layout, key in (("mproc flat", "flat"), ("mproc groups of 16", "groups")):
            for ms in sorted({ms for _, _, ms in scale}):
                points = []
                for (impl, w, m), row in sorted(scale.items()):
                    if impl != layout or m != ms or w > 64:
                        continue
                    rate = row.eff / 100 * w * 1000 / ms
                    group = members_of(layout)
                    leaders = simulate(w, ms * 1000, group, costs)["cpu_leaders"]
                    points.append((rate, (row.host - row.cpu0 - leaders) * rate / 1e6))
                (x0, y0), (x1, y1) = points[0], points[-1]
                per_task = max(0.0, (y1 - y0) / (x1 - x0) * 1e6)
                costs[f"worker per task, {key}, {ms * 1000:g} us"] = per_task
                costs[f"background, {key}, {ms * 1000:g} us"] = max(0.0,
                                                                    y0 - per_task * x0 / 1e6)
        costs.update(fit(scale, costs))
    return costs


def fit(scale, costs):
    """The costs not measured apart, fitted to rank 0's CPU in the 2 ms rows (least squares
    on the relative error, the calibration's tolerance being relative; none below 0); every
    other figure is a check. What each MPI call of rank 0 pays per peer whose mailbox Open MPI
    polls (at most 32); rank 0's bookkeeping per worker message (the cost rows cannot tell it
    from a chunk's or a wake-up's)."""
    names = ("poll per peer", "per worker message")
    rows = []
    for (impl, w, ms), row in scale.items():
        if ms != 2:
            continue
        group = members_of(impl)
        at = lambda *x: simulate(w, ms * 1000.0, group, dict(costs, **dict(zip(names, x))),
                                 **as_measured(row, ms, costs))["cpu0"]
        a = at(*[0.0] * len(names))
        rows.append((a, [at(*(1.0 if j == i else 0.0 for j in range(len(names)))) - a
                         for i in range(len(names))], row.cpu0))
    free = list(range(len(names)))
    while True:  # an unknown that comes out below 0 is left at 0 and the rest fitted again
        x = dict.fromkeys(range(len(names)), 0.0)
        x.update(zip(free, least_squares([[d[i] / m for i in free] for _, d, m in rows],
                                         [(m - a) / m for a, _, m in rows])))
        below = [i for i in free if x[i] < 0]
        if not below:
            return {name: x[i] for i, name in enumerate(names)}
        free.remove(below[0])


def least_squares(A, b):
    """x minimising |A x - b| (the normal equations, by Gaussian elimination)."""
    n = len(A[0]) if A else 0
    M = [[sum(r[i] * r[j] for r in A) for j in range(n)] + [sum(r[i] * y for r, y in zip(A, b))]
         for i in range(n)]
    for i in range(n):
        p = max(range(i, n), key=lambda k: abs(M[k][i]))
        M[i], M[p] = M[p], M[i]
        if abs(M[i][i]) < 1e-12:
            return [0.0] * n
        for k in range(n):
            if k != i:
                f = M[k][i] / M[i][i]
                M[k] = [a - f * c for a, c in zip(M[k], M[i])]
    return [M[i][n] / M[i][i] for i in range(n)]


# A scale row's medians: rank 0's CPU per task (µs), the efficiency (%), a task's length and its
# 90th percentile (µs), rank 0's wake-ups per task, the host's CPU per task (µs), and what a
# timed wake-up cost on the host meanwhile (the probe's, µs).
Row = namedtuple("Row", "cpu0 eff took took_p90 wakes host probe")


def members_of(layout):
    """Members per leader in a scale row's layout ("mproc groups of 16": a leader and 15), None
    flat."""
    return None if layout == "mproc flat" else int(layout.rsplit(" ", 1)[1]) - 1


def measured(rows):
    """The bench's scale rows (`rows` as read_raw reads them): (layout, workers, ms) -> Row
    (None where a figure is not measured)."""
    out = {}
    for impl, figs in rows.items():
        if not impl.startswith(("mproc flat", "mproc groups")):
            continue
        for (w, fig), values in figs.items():
            if fig.startswith("rank 0 CPU per "):
                ms = float(fig[len("rank 0 CPU per "):-len(" ms task")])
                others = (f"{ms:g} ms tasks efficiency", f"length of a {ms:g} ms task",
                          f"90th percentile length of a {ms:g} ms task",
                          f"rank 0 wake-ups per {ms:g} ms task", f"host CPU per {ms:g} ms task",
                          f"probe's CPU per wake-up, {ms:g} ms tasks")
                out[(impl, w, ms)] = Row(median(values), *(
                    median(figs[(w, f)]) if figs.get((w, f)) else None for f in others))
    return out


def as_measured(row, ms, costs):
    """simulate()'s arguments for a scale row of `ms` ms tasks: the cores, how long a task took,
    how much of its lateness varies, and what the probe's wake-up cost meanwhile (if the cost
    rows have the probe too). Late ends are a fixed delay plus an exponential tail
    of mean tau, whose 90th percentile is tau (ln 10 - 1) past the mean."""
    spread = 1.0
    if row.took_p90 and row.took > ms * 1000:
        tau = (row.took_p90 - row.took) / (math.log(10) - 1)
        spread = min(1.0, max(0.0, tau / (row.took - ms * 1000)))
    probe = row.probe if any(k.startswith("wake over probe, ") for k in costs) else None
    return {"cores": costs["cores"], "took_us": row.took, "spread": spread, "probe": probe}


def calibrate(scale, costs):
    ok = True
    print("| layout | workers | task | rank 0 CPU/task measured | modelled | error "
          "| efficiency measured | modelled | error | a task took (fed) | modelled "
          "| host CPU/task measured | modelled | rank 0 wake-ups/task measured | modelled |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (impl, w, ms), row in sorted(scale.items(), key=lambda k: (k[0][2], k[0][1], k[0][0])):
        cpu, eff, took, wakes, host = row.cpu0, row.eff, row.took, row.wakes, row.host
        group = members_of(impl)
        m = simulate(w, ms * 1000, group, costs, **as_measured(row, ms, costs))
        cpu_err = (m["cpu0"] - cpu) / cpu * 100
        eff_err = m["eff"] * 100 - eff
        good = abs(cpu_err) <= 20 and abs(eff_err) <= 3
        ok &= good
        print(f"| {impl[6:]} | {w} | {ms:g} ms "
              f"| {cpu:.2f} µs | {m['cpu0']:.2f} µs | {cpu_err:+.0f}% "
              f"| {eff:.1f}% | {m['eff'] * 100:.1f}% | {eff_err:+.1f} pts "
              f"| {took / 1000:.3f} ms | {m['took'] / 1000:.3f} ms "
              f"| {host:.1f} µs | {m['host per task']:.1f} µs "
              f"| {wakes:.3f} | {m['wakes per task']:.3f} |"
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
                # Rank 0's turns longer than the window (saturated, with short tasks: one turn
                # refills thousands of workers) show as no turn at all: a longer window sees
                # some, too few to count its share of time by; it is saturated.
                long_turns = m["busy0"] == 0
                if long_turns:
                    m = simulate(w, ms * 1000.0, group, costs, cores=None, periods=30)
                # A saturated rank 0 may show a little over 100%: its last turns run past the
                # measured window. Its turns are then long (many results each) and a few task
                # times hold too few of them to count by: its steady rate is what its CPU per
                # task allows.
                busy = 1.0 if long_turns else min(m["busy0"], 1.0)
                if busy >= 0.98:
                    m["eff"] = min(1.0, 1e6 / m["cpu0"] * ms * 1e-3 / w)
                    m["rate"] = m["eff"] * w / (ms * 1e-3)
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
    args = sys.argv[1:]
    if not args or args[0].startswith("-") or len(args) % 2 == 0 or any(
            a not in ("--plot", "--cores") for a in args[1::2]):
        print(__doc__, file=sys.stderr)
        return 2
    raw, options = args[0], dict(zip(args[1::2], args[2::2]))
    plot = options.get("--plot")
    rows = read_raw(raw)  # the bench's figures, read once
    costs = costs_from(rows, int(options.get("--cores", os.cpu_count())))
    print("Costs measured on this machine (µs; the background in cores):")
    print()
    print("| " + " | ".join(costs) + " |")
    print("|" + "---|" * len(costs))
    print("| " + " | ".join(f"{v:.3g}" for v in costs.values()) + " |")
    print()
    print("Calibration: the bench's scale rows (medians of 3) against the model, on "
          f"{costs['cores']} shared cores:")
    print()
    ok = calibrate(measured(rows), costs)
    print()
    print("Projection: a core per rank, groups of 128 ranks (a leader and 127 workers):")
    print()
    project(costs, plot)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
