#include "crashes.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "files.hpp"

namespace mproc::runner {

CrashBook::CrashBook(const std::string& output, int max_crashes)
    : crashes_path_(output + ".crashes"),
      running_path_(output + ".running"),
      max_crashes_(max_crashes) {
    std::map<std::uint64_t, int> trying;  // suspects sent out alone and not back: their rank
    bool lost_known = false;
    std::ifstream book(crashes_path_);
    std::string line;
    while (std::getline(book, line)) {
        std::istringstream in(line);
        std::string what;
        std::uint64_t a = 0, b = 0;
        if (!(in >> what >> a)) continue;  // a torn last line: what it said is not known
        if (what == "suspect" && in >> b) {
            for (std::uint64_t i = a; i <= b; ++i) suspects_.insert(i);
        } else if (what == "charge" && in >> b) {
            charges_[a] = static_cast<int>(b);
        } else if (what == "try" && in >> b) {
            trying[a] = static_cast<int>(b);
        } else if (what == "ok") {
            trying.erase(a);
            suspects_.erase(a);
        } else if (what == "lost") {
            // The suspect that was running on the lost rank took it down.
            lost_known = true;
            for (auto it = trying.begin(); it != trying.end();)
                if (it->second == static_cast<int>(a)) {
                    ++charges_[it->first];
                    it = trying.erase(it);
                } else {
                    ++it;
                }
        }
    }
    // Where the front could not tell which rank was lost, one suspect alone in flight is the
    // only one that can have done it; with several, none is charged (they run again).
    if (!lost_known && trying.size() == 1) ++charges_[trying.begin()->first];
    std::ifstream running(running_path_);
    while (std::getline(running, line)) {
        std::istringstream in(line);
        std::uint64_t a = 0, b = 0;
        if (in >> a >> b)
            for (std::uint64_t i = a; i <= b; ++i) suspects_.insert(i);
    }
    std::ostringstream text;
    for (auto it = suspects_.begin(); it != suspects_.end();) {
        const std::uint64_t first = *it;
        std::uint64_t last = first;
        while (++it != suspects_.end() && *it == last + 1) ++last;
        text << "suspect " << first << " " << last << "\n";
    }
    for (const auto& [index, n] : charges_) text << "charge " << index << " " << n << "\n";
    if (suspects_.empty() && charges_.empty()) {
        std::remove(crashes_path_.c_str());
    } else {
        replace_file(crashes_path_, text.str());
    }
    std::remove(running_path_.c_str());
}

int CrashBook::charges(std::uint64_t index) const {
    const auto it = charges_.find(index);
    return it == charges_.end() ? 0 : it->second;
}

void CrashBook::append(const std::string& line) {
    std::ofstream f(crashes_path_, std::ios::app);
    f << line << "\n";
    if (!f.flush()) throw IoError("cannot write " + crashes_path_);
}

void CrashBook::trying(std::uint64_t index, int rank) {
    append("try " + std::to_string(index) + " " + std::to_string(rank));
}

void CrashBook::tried(std::uint64_t index) {
    append("ok " + std::to_string(index));
}

void CrashBook::running(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& runs) {
    std::string text;
    for (const auto& [a, b] : runs) text += std::to_string(a) + " " + std::to_string(b) + "\n";
    // Not fsynced: what matters is a lost rank, after which this process writes no more but
    // what it wrote stays; a lost machine loses the journal's tail too.
    replace_file(running_path_, text, false);
}

void CrashBook::finish() {
    std::remove(crashes_path_.c_str());
    std::remove(running_path_.c_str());
}

}  // namespace mproc::runner

namespace mproc::runner {

void Running::reading(std::uint64_t index) {
    std::uint64_t seen = read_to_.load(std::memory_order_relaxed);
    if (index + 1 > seen) read_to_.store(index + 1, std::memory_order_relaxed);
    std::lock_guard lock(write_mutex_);
    if (index < high_) return;
    // Ahead by about what is out (at least 16), so the file is rewritten rarely.
    const std::uint64_t low = low_.load();
    high_ = index + std::max<std::uint64_t>(16, 2 * (index - std::min(index, low)));
    note(low);
}

void Running::recorded(std::uint64_t index) {
    const std::uint64_t low = low_.load(std::memory_order_relaxed);
    if (index < low) return;
    const std::uint64_t at = index - low;
    if (at >= window_.size()) window_.resize(at + 1, 0);
    window_[at] = 1;
}

void Running::write() {
    std::lock_guard lock(write_mutex_);
    const std::uint64_t low = low_.load();
    if (low < high_) note(low);
}

void Running::note(std::uint64_t low) {
    // A hint for after a lost rank, not the results: a failure to write it (a full disk) does
    // not stop the run, whose own next write names the problem.
    try {
        book_.running({{low, high_ - 1}});
    } catch (const IoError& e) {
        if (!warned_)
            std::cerr << "mproc: " << e.what()
                      << " (should a rank be lost now, the inputs it held run again as any)\n";
        warned_ = true;
    }
}

}  // namespace mproc::runner
