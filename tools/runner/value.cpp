#include "value.hpp"

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string_view>

namespace mproc::runner {

namespace {

// The shortest text that reads back as `d` (0.1, not 0.10000000000000001), as JSON has it.
std::string double_text(double d) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, d);
    return std::string(buf, r.ptr);
}

// The length of the valid UTF-8 sequence starting at s[i], or 0 when the byte there does not
// start one (a stray continuation byte, an overlong form, a surrogate, past U+10FFFF, cut off).
std::size_t utf8_length(const std::string& s, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char c = b(0);
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;  // overlong
        if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;  // overlong
        if (c == 0xF4) hi = 0x8F;  // past U+10FFFF
    } else {
        return 0;
    }
    if (i + n > s.size() || b(1) < lo || b(1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k)
        if (b(k) < 0x80 || b(k) > 0xBF) return 0;
    return n;
}

}  // namespace

Value Value::written(std::string text, double d) {
    if (text == double_text(d)) return Value(d);
    return Value(Written{std::move(text), d, 0, false});
}

Value Value::written(std::string text, std::int64_t i) {
    std::string plain;
    append_int(plain, i);
    if (text == plain) return Value(static_cast<long long>(i));
    return Value(Written{std::move(text), static_cast<double>(i), i, true});
}

bool is_json_number(const std::string& s) {
    std::size_t i = 0;
    const auto digit = [&](std::size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '9'; };
    const auto digits = [&] {
        const std::size_t from = i;
        while (digit(i)) ++i;
        return i > from;
    };
    if (i < s.size() && s[i] == '-') ++i;
    if (!digit(i)) return false;
    if (s[i] == '0') {
        ++i;
    } else {
        digits();
    }
    if (i < s.size() && s[i] == '.') {
        ++i;
        if (!digits()) return false;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
        if (!digits()) return false;
    }
    return i == s.size();
}

namespace {
// The escape of a character that would break a line (a newline, a return, and a tab when
// `tab`), or null when the character stays as it is.
const char* line_escape(char c, bool tab) {
    switch (c) {
        case '\n':
            return "\\n";
        case '\r':
            return "\\r";
        case '\t':
            return tab ? "\\t" : nullptr;
        default:
            return nullptr;
    }
}
}  // namespace

void append_escaped(std::string& out, const std::string& s, bool tab) {
    for (char c : s) {
        if (const char* e = line_escape(c, tab))
            out += e;
        else
            out += c;
    }
}

void append_json(std::string& out, const Value& v) {
    if (const std::string* text = v.written_text()) {
        if (is_json_number(*text)) {
            out += *text;
        } else {
            append_json_string(out, *text);  // .nan, 0x1F, +5: their text, as a string
        }
    } else if (v.is_null()) {
        out += "null";
    } else if (v.is_bool()) {
        out += v.as_bool() ? "true" : "false";
    } else if (v.is_int()) {
        append_int(out, v.as_int());
    } else if (v.is_number()) {
        const double d = v.as_double();
        if (!std::isfinite(d)) {
            out += "null";  // JSON has no NaN or infinity (a computed one; a written one has
                            // its text above)
        } else {
            out += double_text(d);
        }
    } else if (v.is_string()) {
        append_json_string(out, v.as_string());
    } else if (v.is_list()) {
        out += '[';
        bool first = true;
        for (const Value& x : v.as_list()) {
            if (!first) out += ", ";
            first = false;
            append_json(out, x);
        }
        out += ']';
    } else {
        out += '{';
        bool first = true;
        for (const auto& [k, x] : v.as_map()) {
            if (!first) out += ", ";
            first = false;
            append_json_string(out, k);
            out += ": ";
            append_json(out, x);
        }
        out += '}';
    }
}

void append_int(std::string& out, std::int64_t i) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, i);
    out.append(buf, r.ptr);
}

const Value& Value::operator[](const std::string& key) const {
    static const Value null;
    if (!is_map()) return null;
    auto it = as_map().find(key);
    return it == as_map().end() ? null : it->second;
}

void append_json_string(std::string& out, const std::string& s) {
    out += '"';
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            if (const std::size_t n = utf8_length(s, i)) {
                out.append(s, i, n);
                i += n - 1;
            } else {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\udc%02x", c);
                out += buf;
            }
            continue;
        }
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (const char* e = line_escape(static_cast<char>(c), true)) {
            out += e;
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
}

void mproc_pack(std::vector<char>& out, const Value& v) {
    using namespace mproc::detail;
    out.push_back(static_cast<char>(v.v_.index()));
    if (const Value::Written* w = v.written_()) {
        pack_string(out, w->text);
        pack_raw(out, w->d);
        pack_raw(out, w->i);
        pack_raw(out, w->integral);
    } else if (v.is_bool()) {
        out.push_back(v.as_bool() ? 1 : 0);
    } else if (v.is_int()) {
        pack_raw(out, v.as_int());
    } else if (v.is_number()) {
        pack_raw(out, v.as_double());
    } else if (v.is_string()) {
        pack_string(out, v.as_string());
    } else if (v.is_list()) {
        pack_raw(out, static_cast<std::uint64_t>(v.as_list().size()));
        for (const Value& x : v.as_list()) mproc_pack(out, x);
    } else if (v.is_map()) {
        pack_raw(out, static_cast<std::uint64_t>(v.as_map().size()));
        for (const auto& [k, x] : v.as_map()) {
            pack_string(out, k);
            mproc_pack(out, x);
        }
    }
}

namespace {
// A list's or a map's element count. Each element takes a byte at least: a count beyond what
// arrived is corrupt, and is refused before anything is allocated for it.
std::uint64_t unpack_count(const char*& at, const char* end) {
    std::uint64_t n = 0;
    detail::unpack_raw(at, end, n);
    if (n > static_cast<std::uint64_t>(end - at))
        throw mproc::Error("mproc: truncated message while unpacking");
    return n;
}
}  // namespace

void mproc_unpack(const char*& at, const char* end, Value& v) {
    using namespace mproc::detail;
    // Lists and maps nest by recursion here: a message nesting deeper than any config does
    // is corrupt, and is refused before it can exhaust the stack.
    static thread_local int depth = 0;
    struct Nest {
        Nest() {
            if (++depth > 1000) {
                --depth;
                throw mproc::Error("mproc: a value in a message nests more than 1000 deep");
            }
        }
        ~Nest() { --depth; }
    } nest;
    std::uint8_t kind = 0;
    unpack_raw(at, end, kind);
    switch (kind) {
        case 0:
            v = Value();
            break;
        case 1: {
            std::uint8_t b = 0;
            unpack_raw(at, end, b);
            v = Value(b != 0);
            break;
        }
        case 2: {
            std::int64_t i = 0;
            unpack_raw(at, end, i);
            v = Value(static_cast<long long>(i));
            break;
        }
        case 3: {
            double d = 0;
            unpack_raw(at, end, d);
            v = Value(d);
            break;
        }
        case 4: {
            std::string s;
            unpack_string(at, end, s);
            v = Value(std::move(s));
            break;
        }
        case 5: {
            const std::uint64_t n = unpack_count(at, end);
            Value::List l(static_cast<std::size_t>(n));
            for (Value& x : l) mproc_unpack(at, end, x);
            v = Value(std::move(l));
            break;
        }
        case 6: {
            const std::uint64_t n = unpack_count(at, end);
            Value::Map m;
            for (std::uint64_t i = 0; i < n; ++i) {
                std::string k;
                unpack_string(at, end, k);
                mproc_unpack(at, end, m[k]);
            }
            v = Value(std::move(m));
            break;
        }
        case 7: {
            Value::Written w;
            unpack_string(at, end, w.text);
            unpack_raw(at, end, w.d);
            unpack_raw(at, end, w.i);
            unpack_raw(at, end, w.integral);
            v = Value(std::move(w));
            break;
        }
        default:
            throw mproc::Error("mproc: a corrupt value in a message (kind " + std::to_string(kind) +
                               ")");
    }
}

std::string Value::json() const {
    std::string out;
    append_json(out, *this);
    return out;
}

std::string Value::text() const {
    if (const std::string* t = written_text()) return *t;
    return is_string() ? as_string() : json();
}

}  // namespace mproc::runner

namespace mproc::runner {
namespace {

// A JSON reader for what append_json writes (the reduction state, parts' reductions). Faster
// than going through YAML by an order of magnitude on large reductions, and it turns a
// \udcXX escape back into its byte, so a string survives a round trip whatever it held.
class JsonReader {
  public:
    explicit JsonReader(const std::string& s) : s_(s) {}

    Value document() {
        Value v = value();
        space();
        if (at_ != s_.size()) fail("text after the value");
        return v;
    }

  private:
    [[noreturn]] void fail(const std::string& what) const {
        throw std::invalid_argument("JSON: " + what + " at offset " + std::to_string(at_));
    }
    void space() {
        while (at_ < s_.size() &&
               (s_[at_] == ' ' || s_[at_] == '\n' || s_[at_] == '\t' || s_[at_] == '\r'))
            ++at_;
    }
    bool eat(char c) {
        space();
        if (at_ < s_.size() && s_[at_] == c) {
            ++at_;
            return true;
        }
        return false;
    }
    void expect(char c) {
        if (!eat(c)) fail(std::string("expected '") + c + "'");
    }
    bool word(const char* w) {
        const std::size_t n = std::char_traits<char>::length(w);
        if (s_.compare(at_, n, w) != 0) return false;
        at_ += n;
        return true;
    }

    Value value() {
        space();
        if (at_ >= s_.size()) fail("unexpected end");
        const char c = s_[at_];
        if (c == '{') {
            ++at_;
            Value::Map m;
            if (eat('}')) return Value(std::move(m));
            do {
                space();
                std::string k = string();
                expect(':');
                m.insert_or_assign(std::move(k), value());
            } while (eat(','));
            expect('}');
            return Value(std::move(m));
        }
        if (c == '[') {
            ++at_;
            Value::List l;
            if (eat(']')) return Value(std::move(l));
            do l.push_back(value());
            while (eat(','));
            expect(']');
            return Value(std::move(l));
        }
        if (c == '"') return Value(string());
        if (word("true")) return Value(true);
        if (word("false")) return Value(false);
        if (word("null")) return Value();
        return number();
    }

    Value number() {
        const std::size_t from = at_;
        while (at_ < s_.size() &&
               std::string_view("+-0123456789.eE").find(s_[at_]) != std::string_view::npos)
            ++at_;
        const std::string text = s_.substr(from, at_ - from);
        if (!is_json_number(text)) fail("not a value");
        std::int64_t i = 0;
        const auto r = std::from_chars(text.data(), text.data() + text.size(), i);
        if (r.ec == std::errc() && r.ptr == text.data() + text.size())
            return Value::written(text, i);
        return Value::written(text, std::strtod(text.c_str(), nullptr));
    }

    unsigned hex4() {
        if (at_ + 4 > s_.size()) fail("a cut \\u escape");
        unsigned v = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = s_[at_++];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= static_cast<unsigned>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= static_cast<unsigned>(c - 'A' + 10);
            else
                fail("a bad \\u escape");
        }
        return v;
    }

    static void utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    std::string string() {
        if (at_ >= s_.size() || s_[at_] != '"') fail("expected a string");
        ++at_;
        std::string out;
        for (;;) {
            if (at_ >= s_.size()) fail("an unterminated string");
            const char c = s_[at_++];
            if (c == '"') return out;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (at_ >= s_.size()) fail("an unterminated string");
            switch (const char e = s_[at_++]) {
                case 'n':
                    out += '\n';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'u': {
                    unsigned cp = hex4();
                    if (cp >= 0xDC80 && cp <= 0xDCFF) {
                        out += static_cast<char>(cp - 0xDC00);  // a byte kept by surrogateescape
                        break;
                    }
                    if (cp >= 0xD800 && cp <= 0xDBFF && s_.compare(at_, 2, "\\u") == 0) {
                        at_ += 2;
                        const unsigned lo = hex4();
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    utf8(out, cp);
                    break;
                }
                default:
                    out += e;  // \" \\ \/
            }
        }
    }

    const std::string& s_;
    std::size_t at_ = 0;
};

}  // namespace

Value parse_json(const std::string& text) {
    return JsonReader(text).document();
}

namespace {
// Reads alternative K of the variant when `kind` is K; false when it is none of them.
template <class Archive, class Variant, std::size_t... K>
bool load_alternative(Archive& ar, Variant& v, int kind, std::index_sequence<K...>) {
    const auto load = [&]<std::size_t I>() {
        std::variant_alternative_t<I, Variant> x{};
        if constexpr (I != 0) ar >> x;  // monostate has nothing to read
        v = std::move(x);
        return true;
    };
    return ((kind == static_cast<int>(K) && load.template operator()<K>()) || ...);
}
}  // namespace

template <class Archive>
void Value::save(Archive& ar, const unsigned int) const {
    const int kind = static_cast<int>(v_.index());
    ar << kind;
    std::visit(
        [&ar](const auto& x) {
            if constexpr (!std::is_same_v<std::decay_t<decltype(x)>, std::monostate>) ar << x;
        },
        v_);
}
template <class Archive>
void Value::load(Archive& ar, const unsigned int) {
    int kind = 0;
    ar >> kind;
    if (!load_alternative(ar, v_, kind,
                          std::make_index_sequence<std::variant_size_v<decltype(v_)>>{}))
        throw std::runtime_error("Value: corrupt archive");
}

template void Value::save(boost::archive::binary_oarchive&, const unsigned int) const;
template void Value::load(boost::archive::binary_iarchive&, const unsigned int);

}  // namespace mproc::runner
