#pragma once
// Sleeping on a word in memory several processes map, and waking its sleeper: what the pipes'
// rings (rings.cpp) and the group relay's rings (relay_rings.cpp) wait with.

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <ctime>

namespace mproc::detail {

inline long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t value,
                  const timespec* t) {
    // Not FUTEX_PRIVATE: the word is in memory other processes map too.
    return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, value, t, nullptr, 0);
}

// Bumps `seq` and wakes its sleeper, if one said it sleeps. The full fence orders the caller's
// publication (a ring's head or tail) before the look at the flag, against the waiter's
// flag-then-look in sleep_on.
inline void signal(std::atomic<std::uint32_t>& seq, std::atomic<std::uint32_t>& waiting) {
    seq.fetch_add(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (waiting.load(std::memory_order_seq_cst) != 0) futex(seq, FUTEX_WAKE, INT_MAX, nullptr);
}

// Sleeps up to `d` on `seq` unless `ready()`; signal() on it ends the sleep early. No wake-up
// is lost: the flag is raised and seq read before ready() is looked at.
template <class Ready>
void sleep_on(std::atomic<std::uint32_t>& seq, std::atomic<std::uint32_t>& waiting,
              std::chrono::microseconds d, Ready&& ready) {
    const std::uint32_t s = seq.load(std::memory_order_seq_cst);
    waiting.store(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!ready()) {
        const timespec t{0, static_cast<long>(std::chrono::nanoseconds(d).count())};
        futex(seq, FUTEX_WAIT, s, &t);  // returns at once if seq moved since it was read
    }
    waiting.store(0, std::memory_order_relaxed);
}

}  // namespace mproc::detail
