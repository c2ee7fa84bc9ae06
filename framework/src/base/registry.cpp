#include "mproc/detail/registry.hpp"

#include <cxxabi.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <unordered_map>

#include "mproc/error.hpp"

namespace mproc::detail {
namespace {

struct Registry {
    std::unordered_map<TaskId, TaskEntry> by_id;
    std::unordered_map<const void*, TaskId> by_address;
    std::unordered_map<std::type_index, TaskId> by_type;
    std::string errors;
};

// Built on first use, so registrations from any translation unit's static initialisers work.
Registry& registry() {
    static Registry r;
    return r;
}

// FNV-1a: stable across ranks and builds, unlike std::hash.
TaskId hash_name(const std::string& s) {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

}  // namespace

std::string demangle(const char* mangled) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> name(
        abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
    return status == 0 && name ? std::string(name.get()) : std::string(mangled);
}

TaskId register_entry(TaskEntry entry, const void* fn_address, const std::type_info* type) {
    Registry& r = registry();
    entry.id = hash_name(entry.name + "|" + entry.signature);
    for (const auto& [id, other] : r.by_id) {
        if (other.name == entry.name) {
            r.errors += "mproc: task name '" + entry.name + "' is registered twice (" +
                        other.signature + " and " + entry.signature +
                        "); give one of them another name with MPROC_TASK_AS\n";
            return other.id;
        }
    }
    const TaskId id = entry.id;
    if (fn_address != nullptr) r.by_address.emplace(fn_address, id);
    if (type != nullptr) r.by_type.emplace(std::type_index(*type), id);
    r.by_id.emplace(id, std::move(entry));
    return id;
}

const TaskEntry* find_task(TaskId id) noexcept {
    auto& m = registry().by_id;
    auto it = m.find(id);
    return it == m.end() ? nullptr : &it->second;
}

const TaskEntry* find_task_by_address(const void* fn) noexcept {
    auto& m = registry().by_address;
    auto it = m.find(fn);
    return it == m.end() ? nullptr : find_task(it->second);
}

const TaskEntry* find_task_by_type(const std::type_info& type) noexcept {
    auto& m = registry().by_type;
    auto it = m.find(std::type_index(type));
    return it == m.end() ? nullptr : find_task(it->second);
}

const std::string& registration_errors() {
    return registry().errors;
}

void throw_unregistered(const char* what, const void* fn_address, const std::type_info& type) {
    std::ostringstream msg;
    msg << what << ": the task ";
    Dl_info info{};
    if (fn_address != nullptr && dladdr(fn_address, &info) != 0 && info.dli_sname != nullptr) {
        msg << "'" << demangle(info.dli_sname) << "' ";
    } else if (fn_address != nullptr) {
        msg << "at " << fn_address << " ";
    }
    msg << "(" << demangle(type.name()) << ") is not registered; add MPROC_TASK(name) or "
        << "MPROC_TASK_AS(\"name\", callable) at namespace scope so every rank knows it";
    throw Error(msg.str());
}

}  // namespace mproc::detail
