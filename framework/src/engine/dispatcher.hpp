#pragma once
// The dispatcher: rank 0's scheduling policy, in plain C++ with no MPI. It keeps the pools, their
// jobs and what each worker holds; it sizes chunks, keeps a budget of work in flight on every
// worker, packs chunks into task messages, checks each answer against what was sent and hands
// the results to the jobs' sinks, and says when it next expects a result. It talks to the world
// only through what it is given: an Outbox its task messages go to, a Clock, a ChunkRunner for
// a pool with no worker ranks, and the run's Trace. The pool service (pool_service.hpp) drives
// it on rank 0's MPI thread; tests drive it in-process (tests/unit/dispatcher_test.cpp).
//
//     Dispatcher d(layout, outbox, clock, trace, runner);
//     auto pool = d.open_pool(0);               // every free worker
//     d.submit(pool.id, job);                   // a map's chunks, packed as they go out
//     d.dispatch();                             // task messages into the outbox
//     d.on_results(rank, bytes, size);          // a result message: chunks to the job's sink
//
// Not thread-safe: one thread calls it (what other threads may write, a job's `consumed`
// counters, are atomics).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/execute.hpp"
#include "base/groups.hpp"
#include "base/protocol.hpp"
#include "base/trace.hpp"
#include "engine/clock.hpp"
#include "mproc/detail/job.hpp"

namespace mproc::detail {

// Where the dispatcher's task messages go. What is for a node group goes to its leader: the
// group's chunks, and messages for single members, each behind a RouteHeader.
class Outbox {
  public:
    virtual ~Outbox() = default;
    // An empty buffer to pack a message into; one whose message has gone, where there is one,
    // so that its memory serves again.
    virtual Buffer take_buffer() = 0;
    // Sends `message` (task messages: TaskHeaders and inputs, or routed ones) to `rank`. The
    // outbox owns it until it has gone.
    virtual void send(int rank, Buffer message) = 0;
};

class Dispatcher {
  public:
    struct Limits {
        // The most bytes one message may carry (MPI counts bytes in an int); a chunk whose
        // message would be larger fails its job, saying so.
        std::size_t max_message_bytes = kMaxMessageBytes;
    };

    // Workers are ranks 1 .. layout.master.size() - 1; those in a group (`layout`) are
    // reached through their leader, and leaders run no tasks. A pool that holds a whole group
    // sends its chunks to the leader, which hands them to its members (group_leader.hpp):
    // here the group is one account, with the budget of all its members. Chunks pinned to a
    // member, and a pool with part of a group, go to members one by one, through the leader.
    // With no worker ranks a pool's chunks run here, through `local`.
    Dispatcher(const GroupLayout& layout, Outbox& outbox, const Clock& clock, Trace& trace,
               ChunkRunner& local, Limits limits);
    Dispatcher(const GroupLayout& layout, Outbox& outbox, const Clock& clock, Trace& trace,
               ChunkRunner& local)
        : Dispatcher(layout, outbox, clock, trace, local, Limits{}) {}
    Dispatcher(const Dispatcher&) = delete;
    Dispatcher& operator=(const Dispatcher&) = delete;

    // ---- Commands ----
    struct Opened {
        int id = 0;
        std::vector<int> ranks;  // the worker ranks it holds; empty: its chunks run here
    };
    // Reserves `processes` free workers (0: every free one). Throws ResourceError naming how
    // many are free and what to do.
    Opened open_pool(int processes);
    // Hands the pool's workers back; its jobs are dropped (results still out are ignored).
    void release_pool(int pool);
    // Queues `job` on `pool` behind its other jobs. A pool that was released aborts it with
    // PoolClosed.
    void submit(int pool, std::shared_ptr<Job> job);
    // Stops handing out the job's chunks and aborts its sink with `error`; results of chunks
    // still out are dropped when they come. Nothing if the job has ended.
    void cancel(Job& job, std::exception_ptr error);
    // Cancels every job of `pool` with PoolClosed.
    void terminate(int pool);
    // The pool's workers that have owed a result for at least `at_least` seconds: (rank, for
    // how long). A leader that feeds its group is among them when its group owes chunks and
    // the leader has sent nothing for that long (it reports its quiet members every 0.5 s).
    std::vector<std::pair<int, double>> quiet_workers(int pool, double at_least) const;
    // Something outside may have given any worker room (an imap reader read results under its
    // bound): the next dispatch looks at every worker.
    void look_at_all() { look_at_all_ = true; }

    // ---- Events ----
    // A result message from `source` (a worker, or a leader with its members' messages): each
    // chunk in it goes to its job. Throws Error naming the rank when the message answers
    // chunks that were not sent, in another order, or is malformed.
    void on_results(int source, const char* data, std::size_t size);
    // Hands out chunks to every worker whose budget has room (one message each per pass, until
    // none takes more), or runs one chunk here for a pool without workers. True if anything
    // went out.
    bool dispatch();
    // How long until a worker's oldest message is due (sent or begun, run for its estimate),
    // plus a slack: it holds more work meanwhile. Zero when an estimate is missing; nullopt
    // with nothing out.
    std::optional<Clock::duration> poll_again_in() const;
    // No job is live.
    bool idle() const { return jobs_.empty(); }
    // The ranks rank 0 talks to directly: flat workers and leaders (who tell their members).
    std::vector<int> direct_ranks() const;

  private:
    struct InFlight {
        Job* job;
        std::uint64_t seq;
        std::uint64_t first;
        std::uint32_t count;
    };
    // Chunks out on a group its leader feeds: one chunk (chunks 1), or a span of `chunks`
    // consecutive ones of `each` items (the last may have fewer; count is all of them), of
    // which `left` are not yet answered.
    struct GroupOut {
        InFlight span;
        std::uint32_t chunks = 1;
        std::uint32_t each = 0;
        std::uint32_t left = 1;
    };
    // One task message out on a worker, to be answered by one result message.
    struct Message {
        std::vector<InFlight> chunks;
    };
    struct Worker {
        int rank = 0;
        int pool = 0;        // 0: free (a leader: the pool that holds its whole group)
        int route = -1;      // the index in routes_ of its group's leader; -1: sent to directly
        bool leads = false;  // a group leader: runs no tasks
        int led = -1;        // a leader: the index of its own route in routes_
        // A member whose leader hands it its pool's chunks: rank 0 sends it only chunks
        // pinned to it.
        bool fed = false;
        // A leader: the group's chunks out (handed out there, answered in any order), oldest
        // first.
        std::deque<GroupOut> group_out;
        // A fed member: since when its leader says it has owed results (none: max()), and
        // when it said so last. The leader says it again every kQuietReport while the member
        // stays quiet; its answers may reach rank 0 only joined into a span's, unnamed, so
        // word older than three reports has lapsed.
        Clock::time_point quiet_since = Clock::time_point::max();
        Clock::time_point quiet_heard;
        // A leader: when its last message came (results, or word of a quiet member).
        Clock::time_point heard;
        // Since when it owes a result: its first message out was sent, or its last answer
        // came with more still out.
        Clock::time_point owed_since;
        std::deque<std::unique_ptr<Message>> out;  // oldest first; answered in this order
        std::vector<std::unique_ptr<Message>> spare;
        std::size_t chunks_out = 0;
        bool answered = false;    // in answered_ (it may have room for more)
        std::uint64_t stamp = 0;  // which entry of dues_ is its own: the one with this stamp
    };
    // When a worker's oldest message out is due, as poll_again_in works it out (dues_).
    struct Due {
        Clock::time_point at;
        int rank;
        std::uint64_t stamp;
        bool operator>(const Due& o) const { return at > o.at; }
    };
    // A group leader, its members, and what one pass of dispatch gathers for it (the group's
    // chunks and its members' own task messages, each behind a RouteHeader), sent as one.
    struct Route {
        int leader = 0;
        std::vector<int> members;
        Buffer open;
        bool has_open = false;
    };
    struct Pool {
        std::vector<int> ranks;
        // Whom dispatch gives chunks: its ranks, and the leaders of groups it holds whole.
        std::vector<int> targets;
        // Jobs with chunks still to hand out, oldest first. Shared ownership lets a retired
        // job linger here until dispatch passes it, instead of a search to remove it.
        std::deque<std::shared_ptr<Job>> queue;
    };

    bool dispatch_local(Pool& pool);
    // The time poll_again_in waits for `w` (its oldest message's estimate, and a slack).
    std::pair<Clock::duration, Clock::duration> patience_for(const Worker& w) const;
    // Records `w`'s oldest message out in dues_ (after it changed), dropping the entry it had.
    void note_due(Worker& w);
    // The entry of dues_ for `w`, which has a message out.
    Due due_of(const Worker& w) const;
    // The result message in `data` from worker `w`, answering its oldest message out.
    void answer(Worker& w, const char* data, std::size_t size);
    // The result message in `data` from member `m` of `leader`'s group, answering chunks the
    // leader handed it.
    void answer_group(Worker& leader, Worker& m, const char* data, std::size_t size);
    // The joined results of a span, from its leader.
    void answer_span(Worker& leader, const char* data, std::size_t size);
    // After results from `leader`'s group: when it is next due, and a look at it in dispatch.
    void answered_by(Worker& leader);
    // Whether `w` owes results: a message out, or a leader's group chunks.
    static bool owes(const Worker& w) { return !w.out.empty() || !w.group_out.empty(); }
    // Sends each route's gathered messages to its leader.
    void send_routes();
    // The pool's first job with a chunk `rank` may take: pinned to it, or, unless its leader
    // feeds it (`fed`), pinned to nobody.
    Job* next_job(Pool& pool, int rank, bool fed);
    std::uint32_t chunk_items(const Job& job, int workers) const;
    std::size_t in_flight_budget(const Job& job, int workers, bool routed) const;
    // Sends `w` one message of chunks if its in-flight budget has room; false if nothing
    // was sent.
    bool send_batch(Pool& pool, Worker& w);
    // The same for a leader whose group the pool holds whole: chunks for the group.
    bool send_group(Pool& pool, Worker& leader);
    // Fails the jobs of `chunks`, whose message of `bytes` is too large to send.
    void fail_oversized(const std::vector<InFlight>& chunks, std::size_t bytes);
    // A job submitted before its task's first results came (apply_async in a loop) takes
    // what they say now, rather than starting from one chunk per message.
    void take_known_estimate(Job& job);
    // Appends `message` to the message of this pass for route `index`, behind
    // RouteHeader{rank, flags}.
    void route(int index, int rank, RouteFlags flags, const Buffer& message);
    // Appends the job's next chunk of up to `items` items (header and inputs) to `out`; false
    // when the input ended.
    bool pack_chunk(Job& job, std::uint32_t items, Buffer& out, InFlight& record);
    // The bytes each item of the job packs to when its chunks of `each` items may go to a
    // leader as spans (kRouteSpan): its items pack to a fixed size, its sink takes joined
    // results, no trace asks which member ran each chunk, and a chunk is well within a
    // message. 0: its chunks go one by one.
    std::uint32_t span_item_bytes(const Job& job, std::uint32_t each) const;
    // Appends up to `chunks` of the job's next chunks, `each` items of `item_bytes` apiece, to
    // `out` as one span (SpanHeader, TaskHeader, inputs); returns how many chunks it holds, 0
    // when the input ended.
    std::uint32_t pack_span(Job& job, std::uint32_t each, std::uint32_t item_bytes,
                            std::size_t chunks, Buffer& out, GroupOut& record);
    // Packs up to `want` of the job's items after a header's room at `at` in `out`; 0 when
    // the input ended or threw (the job's sink then has the error).
    std::uint32_t take_inputs(Job& job, std::uint32_t want, Buffer& out, std::size_t at);
    void handle_result(Job& job, const ResultHeader& header, std::uint64_t first,
                       const char* payload, std::size_t size, int rank);
    void retire_if_done(Job& job);
    bool live(const Job& job) const {
        return job.slot < jobs_.size() && jobs_[job.slot].get() == &job;
    }
    Worker& worker(int rank) { return workers_[static_cast<std::size_t>(rank - 1)]; }
    // How many members leader `w` has.
    std::size_t width_of(const Worker& w) const {
        return routes_[static_cast<std::size_t>(w.led)].members.size();
    }
    const Worker& worker(int rank) const { return workers_[static_cast<std::size_t>(rank - 1)]; }

    Outbox& outbox_;
    const Clock& clock_;
    Trace& trace_;
    ChunkRunner& local_;
    const Limits limits_;
    std::vector<Worker> workers_;  // workers_[r - 1] is rank r
    // Rank 0's loop turns many times per task, so no turn walks every worker: dispatch looks
    // at the workers that answered since its last pass (answered_), and poll_again_in at the
    // earliest of dues_ (a heap; an entry whose stamp is not its worker's is stale and
    // skipped). Whatever can give a worker room without an answer (a job submitted, its first
    // estimate, an imap reader's room, a cancel) sets look_at_all_ for one pass over all; and
    // one such pass runs every look_at_all_every_ anyway.
    std::vector<int> answered_;
    bool look_at_all_ = true;
    Clock::time_point looked_at_all_{};
    const Clock::duration look_at_all_every_;
    mutable std::priority_queue<Due, std::vector<Due>, std::greater<>> dues_;
    std::vector<Route> routes_;
    // The routes with a message open in this pass, each once: send_routes walks these, not
    // every leader (10^5 ranks in groups of 16 have 6,250).
    std::vector<int> open_routes_;
    std::map<int, Pool> pools_;
    // Live jobs, each at its `slot` (removed by swapping the last into its place).
    std::vector<std::shared_ptr<Job>> jobs_;
    std::unordered_map<TaskId, double> task_ns_;  // last known cost per item, by task
    int next_pool_id_ = 1;
    std::uint64_t next_job_id_ = 1;
    Buffer member_;  // a routed member's message being packed
    Buffer local_in_;
    Buffer local_out_;
};

}  // namespace mproc::detail
