#include "value.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace mproc::runner {

void append_json(std::string& out, const Value& v) {
    if (v.is_null()) {
        out += "null";
    } else if (v.is_bool()) {
        out += v.as_bool() ? "true" : "false";
    } else if (v.is_int()) {
        append_int(out, v.as_int());
    } else if (v.is_number()) {
        const double d = v.as_double();
        if (!std::isfinite(d)) {
            out += "null";  // JSON has no NaN or infinity
        } else {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.17g", d);
            out += buf;
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
    for (unsigned char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += '"';
}

void mproc_pack(std::vector<char>& out, const Value& v) {
    using namespace mproc::detail;
    out.push_back(static_cast<char>(v.v_.index()));
    if (v.is_bool()) {
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

void mproc_unpack(const char*& at, const char* end, Value& v) {
    using namespace mproc::detail;
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
            std::uint64_t n = 0;
            unpack_raw(at, end, n);
            Value::List l(static_cast<std::size_t>(n));
            for (Value& x : l) mproc_unpack(at, end, x);
            v = Value(std::move(l));
            break;
        }
        case 6: {
            std::uint64_t n = 0;
            unpack_raw(at, end, n);
            Value::Map m;
            for (std::uint64_t i = 0; i < n; ++i) {
                std::string k;
                unpack_string(at, end, k);
                mproc_unpack(at, end, m[k]);
            }
            v = Value(std::move(m));
            break;
        }
        default:
            throw std::runtime_error("Value: corrupt message");
    }
}

std::string Value::json() const {
    std::string out;
    append_json(out, *this);
    return out;
}

std::string Value::text() const {
    return is_string() ? as_string() : json();
}

}  // namespace mproc::runner
