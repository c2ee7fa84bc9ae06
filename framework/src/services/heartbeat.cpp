#include "services/heartbeat.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>

#include "mproc/error.hpp"

namespace mproc::detail {
namespace {

constexpr int kMaxAddresses = 16;
// Seconds: a silence allowed longer than this (some 30 years; MPROC_HEARTBEAT_SECONDS=inf) is
// never reached, and longer ones would overflow the clock's count.
constexpr double kLongestTimeout = 1e9;

// What rank 0 broadcasts: how long a rank may be silent, and where to send.
struct Where {
    double timeout = 0;
    std::uint16_t port = 0;
    std::int32_t count = 0;
    std::uint32_t addresses[kMaxAddresses] = {};  // IPv4, network order
    char host[256] = {};
};

double timeout_from_env() {
    const char* text = std::getenv("MPROC_HEARTBEAT_SECONDS");
    if (text == nullptr || *text == '\0') return 60;
    char* end = nullptr;
    const double t = std::strtod(text, &end);
    if (*end != '\0' || !(t >= 0)) {
        std::cerr << "mproc: MPROC_HEARTBEAT_SECONDS='" << text
                  << "': want a number of seconds (0: no heartbeat); using 60" << std::endl;
        return 60;
    }
    return t;
}

// This host's IPv4 addresses other than loopback.
std::vector<std::uint32_t> own_addresses() {
    std::vector<std::uint32_t> out;
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) return out;
    for (ifaddrs* a = list; a != nullptr && out.size() < kMaxAddresses; a = a->ifa_next) {
        if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
        const auto* in = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
        if ((ntohl(in->sin_addr.s_addr) >> 24) == 127) continue;
        out.push_back(in->sin_addr.s_addr);
    }
    freeifaddrs(list);
    return out;
}

}  // namespace

std::chrono::duration<double> beat_interval(int ranks, double timeout) {
    // Four beats per allowed silence, so a beat or two may be lost; at most one a second, and
    // past kBeatsAtRank0 ranks fewer, as rank 0 takes them all on one thread.
    constexpr double kBeatsAtRank0 = 2000;  // a second
    const double apart = std::max(1.0, ranks / kBeatsAtRank0);
    return std::chrono::duration<double>(std::min(apart, timeout / 4));
}

Liveness::Liveness(int ranks, double timeout, Clock::time_point now)
    : last_(static_cast<std::size_t>(std::max(ranks, 0)), now),
      timeout_(std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(std::min(timeout, kLongestTimeout)))),
      check_every_(std::min<Clock::duration>(timeout_ / 8, std::chrono::seconds(1))),
      checked_(now) {}

void Liveness::heard(int rank, Clock::time_point now) {
    if (rank > 0 && static_cast<std::size_t>(rank) < last_.size())
        last_[static_cast<std::size_t>(rank)] = now;
}

void Liveness::forgive(Clock::time_point now) {
    std::fill(last_.begin(), last_.end(), now);
}

std::optional<std::pair<int, double>> Liveness::silent(Clock::time_point now) {
    if (now - checked_ < check_every_) return std::nullopt;
    checked_ = now;
    for (std::size_t r = 1; r < last_.size(); ++r)
        if (now - last_[r] > timeout_)
            return std::pair{static_cast<int>(r),
                             std::chrono::duration<double>(now - last_[r]).count()};
    return std::nullopt;
}

Heartbeat::Heartbeat(const Communicator& comm, const std::string& host,
                     const std::vector<std::string>& hosts)
    : rank_(comm.rank()), hosts_(hosts) {
    Where where;
    if (rank_ == 0) {
        where.timeout = comm.size() > 1 ? timeout_from_env() : 0;
        if (where.timeout > 0) {
            socket_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            sockaddr_in any{};
            any.sin_family = AF_INET;
            any.sin_addr.s_addr = htonl(INADDR_ANY);
            socklen_t len = sizeof any;
            if (socket_ < 0 || bind(socket_, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0 ||
                getsockname(socket_, reinterpret_cast<sockaddr*>(&any), &len) != 0) {
                std::cerr << "mproc: no heartbeat (a UDP socket: " << std::strerror(errno)
                          << "): a stopped rank would not be noticed" << std::endl;
                where.timeout = 0;
            } else {
                where.port = ntohs(any.sin_port);
                const auto mine = own_addresses();
                where.count = static_cast<std::int32_t>(mine.size());
                std::copy(mine.begin(), mine.end(), where.addresses);
                std::snprintf(where.host, sizeof where.host, "%s", host.c_str());
            }
        }
    }
    check(MPI_Bcast(&where, sizeof where, MPI_BYTE, 0, comm.get()), "MPI_Bcast");
    timeout_ = where.timeout;
    if (timeout_ <= 0) return;
    ranks_ = comm.size();
    if (rank_ == 0) {
        thread_ = std::thread([this] { listen(); });
        return;
    }
    socket_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (socket_ < 0) return;  // rank 0 will name this rank: better than failing here
    std::vector<std::uint32_t> to;
    if (host == where.host) to.push_back(htonl(INADDR_LOOPBACK));
    to.insert(to.end(), where.addresses, where.addresses + where.count);
    thread_ = std::thread([this, to, port = where.port] { beat(to, port); });
}

Heartbeat::~Heartbeat() {
    {
        std::lock_guard lock(stop_mutex_);
        stopping_ = true;
    }
    stop_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (socket_ >= 0) close(socket_);
}

void Heartbeat::beat(std::vector<std::uint32_t> to, std::uint16_t port) {
    const auto every = beat_interval(ranks_, timeout_);
    const std::int32_t me = rank_;
    while (!stopping_) {
        for (std::uint32_t address : to) {
            sockaddr_in dest{};
            dest.sin_family = AF_INET;
            dest.sin_port = htons(port);
            dest.sin_addr.s_addr = address;
            (void)sendto(socket_, &me, sizeof me, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&dest),
                         sizeof dest);
        }
        std::unique_lock lock(stop_mutex_);
        stop_cv_.wait_for(lock, every, [this] { return stopping_.load(); });
    }
}

void Heartbeat::listen() {
    Liveness liveness(ranks_, timeout_, Clock::now());
    auto last_turn = Clock::now();
    while (!stopping_ && lost_ < 0) {
        pollfd p{socket_, POLLIN, 0};
        const bool ready = ::poll(&p, 1, 200) > 0;
        const auto now = Clock::now();
        std::int32_t rank = -1;
        while (ready && recv(socket_, &rank, sizeof rank, MSG_DONTWAIT) == sizeof rank)
            liveness.heard(rank, now);
        // This rank was stopped itself (or starved): what it missed says nothing of the others.
        if (now - last_turn > std::chrono::duration<double>(timeout_ / 2)) liveness.forgive(now);
        last_turn = now;
        if (const auto silent = liveness.silent(now)) {
            silent_for_ = silent->second;
            lost_ = silent->first;
        }
    }
}

bool Heartbeat::poll() {
    const int lost = lost_.load();
    if (lost < 0) return false;
    std::ostringstream what;
    what.precision(1);
    what << std::fixed << "rank " << lost << " on "
         << (static_cast<std::size_t>(lost) < hosts_.size() ? hosts_[static_cast<std::size_t>(lost)]
                                                            : std::string("?"))
         << " stopped answering: no heartbeat for " << silent_for_.load()
         << " s (MPROC_HEARTBEAT_SECONDS=" << timeout_
         << "); it is stopped, hung with its host, or cut off, so the run ends as if it were lost";
    throw Error(what.str());
}

}  // namespace mproc::detail
