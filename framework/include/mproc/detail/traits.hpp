#pragma once
// What a task looks like from outside: its result type and the "pack" that travels as one
// input item (the argument itself for a one-argument task, a tuple of arguments otherwise).

#include <cstddef>
#include <functional>
#include <tuple>
#include <type_traits>

#include "mproc/detail/serialize.hpp"

namespace mproc::detail {

template <class Sig>
struct signature_traits;

template <class R, class... Args>
struct signature_traits<R(Args...)> {
    using result = R;
    using args = std::tuple<std::decay_t<Args>...>;
    static constexpr std::size_t arity = sizeof...(Args);
};

template <class F, class = void>
struct callable_signature;

template <class R, class... Args>
struct callable_signature<R (*)(Args...)> {
    using type = R(Args...);
};
template <class R, class... Args>
struct callable_signature<R (*)(Args...) noexcept> {
    using type = R(Args...);
};

template <class C, class R, class... Args>
struct member_signature {
    using type = R(Args...);
};
template <class M>
struct member_call;
template <class C, class R, class... Args>
struct member_call<R (C::*)(Args...)> : member_signature<C, R, Args...> {};
template <class C, class R, class... Args>
struct member_call<R (C::*)(Args...) const> : member_signature<C, R, Args...> {};
template <class C, class R, class... Args>
struct member_call<R (C::*)(Args...) noexcept> : member_signature<C, R, Args...> {};
template <class C, class R, class... Args>
struct member_call<R (C::*)(Args...) const noexcept> : member_signature<C, R, Args...> {};

// Lambdas and function objects with one (non-template) call operator.
template <class F>
struct callable_signature<F, std::void_t<decltype(&F::operator())>>
    : member_call<decltype(&F::operator())> {};

// One input item on the wire: the argument itself for one argument, the tuple of them
// otherwise (empty for a task that takes none).
template <class Args, std::size_t N = std::tuple_size_v<Args>>
struct pack_of {
    using type = Args;
};
template <class Args>
struct pack_of<Args, 1> {
    using type = std::tuple_element_t<0, Args>;
};

template <class F>
struct task_traits {
    using callable = std::decay_t<F>;
    using signature = typename callable_signature<callable>::type;
    using sig = signature_traits<signature>;
    static constexpr std::size_t arity = sig::arity;
    using args = typename sig::args;
    using result = typename sig::result;
    // What the task returns on the wire: void becomes Unit.
    using wire_result = std::conditional_t<std::is_void_v<result>, Unit, std::decay_t<result>>;
    // One input item on the wire.
    using pack = typename pack_of<args>::type;
};

template <class F>
using task_result_t = typename task_traits<F>::result;

// Calls a task on one unpacked item.
template <class F, class Pack>
decltype(auto) call_with_pack(const F& f, Pack&& pack) {
    if constexpr (task_traits<F>::arity == 1) {
        return std::invoke(f, std::forward<Pack>(pack));
    } else {
        return std::apply(f, std::forward<Pack>(pack));
    }
}

}  // namespace mproc::detail
