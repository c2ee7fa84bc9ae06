#pragma once
// The task registry: every rank registers the same tasks at static-initialisation time, so a
// task travels as a 64-bit id (a hash of its name and signature) and each side finds the same
// code. The master looks a task up by function address or callable type; a worker by id.

#include <cstdint>
#include <functional>
#include <string>
#include <typeindex>
#include <typeinfo>

#include "mproc/detail/serialize.hpp"
#include "mproc/detail/traits.hpp"

namespace mproc::detail {

// Runs `count` packed items from [in, in + size) and appends their packed results to `out`.
// `done` counts the items finished, so a throw can be pinned to its input.
using ChunkInvoker = std::function<void(const char* in, std::size_t size, std::uint32_t count,
                                        Buffer& out, std::uint32_t& done)>;

struct TaskEntry {
    std::string name;
    std::string signature;
    TaskId id = 0;
    ChunkInvoker invoke;
};

std::string demangle(const char* mangled);

// Registration is keyed by function address (free functions) or by type (callables).
TaskId register_entry(TaskEntry entry, const void* fn_address, const std::type_info* type);
const TaskEntry* find_task(TaskId id) noexcept;
const TaskEntry* find_task_by_address(const void* fn) noexcept;
const TaskEntry* find_task_by_type(const std::type_info& type) noexcept;

// Problems found while registering (duplicate names); mproc::run reports them.
const std::string& registration_errors();

[[noreturn]] void throw_unregistered(const char* what, const void* fn_address,
                                     const std::type_info& type);

template <class F>
ChunkInvoker make_invoker(F f) {
    using T = task_traits<F>;
    return [f = std::move(f)](const char* in, std::size_t size, std::uint32_t count, Buffer& out,
                              std::uint32_t& done) {
        using Pack = typename T::pack;
        using Out = typename T::wire_result;
        if constexpr (Bitwise<Pack> && Bitwise<Out> && !std::is_void_v<typename T::result>) {
            // Tiny tasks on plain values: read and write in place, no per-item bookkeeping.
            if (size < std::size_t{count} * sizeof(Pack))
                throw Error("mproc: truncated message while unpacking");
            const std::size_t at = out.size();
            out.resize(at + std::size_t{count} * sizeof(Out));
            for (done = 0; done < count; ++done) {
                Pack arg;
                std::memcpy(&arg, in + std::size_t{done} * sizeof(Pack), sizeof(Pack));
                const Out r = call_with_pack(f, std::move(arg));
                std::memcpy(out.data() + at + std::size_t{done} * sizeof(Out), &r, sizeof(Out));
            }
            return;
        }
        Unpacker<typename T::pack> args(in, size);
        Packer<typename T::wire_result> results(out);
        for (done = 0; done < count; ++done) {
            if constexpr (std::is_void_v<typename T::result>) {
                call_with_pack(f, args.get());
                results.put(Unit{});
            } else {
                results.put(call_with_pack(f, args.get()));
            }
        }
        results.finish();
    };
}

template <class F>
std::string signature_of() {
    using T = task_traits<F>;
    return demangle(typeid(typename T::wire_result).name()) + "(" +
           demangle(typeid(typename T::pack).name()) + ")";
}

template <class F>
TaskId register_task(std::string name, F&& f) {
    using C = std::decay_t<F>;
    TaskEntry entry{std::move(name), signature_of<C>(), 0, make_invoker<C>(C(std::forward<F>(f)))};
    if constexpr (std::is_pointer_v<C>) {
        return register_entry(std::move(entry), reinterpret_cast<const void*>(f), nullptr);
    } else {
        return register_entry(std::move(entry), nullptr, &typeid(C));
    }
}

// The registry entry for a task passed to a Pool call; throws a clear Error when missing.
template <class F>
const TaskEntry& lookup_task(const F& f, const char* what) {
    using C = std::decay_t<F>;
    const TaskEntry* e = nullptr;
    const void* address = nullptr;
    if constexpr (std::is_pointer_v<C> || std::is_function_v<std::remove_reference_t<F>>) {
        C p = f;
        address = reinterpret_cast<const void*>(p);
        e = find_task_by_address(address);
    } else {
        e = find_task_by_type(typeid(C));
    }
    if (e == nullptr) throw_unregistered(what, address, typeid(C));
    return *e;
}

}  // namespace mproc::detail
