#include "value.hpp"

#include <cmath>
#include <cstdio>

namespace mproc::runner {

void append_json(std::string& out, const Value& v) {
    if (v.is_null()) {
        out += "null";
    } else if (v.is_bool()) {
        out += v.as_bool() ? "true" : "false";
    } else if (v.is_int()) {
        out += std::to_string(v.as_int());
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
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
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

std::string Value::json() const {
    std::string out;
    append_json(out, *this);
    return out;
}

std::string Value::text() const { return is_string() ? as_string() : json(); }

}  // namespace mproc::runner
