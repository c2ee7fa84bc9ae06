#pragma once
// Value: one input item, parameter or result of a batch job — null, bool, integer, float,
// string, list or mapping, as YAML and JSON have them. Serializable, so it travels to
// workers as a task argument, and printable as JSON for the results file.

#include <boost/serialization/map.hpp>
#include <boost/serialization/split_member.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <cstdint>
#include <map>
#include <mproc/detail/serialize.hpp>
#include <string>
#include <variant>
#include <vector>

namespace mproc::runner {

class Value {
  public:
    using List = std::vector<Value>;
    using Map = std::map<std::string, Value>;

    Value() = default;
    Value(std::nullptr_t) {}
    Value(bool b) : v_(b) {}
    Value(int i) : v_(std::int64_t{i}) {}
    Value(long i) : v_(std::int64_t{i}) {}
    Value(long long i) : v_(std::int64_t{i}) {}
    Value(unsigned long i) : v_(static_cast<std::int64_t>(i)) {}
    Value(double d) : v_(d) {}
    Value(const char* s) : v_(std::string(s)) {}
    Value(std::string s) : v_(std::move(s)) {}
    Value(List l) : v_(std::move(l)) {}
    Value(Map m) : v_(std::move(m)) {}

    bool is_null() const { return v_.index() == 0; }
    bool is_bool() const { return std::holds_alternative<bool>(v_); }
    bool is_int() const { return std::holds_alternative<std::int64_t>(v_); }
    bool is_number() const { return is_int() || std::holds_alternative<double>(v_); }
    bool is_string() const { return std::holds_alternative<std::string>(v_); }
    bool is_list() const { return std::holds_alternative<List>(v_); }
    bool is_map() const { return std::holds_alternative<Map>(v_); }

    bool as_bool() const { return std::get<bool>(v_); }
    std::int64_t as_int() const { return std::get<std::int64_t>(v_); }
    double as_double() const {
        return is_int() ? static_cast<double>(as_int()) : std::get<double>(v_);
    }
    const std::string& as_string() const { return std::get<std::string>(v_); }
    const List& as_list() const { return std::get<List>(v_); }
    const Map& as_map() const { return std::get<Map>(v_); }
    Map& as_map() { return std::get<Map>(v_); }

    // The value of `key` in a mapping; null when absent.
    const Value& operator[](const std::string& key) const;

    // JSON text (strings quoted and escaped).
    std::string json() const;
    // Strings bare, everything else as JSON: how a value reads in a .txt file or on a
    // command line.
    std::string text() const;

    bool operator==(const Value&) const = default;

    friend void mproc_pack(std::vector<char>& out, const Value& v);
    friend void mproc_unpack(const char*& at, const char* end, Value& v);

    template <class Archive>
    void save(Archive& ar, const unsigned int) const {
        const int kind = static_cast<int>(v_.index());
        ar << kind;
        std::visit(
            [&ar](const auto& x) {
                if constexpr (!std::is_same_v<std::decay_t<decltype(x)>, std::monostate>) ar << x;
            },
            v_);
    }
    template <class Archive>
    void load(Archive& ar, const unsigned int) {
        int kind = 0;
        ar >> kind;
        switch (kind) {
            case 0:
                v_ = std::monostate{};
                break;
            case 1:
                load_as<bool>(ar);
                break;
            case 2:
                load_as<std::int64_t>(ar);
                break;
            case 3:
                load_as<double>(ar);
                break;
            case 4:
                load_as<std::string>(ar);
                break;
            case 5:
                load_as<List>(ar);
                break;
            case 6:
                load_as<Map>(ar);
                break;
            default:
                throw std::runtime_error("Value: corrupt archive");
        }
    }
    BOOST_SERIALIZATION_SPLIT_MEMBER()

  private:
    template <class T, class Archive>
    void load_as(Archive& ar) {
        T x{};
        ar >> x;
        v_ = std::move(x);
    }

    std::variant<std::monostate, bool, std::int64_t, double, std::string, List, Map> v_;
};

// A byte codec for Value (see mproc::detail::CustomPacked): a kind byte, then the payload.
// Values go to workers and back once per input, and Boost's per-field work dominated there.
void mproc_pack(std::vector<char>& out, const Value& v);
void mproc_unpack(const char*& at, const char* end, Value& v);

// Appends `s` to `out` as a JSON string literal, and `v` as JSON.
void append_json_string(std::string& out, const std::string& s);
void append_json(std::string& out, const Value& v);
// Appends an integer in decimal, without a temporary string.
void append_int(std::string& out, std::int64_t i);

}  // namespace mproc::runner

MPROC_PLAIN_SERIALIZABLE(mproc::runner::Value)
