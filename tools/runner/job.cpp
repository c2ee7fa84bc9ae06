#include "job.hpp"

#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>

namespace mproc::runner {
namespace {
std::map<std::string, JobSpec>& registry() {
    static std::map<std::string, JobSpec> jobs;
    return jobs;
}
}  // namespace

namespace {
std::atomic<bool> g_stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free);  // safe to store from a signal handler
}  // namespace

void request_stop() noexcept {
    g_stop_requested.store(true);
}

bool stop_requested() noexcept {
    return g_stop_requested.load();
}

void TaskContext::check() const {
    if (stop_requested()) throw TaskInterrupted("the run was stopped");
    if (deadline_ && Clock::now() > *deadline_) {
        throw TaskTimeout("timed out after " + Value(timeout_seconds_).json() + " s");
    }
}

bool register_job(JobSpec spec) {
    auto [it, fresh] = registry().emplace(spec.name, std::move(spec));
    if (!fresh) {
        std::cerr << "mproc: job '" << it->first << "' is registered twice\n";
        std::abort();  // a build mistake, found at start-up
    }
    return true;
}

const JobSpec* find_job(const std::string& name) {
    auto it = registry().find(name);
    return it == registry().end() ? nullptr : &it->second;
}

std::vector<const JobSpec*> all_jobs() {
    std::vector<const JobSpec*> out;
    for (const auto& [name, spec] : registry()) out.push_back(&spec);
    return out;
}

std::string join(const std::vector<std::string>& words, const std::string& between) {
    std::string s;
    for (std::size_t i = 0; i < words.size(); ++i) s += (i == 0 ? "" : between) + words[i];
    return s;
}

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

const char* type_name(ParamType t) {
    switch (t) {
        case ParamType::integer:
            return "integer";
        case ParamType::number:
            return "number";
        case ParamType::string:
            return "string";
        case ParamType::boolean:
            return "boolean";
        case ParamType::list:
            return "list";
    }
    return "?";
}

}  // namespace mproc::runner
