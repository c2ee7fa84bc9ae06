#pragma once
// Value: one input item, parameter or result of a batch job — null, bool, integer, float,
// string, list or mapping, as YAML and JSON have them. Serializable, so it travels to
// workers as a task argument, and printable as JSON for the results file.
//
// A number read from a config keeps the text it was written as ("0.1", "2.50", "1e-3",
// 2^70 in full, ".nan") whenever printing its value would read differently: commands and
// CSV cells get that text, .jsonl gets it as a number when it is valid JSON and as a string
// otherwise. Jobs still compute with its value.

#include <boost/serialization/level.hpp>
#include <boost/serialization/split_member.hpp>
#include <boost/serialization/tracking.hpp>
#include <cstdint>
#include <map>
#include <mproc/detail/bytes.hpp>
#include <string>
#include <variant>
#include <vector>

namespace mproc::runner {

class Value {
  public:
    using List = std::vector<Value>;
    using Map = std::map<std::string, Value>;

    // A number with the text it was written as (see above). `integral` says whether it is an
    // integer that fits 64 bits (then `i` holds it); `d` is its value as a double either way.
    struct Written {
        std::string text;
        double d = 0;
        std::int64_t i = 0;
        bool integral = false;
        bool operator==(const Written&) const = default;
        template <class Archive>
        void serialize(Archive& ar, const unsigned int) {
            ar & text & d & i & integral;
        }
    };
    // A number written as `text`: plain when printing the value gives `text` back.
    static Value written(std::string text, double d);
    static Value written(std::string text, std::int64_t i);

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
    Value(Written w) : v_(std::move(w)) {}

    bool is_null() const { return v_.index() == 0; }
    bool is_bool() const { return std::holds_alternative<bool>(v_); }
    bool is_int() const {
        return std::holds_alternative<std::int64_t>(v_) || (written_() && written_()->integral);
    }
    bool is_number() const {
        return std::holds_alternative<std::int64_t>(v_) || std::holds_alternative<double>(v_) ||
               written_() != nullptr;
    }
    // The text a config wrote this number as, or null when it reads as printed.
    const std::string* written_text() const { return written_() ? &written_()->text : nullptr; }
    bool is_string() const { return std::holds_alternative<std::string>(v_); }
    bool is_list() const { return std::holds_alternative<List>(v_); }
    bool is_map() const { return std::holds_alternative<Map>(v_); }

    bool as_bool() const { return std::get<bool>(v_); }
    std::int64_t as_int() const {
        return written_() ? std::get<Written>(v_).i : std::get<std::int64_t>(v_);
    }
    double as_double() const {
        if (const Written* w = written_()) return w->d;
        return std::holds_alternative<std::int64_t>(v_) ? static_cast<double>(as_int())
                                                        : std::get<double>(v_);
    }
    const std::string& as_string() const { return std::get<std::string>(v_); }
    const List& as_list() const { return std::get<List>(v_); }
    const Map& as_map() const { return std::get<Map>(v_); }
    Map& as_map() { return std::get<Map>(v_); }

    // The value of `key` in a mapping; null when absent.
    const Value& operator[](const std::string& key) const;

    // JSON text (strings quoted and escaped).
    std::string json() const;
    // Strings bare, written numbers as written, everything else as JSON: how a value reads
    // on a command line.
    std::string text() const;

    bool operator==(const Value&) const = default;

    friend void mproc_pack(std::vector<char>& out, const Value& v);
    friend void mproc_unpack(const char*& at, const char* end, Value& v);

    // Through a Boost binary archive (a saved config, the pool's Setup): defined, for those
    // archives only, in value.cpp, so that what includes this parses no archive.
    template <class Archive>
    void save(Archive& ar, const unsigned int version) const;
    template <class Archive>
    void load(Archive& ar, const unsigned int version);
    BOOST_SERIALIZATION_SPLIT_MEMBER()

  private:
    const Written* written_() const { return std::get_if<Written>(&v_); }

    std::variant<std::monostate, bool, std::int64_t, double, std::string, List, Map, Written> v_;
};

// A byte codec for Value (see mproc::detail::CustomPacked): a kind byte, then the payload.
// Values go to workers and back once per input, and Boost's per-field work dominated there.
void mproc_pack(std::vector<char>& out, const Value& v);
void mproc_unpack(const char*& at, const char* end, Value& v);

// Appends `s` to `out` as a JSON string literal, and `v` as JSON. The output is always valid
// UTF-8: a byte of `s` that is not part of a valid UTF-8 sequence is written as the escape
// \udcXX (XX the byte), Python's "surrogateescape", so no byte is lost:
// json.loads(line)["output"].encode("utf-8", "surrogateescape") gives the bytes back.
void append_json_string(std::string& out, const std::string& s);
void append_json(std::string& out, const Value& v);
// Appends an integer in decimal, without a temporary string.
void append_int(std::string& out, std::int64_t i);
// The Value a JSON text holds (as append_json writes it); throws std::invalid_argument.
Value parse_json(const std::string& text);
// Whether `s` is a number as JSON writes one (so "2.50" and "1e-3" are, ".5" and "0x1F" not).
bool is_json_number(const std::string& s);
// Appends `s` with newline, carriage return and (when `tab`) tab written as \n, \r and \t,
// so a field of a .txt or .csv record stays on its line. Backslashes stay as they are: these
// formats are for reading (JSON results inside them stay readable); .jsonl is the exact one.
void append_escaped(std::string& out, const std::string& s, bool tab);

}  // namespace mproc::runner

// Only mproc sends it (every rank has the same build): no class version, no tracking.
BOOST_CLASS_IMPLEMENTATION(mproc::runner::Value, boost::serialization::object_serializable)
BOOST_CLASS_TRACKING(mproc::runner::Value, boost::serialization::track_never)
