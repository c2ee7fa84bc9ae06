// cpu_sum: the seeds' CPU-bound timing task. Input i stands for the span
// [i * span, (i + 1) * span); each task sums j + j² + j³ over its span, and the reduction adds
// the spans up. Sums are exact for any 64-bit input (128-bit while they fit, arbitrary
// precision past that) and written as decimal strings, as Python's integers would print.

#include <stdexcept>
#include <string>
#include <vector>

#include "job.hpp"

using namespace mproc::runner;

namespace {

__extension__ using u128 = unsigned __int128;  // a GCC/Clang extension, on purpose

// An unsigned integer of any size, just what exact sums need: a chunk of a range near 2^63
// sums to hundreds of bits (j^3 alone passes 2^128 once j passes 2^42).
class Big {
  public:
    explicit Big(u128 v = 0) {
        for (; v > 0; v >>= 32) limbs_.push_back(static_cast<std::uint32_t>(v));
    }
    static Big decimal(const std::string& s) {
        if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos)
            throw std::invalid_argument("not a decimal number: " + s);
        Big v;
        for (char c : s) v = v * Big(10) + Big(static_cast<unsigned>(c - '0'));
        return v;
    }
    std::string decimal() const {
        if (limbs_.empty()) return "0";
        std::string s;
        for (Big v = *this; !v.limbs_.empty();)
            s.insert(s.begin(), static_cast<char>('0' + v.divide(10)));
        return s;
    }
    friend Big operator+(const Big& a, const Big& b) {
        Big r;
        std::uint64_t carry = 0;
        for (std::size_t i = 0; i < std::max(a.limbs_.size(), b.limbs_.size()) || carry; ++i) {
            carry += std::uint64_t{a.limb(i)} + b.limb(i);
            r.limbs_.push_back(static_cast<std::uint32_t>(carry));
            carry >>= 32;
        }
        return r.trimmed();
    }
    // a - b, for a >= b.
    friend Big operator-(const Big& a, const Big& b) {
        Big r;
        std::int64_t borrow = 0;
        for (std::size_t i = 0; i < a.limbs_.size(); ++i) {
            std::int64_t d = std::int64_t{a.limb(i)} - b.limb(i) - borrow;
            borrow = d < 0;
            r.limbs_.push_back(static_cast<std::uint32_t>(d + (borrow << 32)));
        }
        return r.trimmed();
    }
    friend Big operator*(const Big& a, const Big& b) {
        Big r;
        r.limbs_.assign(a.limbs_.size() + b.limbs_.size(), 0);
        for (std::size_t i = 0; i < a.limbs_.size(); ++i) {
            std::uint64_t carry = 0;
            for (std::size_t j = 0; j < b.limbs_.size() || carry; ++j) {
                carry += r.limbs_[i + j] + std::uint64_t{a.limbs_[i]} * b.limb(j);
                r.limbs_[i + j] = static_cast<std::uint32_t>(carry);
                carry >>= 32;
            }
        }
        return r.trimmed();
    }
    // Divides by `d` in place; returns the remainder.
    std::uint32_t divide(std::uint32_t d) {
        std::uint64_t rem = 0;
        for (std::size_t i = limbs_.size(); i-- > 0;) {
            const std::uint64_t cur = (rem << 32) | limbs_[i];
            limbs_[i] = static_cast<std::uint32_t>(cur / d);
            rem = cur % d;
        }
        trimmed();
        return static_cast<std::uint32_t>(rem);
    }

    bool fits_128() const { return limbs_.size() <= 4; }
    bool zero() const { return limbs_.empty(); }

  private:
    std::uint32_t limb(std::size_t i) const { return i < limbs_.size() ? limbs_[i] : 0; }
    Big& trimmed() {
        while (!limbs_.empty() && limbs_.back() == 0) limbs_.pop_back();
        return *this;
    }
    std::vector<std::uint32_t> limbs_;
};

// Σ j + j² + j³ for j in [0, n), in closed form: n(n-1)/2 + (n-1)n(2n-1)/6 + (n(n-1)/2)².
Big prefix_sum(const Big& n) {
    if (n.zero()) return Big();
    const Big m = n - Big(1);
    Big s1 = n * m;
    s1.divide(2);
    Big s2 = m * n * (n + n - Big(1));
    s2.divide(6);
    return s1 + s2 + s1 * s1;
}

// The span's sum by looping, as the CPU-bound job it is. Only called when the exact sum fits
// 128 bits: every term and partial sum is smaller (none is negative), so nothing overflows.
u128 loop_sum(u128 start, u128 span, const TaskContext& ctx) {
    u128 sum = 0;
    for (u128 j = start; j < start + span; ++j) {
        sum += j + j * j + j * j * j;
        if ((j & 0xFFFFF) == 0) ctx.check();  // honour errors.task_timeout
    }
    return sum;
}

}  // namespace

// Folds a task's result into the reduction. A reduction has the shape of one result, so
// this also combines two parts' reductions (mproc merge).
static Value add_sums(Value acc, const Value& r) {
    return Value((Big::decimal(acc.as_string()) + Big::decimal(r.as_string())).decimal());
}

MPROC_JOB({
    .name = "cpu_sum",
    .description = "sum of j + j^2 + j^3 over span-sized chunks of a range (input: chunk index)",
    .params = {{"span", ParamType::integer, Value(1'000'000), "numbers per chunk"}},
    .run = [](const Value& input, const Value& params, const TaskContext& ctx) -> Value {
        if (!input.is_int() || input.as_int() < 0)
            throw std::invalid_argument("cpu_sum needs chunk indices (integers >= 0), got " +
                                        input.json());
        const auto span = static_cast<u128>(params["span"].as_int());
        const u128 start = static_cast<u128>(input.as_int()) * span;  // < 2^126: no overflow
        const Big exact = prefix_sum(Big(start + span)) - prefix_sum(Big(start));
        if (!exact.fits_128()) return Value(exact.decimal());
        return Value(Big(loop_sum(start, span, ctx)).decimal());
    },
    .reduce = add_sums,
    .reduce_init = Value("0"),
    .combine = add_sums,
    .describe = [](const Value& reduced,
                   const Value&) { return "cpu_sum total: " + reduced.as_string(); },
    .check = [](const Value& params) -> std::string {
        return params["span"].as_int() < 1 ? "span must be at least 1" : "";
    },
});
