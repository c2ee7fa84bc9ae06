// Shared values and locks on one-sided windows, under contention, at 1, 2, 3 and 5 ranks.
// Workers use them from pool tasks; rank 0's own thread (through the engine) and extra
// threads of rank 0 take part too, so every path is exercised at every rank count.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <mproc/mproc.hpp>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;
using Counter = mproc::Value<std::int64_t>;

namespace {

// ---- Tasks ------------------------------------------------------------------------------

int add_locked(Counter counter, mproc::Lock lock, int times) {
    for (int i = 0; i < times; ++i) {
        std::lock_guard hold(lock);
        counter.store(counter.load() + 1);  // a plain read-modify-write, made safe by the lock
    }
    return times;
}
MPROC_TASK(add_locked);

int add_racy(Counter counter, int times) {
    for (int i = 0; i < times; ++i) {
        const auto v = counter.load();
        std::this_thread::yield();  // widen the window between load and store
        counter.store(v + 1);
    }
    return times;
}
MPROC_TASK(add_racy);

int add_with_get_lock(Counter counter, int times) {
    for (int i = 0; i < times; ++i) {
        std::lock_guard hold(counter.get_lock());
        counter.store(counter.load() + 1);
    }
    return times;
}
MPROC_TASK(add_with_get_lock);

// Counts how often another holder was seen inside the critical section.
int overlaps_under_lock(mproc::Lock lock, Counter inside, int times) {
    int overlaps = 0;
    for (int i = 0; i < times; ++i) {
        std::lock_guard hold(lock);
        if (inside.fetch_add(1) != 0) ++overlaps;
        std::this_thread::yield();
        inside.fetch_add(-1);
    }
    return overlaps;
}
MPROC_TASK(overlaps_under_lock);

// 0 when the RLock behaves: reentrant, released as often as taken, foreign unlock refused.
int rlock_reentrancy(mproc::RLock lock) {
    lock.lock();
    lock.lock();
    if (!lock.try_lock()) return 1;
    lock.unlock();
    lock.unlock();
    lock.unlock();
    try {
        lock.unlock();
        return 2;  // one unlock too many went through
    } catch (const mproc::SyncError&) {
    }
    return 0;
}
MPROC_TASK(rlock_reentrancy);

// Milliseconds a timed acquire of a held lock took (negative if it wrongly succeeded).
long timed_lock_ms(mproc::Lock lock, int timeout_ms) {
    const auto t0 = std::chrono::steady_clock::now();
    if (lock.try_lock_for(std::chrono::milliseconds(timeout_ms))) {
        lock.unlock();
        return -1;
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 t0)
        .count();
}
MPROC_TASK(timed_lock_ms);

// Holds the semaphore briefly and records the most holders seen at once.
int hold_semaphore(mproc::Semaphore sem, Counter holders, Counter most, int times) {
    for (int i = 0; i < times; ++i) {
        std::lock_guard hold(sem);
        const auto now = holders.fetch_add(1) + 1;
        for (auto seen = most.load(); now > seen && !most.compare_exchange(seen, now);) {
        }
        std::this_thread::sleep_for(200us);
        holders.fetch_add(-1);
    }
    return times;
}
MPROC_TASK(hold_semaphore);

bool wait_event(mproc::Event event) {
    return event.wait(30s);
}
MPROC_TASK(wait_event);

// Passes the barrier `rounds` times; counts rounds where someone got through before all had
// arrived.
int pass_barrier(mproc::Barrier barrier, mproc::Array<std::int64_t> arrivals, int rounds) {
    int early = 0;
    for (int r = 0; r < rounds; ++r) {
        arrivals.fetch_add(static_cast<std::size_t>(r), 1);
        barrier.wait(60s);
        if (arrivals.load(static_cast<std::size_t>(r)) != barrier.parties()) ++early;
    }
    return early;
}
MPROC_TASK(pass_barrier);

void failing_action() {
    throw std::runtime_error("the action gave up");
}

// Arrives second: waits until another party waits, so the last to arrive is on this rank.
int wait_second(mproc::Barrier barrier) {
    // mproc::sleep, not std's: at one rank this runs on rank 0's MPI thread, whose waits
    // serve rank 0's other threads.
    while (barrier.n_waiting() < 1) mproc::sleep(1ms);
    return barrier.wait(60s);
}
MPROC_TASK(wait_second);

// Makes a Barrier whose action runs here, on this (worker) rank, and hands it to rank 0.
int own_barrier(mproc::Queue<mproc::Barrier> out, mproc::Value<std::int32_t> ran) {
    const int me = mproc::current_process().rank();
    mproc::Barrier barrier(2, [ran, me]() mutable {
        ran.fetch_add(mproc::current_process().rank() == me ? 1 : 100);  // 100: ran elsewhere
    });
    out.put(barrier);
    return barrier.wait(60s);
}
MPROC_TASK(own_barrier);

// Makes a Barrier whose action runs on this rank, hands it over and ends: the rank, idle
// between tasks, runs the action when the last party (elsewhere) asks.
int own_barrier_and_leave(mproc::Queue<mproc::Barrier> out, mproc::Value<std::int32_t> ran) {
    mproc::Barrier barrier(2, [ran]() mutable { ran.fetch_add(1); });
    out.put(barrier);
    return 0;
}
MPROC_TASK(own_barrier_and_leave);

// Barriers, arrays and pipe ends inside containers, used on the worker.
std::size_t use_containers(std::vector<mproc::Array<std::int32_t>> arrays,
                           std::vector<mproc::Barrier> barriers,
                           std::vector<mproc::Connection<int>> ends) {
    for (auto& a : arrays) a.fetch_add(0, 1);
    for (auto& b : barriers) b.wait(30s);
    for (auto& e : ends) e.send(static_cast<int>(e.closed()) + 7);
    return arrays.size() + barriers.size() + ends.size();
}
MPROC_TASK(use_containers);

// Takes one item from `items`, waiting on the condition while there is none.
int consume_one(mproc::Condition cond, Counter items) {
    std::lock_guard hold(cond);
    cond.wait([&] { return items.load() > 0; });
    items.fetch_add(-1);
    return 1;
}
MPROC_TASK(consume_one);

// Small counters from every worker at once: 16-bit and 8-bit atomics.
int add_small(mproc::Value<std::int16_t> wide, mproc::Value<std::int8_t> narrow, int times) {
    for (int i = 0; i < times; ++i) {
        wide.fetch_add(1);
        narrow.fetch_add(1);
    }
    return times;
}
MPROC_TASK(add_small);

int tasks_for(int per_worker) {
    return per_worker * std::max(1, mproc::worker_count());
}

}  // namespace

// ---- Value and Array ----------------------------------------------------------------------

TEST(Shared, ValueOperations) {
    Counter v(5);
    EXPECT_EQ(v.load(), 5);
    v.store(7);
    EXPECT_EQ(v.fetch_add(3), 7);
    EXPECT_EQ(v.exchange(-1), 10);
    std::int64_t expected = 0;
    EXPECT_FALSE(v.compare_exchange(expected, 9));
    EXPECT_EQ(expected, -1);
    EXPECT_TRUE(v.compare_exchange(expected, 9));
    EXPECT_EQ(v.value(), 9);

    mproc::Value<double> d(0.5);
    EXPECT_DOUBLE_EQ(d.fetch_add(0.25), 0.5);
    EXPECT_DOUBLE_EQ(d.load(), 0.75);
    double de = 0.75;
    EXPECT_TRUE(d.compare_exchange(de, 2.0));
    mproc::RawValue<std::uint32_t> u(4000000000u);
    EXPECT_EQ(u.fetch_add(1), 4000000000u);
    mproc::Value<float> f(1.5f);
    EXPECT_FLOAT_EQ(f.exchange(2.5f), 1.5f);
    mproc::RawValue<std::int32_t> i32(-3);
    EXPECT_EQ(i32.fetch_add(5), -3);
    mproc::Value<std::uint64_t> u64(1);
    EXPECT_EQ(u64.load(), 1u);
}

TEST(Shared, ArrayOperations) {
    mproc::Array<std::int64_t> a(5, 2);
    EXPECT_EQ(a.size(), 5u);
    EXPECT_EQ(a.to_vector(), (std::vector<std::int64_t>{2, 2, 2, 2, 2}));
    a.store(1, 10);
    EXPECT_EQ(a.fetch_add(1, 5), 10);
    EXPECT_EQ(a.load(1), 15);
    a.assign({1, 2, 3, 4, 5});
    EXPECT_EQ(a.to_vector(), (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
    EXPECT_THROW(a.load(5), std::out_of_range);
    EXPECT_THROW(a.assign({1}), std::invalid_argument);
    mproc::RawArray<double> d(std::vector<double>{0.5, 1.5});
    EXPECT_EQ(d.to_vector(), (std::vector<double>{0.5, 1.5}));
}

TEST(Shared, ThousandsOfObjectsAndAClearErrorWhenTheArenaIsFull) {
    std::vector<Counter> values;
    std::vector<mproc::Lock> locks;
    for (int i = 0; i < 2000; ++i) {
        values.emplace_back(i);
        locks.emplace_back();
    }
    EXPECT_EQ(values[1234].load(), 1234);
    try {
        mproc::RawArray<double> huge(std::size_t{1} << 30);
        FAIL() << "an 8 GiB array fit the arena";
    } catch (const mproc::ResourceError& e) {
        EXPECT_NE(std::string(e.what()).find("MPROC_SHARED_BYTES"), std::string::npos) << e.what();
    }
}

// ---- The seeds' example: ten processes, twenty increments each -----------------------------

TEST(Shared, TenTimesTwentyUnderTheLockIsExactly200) {
    mproc::Pool pool;
    Counter counter(0);
    mproc::Lock lock;
    std::vector<std::tuple<Counter, mproc::Lock, int>> args(10, {counter, lock, 20});
    pool.starmap(add_locked, args, 1);
    EXPECT_EQ(counter.load(), 200);
}

TEST(Shared, GetLockGivesTheSameExactResult) {
    mproc::Pool pool;
    Counter counter(0);
    std::vector<std::tuple<Counter, int>> args(10, {counter, 20});
    pool.starmap(add_with_get_lock, args, 1);
    EXPECT_EQ(counter.load(), 200);
}

TEST(Shared, WithoutTheLockUpdatesAreLost) {
    // Shown, not asserted: how many are lost depends on timing (and with one worker, none).
    mproc::Pool pool;
    Counter counter(0);
    std::vector<std::tuple<Counter, int>> args(10, {counter, 2000});
    pool.starmap(add_racy, args, 1);
    const auto total = counter.load();
    std::cout << "[ info     ] without the lock: " << total << " of 20000 increments kept ("
              << pool.processes() << " workers)\n";
    EXPECT_GT(total, 0);
    EXPECT_LE(total, 20000);
}

// ---- Locks --------------------------------------------------------------------------------

TEST(Shared, LockExcludesEveryoneIncludingRankZero) {
    mproc::Pool pool;
    mproc::Lock lock;
    Counter inside(0);
    std::vector<std::tuple<mproc::Lock, Counter, int>> args(static_cast<std::size_t>(tasks_for(2)),
                                                            {lock, inside, 300});
    auto result = pool.starmap_async(overlaps_under_lock, args, 1);
    // Rank 0's thread (through the engine) and another thread of rank 0 contend as well.
    int ours = 0, theirs = 0;
    std::thread other([&] { theirs = overlaps_under_lock(lock, inside, 200); });
    ours = overlaps_under_lock(lock, inside, 200);
    other.join();
    int overlaps = ours + theirs;
    for (int o : result.get()) overlaps += o;
    EXPECT_EQ(overlaps, 0);
    EXPECT_EQ(inside.load(), 0);
}

TEST(Shared, RLockIsReentrantAndRefusesForeignUnlock) {
    mproc::Pool pool;
    mproc::RLock lock;
    EXPECT_EQ(pool.apply(rlock_reentrancy, lock), 0);
    EXPECT_EQ(rlock_reentrancy(lock), 0);
    lock.lock();
    std::thread stranger([&] { EXPECT_THROW(lock.unlock(), mproc::SyncError); });
    stranger.join();
    lock.unlock();
    mproc::Lock plain;
    EXPECT_THROW(plain.unlock(), mproc::SyncError);
}

TEST(Shared, TimedLockTimesOutWhileHeldAndSucceedsWhenFree) {
    mproc::Pool pool;
    mproc::Lock lock;
    lock.lock();
    const long waited = pool.apply(timed_lock_ms, lock, 100);
    EXPECT_GE(waited, 100);
    EXPECT_LT(waited, 5000);
    lock.unlock();
    EXPECT_EQ(pool.apply(timed_lock_ms, lock, 100), -1);  // free: taken at once
    EXPECT_TRUE(lock.try_lock_for(10ms));
    EXPECT_FALSE(lock.try_lock());
    lock.unlock();
}

TEST(Shared, LockWorksWithStdLockTypes) {
    mproc::Lock a;
    mproc::RLock b;
    {
        std::scoped_lock both(a, b);
        EXPECT_FALSE(a.try_lock());
    }
    std::unique_lock hold(a, std::defer_lock);
    EXPECT_TRUE(hold.try_lock());
}

// ---- Semaphores, events, barriers, conditions ---------------------------------------------

TEST(Shared, SemaphoreNeverAdmitsMoreThanItsValue) {
    mproc::Pool pool;
    mproc::Semaphore sem(2);
    Counter holders(0), most(0);
    std::vector<std::tuple<mproc::Semaphore, Counter, Counter, int>> args(
        static_cast<std::size_t>(tasks_for(2)), {sem, holders, most, 40});
    auto result = pool.starmap_async(hold_semaphore, args, 1);
    hold_semaphore(sem, holders, most, 40);
    result.get();
    EXPECT_LE(most.load(), 2);
    EXPECT_GE(most.load(), 1);
    EXPECT_EQ(holders.load(), 0);
    EXPECT_EQ(sem.get_value(), 2);
}

TEST(Shared, SemaphoreTimeoutsAndBounds) {
    mproc::Semaphore sem(1);
    EXPECT_TRUE(sem.try_acquire());
    EXPECT_FALSE(sem.try_acquire());
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(sem.try_acquire_for(50ms));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);
    sem.release(3);  // an ordinary semaphore may go above its start
    EXPECT_EQ(sem.get_value(), 3);

    mproc::BoundedSemaphore bounded(2);
    bounded.acquire();
    bounded.release();
    EXPECT_THROW(bounded.release(), mproc::SyncError);
    EXPECT_EQ(bounded.get_value(), 2);
}

TEST(Shared, EventWakesEveryWaiter) {
    mproc::Pool pool;
    mproc::Event event;
    EXPECT_FALSE(event.is_set());
    EXPECT_FALSE(event.wait(20ms));
    std::vector<mproc::Event> args(static_cast<std::size_t>(tasks_for(1)), event);
    auto result = pool.map_async(wait_event, args, 1);
    std::this_thread::sleep_for(50ms);
    event.set();
    for (bool woke : result.get()) EXPECT_TRUE(woke);
    EXPECT_TRUE(event.is_set());
    event.clear();
    EXPECT_FALSE(event.is_set());
}

TEST(Shared, BarrierHoldsEveryGenerationUntilAllArrive) {
    // One task per worker (each takes one, the first chunks go one per worker), rank 0's
    // thread and one more thread of rank 0.
    const int workers = mproc::worker_count();
    const int parties = workers + 2, rounds = 20;
    mproc::Pool pool;
    mproc::Barrier barrier(parties);
    mproc::Array<std::int64_t> arrivals(rounds, 0);
    std::vector<std::tuple<mproc::Barrier, mproc::Array<std::int64_t>, int>> args(
        static_cast<std::size_t>(workers), {barrier, arrivals, rounds});
    auto result = pool.starmap_async(pass_barrier, args, 1);
    int theirs = 0;
    std::thread other([&] { theirs = pass_barrier(barrier, arrivals, rounds); });
    int early = pass_barrier(barrier, arrivals, rounds);
    other.join();
    early += theirs;
    for (int e : result.get()) early += e;
    EXPECT_EQ(early, 0);
    EXPECT_EQ(arrivals.to_vector(), std::vector<std::int64_t>(rounds, parties));
    EXPECT_EQ(barrier.n_waiting(), 0);
}

// Python's Barrier(parties, action) and reset() (CPython's _TestBarrier).
TEST(Shared, BarrierActionRunsOncePerGenerationBeforeAnyPartyGoesOn) {
    const int workers = mproc::worker_count();
    const int parties = workers + 2, rounds = 5;
    mproc::Value<std::int32_t> actions(0);
    // A capturing lambda: it touches this process's memory, so it must run here.
    std::atomic<int> ran_here{0};
    std::mutex pids_mutex;
    std::set<int> pids;
    mproc::Barrier barrier(parties, [&ran_here, &pids_mutex, &pids, actions]() mutable {
        ran_here.fetch_add(1);
        std::lock_guard hold(pids_mutex);
        pids.insert(static_cast<int>(getpid()));
        actions.fetch_add(1);
    });
    mproc::Pool pool;
    mproc::Array<std::int64_t> arrivals(rounds, 0);
    const std::vector<std::tuple<mproc::Barrier, mproc::Array<std::int64_t>, int>> args(
        static_cast<std::size_t>(workers), {barrier, arrivals, rounds});
    auto result = pool.starmap_async(pass_barrier, args, 1);
    std::thread other([&] { (void)pass_barrier(barrier, arrivals, rounds); });
    for (int r = 0; r < rounds; ++r) {
        arrivals.fetch_add(static_cast<std::size_t>(r), 1);
        barrier.wait(60s);
        EXPECT_EQ(actions.load(), r + 1) << "round " << r;  // ran before anyone went on
    }
    other.join();
    for (int early : result.get()) EXPECT_EQ(early, 0);
    EXPECT_EQ(ran_here.load(), rounds);
    EXPECT_EQ(pids, std::set<int>{static_cast<int>(getpid())});
}

// The last party is on a worker rank (or, at one rank, rank 0's pool): the action still runs
// in the process that made the barrier.
TEST(Shared, BarrierActionRunsInItsMakerWhenAnotherRankArrivesLast) {
    mproc::Pool pool(mproc::worker_count() > 0 ? 1 : 0);
    std::atomic<int> ran{0};
    mproc::Barrier barrier(2, [&ran] { ran.fetch_add(1); });
    auto second = pool.apply_async(wait_second, barrier);
    EXPECT_GE(barrier.wait(60s), 0);
    EXPECT_GE(second.get(), 0);
    EXPECT_EQ(ran.load(), 1);

    // Made on a worker rank: rank 0 arrives last, and the worker runs the action while it
    // waits on the barrier.
    mproc::Queue<mproc::Barrier> handed;
    mproc::Value<std::int32_t> owner_ran(0);
    auto owner = pool.apply_async(own_barrier, handed, owner_ran);
    mproc::Barrier theirs = handed.get(60s);
    while (theirs.n_waiting() < 1) std::this_thread::sleep_for(1ms);
    EXPECT_EQ(theirs.wait(60s), 1);
    EXPECT_EQ(owner.get(), 0);
    EXPECT_EQ(owner_ran.load(), 1);

    // Made on a worker rank that is idle by the time both parties (threads of rank 0) arrive.
    mproc::Value<std::int32_t> idle_ran(0);
    EXPECT_EQ(pool.apply(own_barrier_and_leave, handed, idle_ran), 0);
    mproc::Barrier left = handed.get(60s);
    std::thread other([&] { EXPECT_GE(left.wait(60s), 0); });
    EXPECT_GE(left.wait(60s), 0);
    other.join();
    EXPECT_EQ(idle_ran.load(), 1);

    // An action that throws where nobody waits for it breaks the barrier for every party.
    mproc::Barrier failing(2, failing_action);
    auto last = pool.apply_async(wait_second, failing);
    EXPECT_THROW(failing.wait(60s), mproc::BrokenBarrierError);
    EXPECT_ANY_THROW(last.get());
    EXPECT_TRUE(failing.broken());
}

// Handles with no default of their own (Array, Barrier, Connection) travel in containers,
// and an empty one says what it is when used.
TEST(Shared, ArraysBarriersAndPipeEndsTravelInContainers) {
    mproc::Pool pool;
    std::vector<mproc::Array<std::int32_t>> arrays{mproc::Array<std::int32_t>(2, 0),
                                                   mproc::Array<std::int32_t>(3, 5)};
    std::vector<mproc::Barrier> barriers{mproc::Barrier(1), mproc::Barrier(1)};
    std::vector<mproc::Connection<int>> readers, writers;
    for (int i = 0; i < 3; ++i) {
        auto [r, w] = mproc::Pipe<int>(false);
        readers.push_back(r);
        writers.push_back(w);
    }
    EXPECT_EQ(pool.apply(use_containers, arrays, barriers, writers), 7u);
    EXPECT_EQ(arrays[0].to_vector(), (std::vector<std::int32_t>{1, 0}));
    EXPECT_EQ(arrays[1].to_vector(), (std::vector<std::int32_t>{6, 5, 5}));
    for (auto& r : readers) EXPECT_EQ(r.recv(), 7);

    mproc::Array<std::int32_t> empty_array;
    EXPECT_EQ(empty_array.size(), 0u);
    EXPECT_THROW((void)empty_array.load(0), std::out_of_range);
    mproc::Barrier empty_barrier;
    EXPECT_THROW(empty_barrier.wait(), mproc::Error);
    EXPECT_THROW((void)empty_barrier.n_waiting(), mproc::Error);
    mproc::Connection<int> empty_end;
    EXPECT_THROW(empty_end.send(1), mproc::Error);
    EXPECT_THROW((void)empty_end.recv(), mproc::Error);
}

TEST(Shared, BarrierActionThatThrowsBreaksItAndResetMendsIt) {
    mproc::Barrier alone(1, failing_action);
    EXPECT_THROW(alone.wait(), std::runtime_error);
    EXPECT_TRUE(alone.broken());
    EXPECT_THROW(alone.wait(), mproc::BrokenBarrierError);
    alone.reset();
    EXPECT_FALSE(alone.broken());

    mproc::Barrier two(2);
    std::thread waiter([&] { EXPECT_THROW(two.wait(30s), mproc::BrokenBarrierError); });
    while (two.n_waiting() < 1) std::this_thread::sleep_for(1ms);
    two.reset();  // the waiter leaves with BrokenBarrierError; the barrier is whole again
    waiter.join();
    EXPECT_FALSE(two.broken());
    EXPECT_EQ(two.n_waiting(), 0);
    std::thread partner([&] { EXPECT_GE(two.wait(30s), 0); });
    EXPECT_GE(two.wait(30s), 0);
    partner.join();
}

TEST(Shared, BarrierTimeoutBreaksIt) {
    mproc::Barrier barrier(2);
    EXPECT_EQ(barrier.n_waiting(), 0);
    EXPECT_THROW(barrier.wait(30ms), mproc::BrokenBarrierError);
    EXPECT_TRUE(barrier.broken());
    EXPECT_EQ(barrier.n_waiting(), 0);  // as in Python: the party that gave up waits no more
    EXPECT_THROW(barrier.wait(), mproc::BrokenBarrierError);
}

// Python's names and results (CPython's _TestLock, _TestEvent, _TestCondition).
TEST(Shared, LockedEventWaitAndWaitForAsInPython) {
    mproc::Lock lock;
    EXPECT_FALSE(lock.locked());
    lock.acquire();
    EXPECT_TRUE(lock.locked());
    lock.release();
    EXPECT_FALSE(lock.locked());
    mproc::RLock rlock;
    rlock.acquire();
    rlock.acquire();
    rlock.release();
    EXPECT_TRUE(rlock.locked());  // still held once
    rlock.release();
    EXPECT_FALSE(rlock.locked());

    mproc::Event event;
    event.set();
    EXPECT_TRUE(event.wait());

    mproc::Condition cond;
    mproc::Value<std::int32_t> flag(0);
    std::thread other([&] {
        std::this_thread::sleep_for(20ms);
        std::lock_guard hold(cond);
        flag.store(1);
        cond.notify_all();
    });
    {
        std::lock_guard hold(cond);
        EXPECT_TRUE(cond.wait_for([&] { return flag.load() == 1; }));  // no timeout
    }
    other.join();
}

// Python's Value('?'), ('b'), ('h'), ('c') and a char Array used as a string.
TEST(Shared, SmallTypesAndCharArraysAsInPython) {
    mproc::Value<bool> flag(false);
    flag.store(true);
    EXPECT_TRUE(flag.load());
    bool expected = true;
    EXPECT_TRUE(flag.compare_exchange(expected, false));
    EXPECT_FALSE(flag.value());
    mproc::Value<char> letter('a');
    letter.store('z');
    EXPECT_EQ(letter.load(), 'z');
    mproc::Array<char> text(16);
    text.set_value("hello");
    EXPECT_EQ(text.value(), "hello");
    EXPECT_EQ(text.raw(), std::string("hello") + std::string(11, '\0'));
    EXPECT_THROW(text.set_value(std::string(17, 'x')), std::invalid_argument);

    mproc::Value<std::int16_t> wide(-1000);
    mproc::Value<std::int8_t> narrow(-100);
    mproc::Pool pool;
    const int per_task = 25;
    const int tasks = 4 * pool.processes();
    const std::vector<std::tuple<mproc::Value<std::int16_t>, mproc::Value<std::int8_t>, int>> args(
        static_cast<std::size_t>(tasks), {wide, narrow, per_task});
    int total = 0;
    for (int n : pool.starmap(add_small, args, 1)) total += n;
    EXPECT_EQ(wide.load(), -1000 + total);
    EXPECT_EQ(narrow.load(), static_cast<std::int8_t>(-100 + total));  // wraps, as int8 does
}

TEST(Shared, ConditionHandsItemsToWaitingConsumers) {
    mproc::Pool pool;
    mproc::Condition cond;
    Counter items(0);
    const int consumers = tasks_for(2);
    std::vector<std::tuple<mproc::Condition, Counter>> args(static_cast<std::size_t>(consumers),
                                                            {cond, items});
    auto result = pool.starmap_async(consume_one, args, 1);
    for (int i = 0; i < consumers; ++i) {
        std::this_thread::sleep_for(2ms);
        std::lock_guard hold(cond);
        items.fetch_add(1);
        cond.notify();
    }
    int consumed = 0;
    for (int c : result.get()) consumed += c;
    EXPECT_EQ(consumed, consumers);
    EXPECT_EQ(items.load(), 0);
}

TEST(Shared, ConditionTimeoutLeavesNoStaleWaiter) {
    mproc::Lock lock;
    mproc::Condition cond(lock);
    EXPECT_THROW(cond.notify(), mproc::SyncError);  // not holding the lock
    {
        std::lock_guard hold(cond);
        EXPECT_FALSE(cond.wait(20ms));  // nobody notifies
    }
    // The timed-out waiter left the queue, so this notify reaches the thread that waits now.
    mproc::Event waiting;
    bool woken = false;
    std::thread waiter([&] {
        std::lock_guard hold(cond);
        waiting.set();
        woken = cond.wait(30s);
    });
    waiting.wait();
    {
        std::lock_guard hold(cond);
        cond.notify();
    }
    waiter.join();
    EXPECT_TRUE(woken);
}
