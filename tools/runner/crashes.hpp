#pragma once
// Which inputs were running when a rank was lost, and which of them crash their worker.
//
// A lost rank ends the run (mpirun ends them all); the front runs it again with --resume
// (errors.restarts). The inputs that were out on workers then are suspects: the next run
// runs them before anything else, each alone on its worker (one at a time per rank, rank 0
// noting which rank runs which before it starts), so when a rank is lost again only the
// input that was running there is charged. One charged errors.max_crashes
// times is recorded as failed and not run again. Beside OUTPUT:
//   OUTPUT.running   the inputs out on workers, as runs "<first> <last>", replaced whole as
//                    records are written (a process's write survives its death)
//   OUTPUT.crashes   "suspect <first> <last>" and "charge <index> <times>" lines, written whole
//                    when a run starts; then "try <index> <rank>" before a suspect runs on a
//                    rank, "ok <index>" once it came back, and from the front "lost <rank>"
//                    when a rank was lost: a "try" on the lost rank with no "ok" is a charge
// Both go once the results are complete.

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace mproc::runner {

class CrashBook {
  public:
    // Reads what the runs before left, charges the input that was running alone when a rank
    // was lost, and makes the inputs running then suspects. Writes the merged book back.
    CrashBook(const std::string& output, int max_crashes);

    const std::set<std::uint64_t>& suspects() const { return suspects_; }
    bool suspect(std::uint64_t index) const { return suspects_.count(index) != 0; }
    int charges(std::uint64_t index) const;
    bool poisoned(std::uint64_t index) const { return charges(index) >= max_crashes_; }

    // Around a suspect run alone on `rank`.
    void trying(std::uint64_t index, int rank);
    void tried(std::uint64_t index);
    // The inputs out on workers now, as [first, last] runs.
    void running(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& runs);
    // The results are complete: nothing is left to suspect.
    void finish();

  private:
    void append(const std::string& line);

    std::string crashes_path_, running_path_;
    int max_crashes_;
    std::set<std::uint64_t> suspects_;
    std::map<std::uint64_t, int> charges_;
};

}  // namespace mproc::runner

namespace mproc::runner {

// Keeps OUTPUT.running ahead of the inputs going out: it names one run [low, high) of
// indices, where `low` is the first input not yet recorded and `high` is past every input
// handed out. It is rewritten before an input at or past `high` goes out (with `high` moved on
// by about what is out, so rarely), and as records come in. A superset of what was out when a
// rank was lost: the next run gives each of those not done a worker to itself, and only an
// input that crashes again is charged.
class Running {
  public:
    Running(CrashBook& book, std::uint64_t first) : book_(book), low_(first), high_(first) {}

    // On the thread reading the inputs, before input `index` goes out.
    void reading(std::uint64_t index);
    // On the thread taking results: `index` is recorded.
    void recorded(std::uint64_t index);
    // On the thread taking results, as they are flushed: moves `low` past what is recorded or
    // was never handed out (`skip`), and writes the file.
    template <class Skip>
    void save(Skip&& skip) {
        std::uint64_t low = low_.load();
        while (low < read_to_.load()) {
            const bool rec = !window_.empty() && window_.front() != 0;
            if (!rec && !skip(low)) break;
            if (!window_.empty()) window_.pop_front();
            ++low;
        }
        low_.store(low);
        write();
    }

  private:
    void write();
    void note(std::uint64_t low);  // writes [low, high_); needs write_mutex_

    CrashBook& book_;
    std::atomic<std::uint64_t> low_;
    std::atomic<std::uint64_t> read_to_{0};
    std::deque<std::uint8_t> window_;  // [low_, ...): 1 once recorded (the results' thread)
    std::mutex write_mutex_;           // both threads write the file
    std::uint64_t high_;               // guarded by write_mutex_
    bool warned_ = false;              // guarded by write_mutex_
};

}  // namespace mproc::runner
