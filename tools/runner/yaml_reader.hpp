#pragma once
// Reading a YAML config: the file (malformed YAML and keys given twice named with their place),
// the --set overrides applied to it, and a Checker that reads each setting as its type and
// fails with "CONFIG:LINE:COLUMN: what is wrong" (or "--set KEY=VALUE: ..."), suggesting the
// closest name for a misspelt key or value. What each key means is config.cpp's.

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config.hpp"
#include "mproc/error.hpp"

namespace mproc::runner {

// " (did you mean 'x'?)" for the closest candidate within a small edit distance, or "".
std::string suggestion(const std::string& word, const std::vector<std::string>& candidates);

// The config file's document, with each "KEY=VALUE" of `overrides` applied; `sets` gets each
// override's key and value, for messages. Throws ConfigError with the place of what is wrong.
YAML::Node read_yaml(const std::string& path, const std::vector<std::string>& overrides,
                     std::map<std::string, std::string>& sets);

// A YAML value as a Value: quoted scalars stay strings; plain ones become numbers (keeping the
// text they were written as), booleans or null where they read as such.
Value to_value(const YAML::Node& n);

class Checker {
  public:
    Checker(std::string file, std::map<std::string, std::string> sets)
        : file_(std::move(file)), sets_(std::move(sets)) {}

    // Where `node` was given: its position, or its --set.
    Place place(const YAML::Node& node, const std::string& key) const {
        auto it = sets_.find(key);
        if (it != sets_.end()) return {"--set " + it->first + "=" + it->second, 0, 0};
        const YAML::Mark m = node.Mark();
        if (m.is_null()) return {file_, 1, 1};
        return {file_, m.line + 1, m.column + 1};
    }

    // Throws the ConfigError for `node` (at its position, or naming its --set).
    [[noreturn]] void fail(const YAML::Node& node, const std::string& key,
                           const std::string& what) const {
        const Place at = place(node, key);
        throw ConfigError(at.file, at.line, at.column, what);
    }

    void keys(const YAML::Node& map, const std::string& where,
              const std::vector<std::string>& allowed) const {
        if (!map.IsMap())
            fail(map, where,
                 where + " must be a mapping of " + join(allowed) + ", not " + show(map) +
                     " (e.g. " + where.substr(where.rfind('.') + 1) + ": {" +
                     allowed.front() + ": ...})");
        for (const auto& kv : map) {
            const std::string k = kv.first.as<std::string>();
            if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
                fail(kv.first, where.empty() ? k : where + "." + k,
                     "unknown key '" + k + "'" + (where.empty() ? "" : " in " + where) +
                         suggestion(k, allowed) + "; expected one of: " + join(allowed));
            }
        }
    }

    std::int64_t integer(const YAML::Node& n, const std::string& key, std::int64_t min,
                         std::int64_t max = INT64_MAX) const {
        std::int64_t v = 0;
        if (!n.IsScalar() || !YAML::convert<std::int64_t>::decode(n, v)) {
            double d = 0;
            if (n.IsScalar() && YAML::convert<double>::decode(n, d) && std::isfinite(d) &&
                d == std::floor(d) && std::fabs(d) >= 0x1p63)
                fail(n, key, key + " is out of range: " + show(n));  // beyond 64 bits
            fail(n, key, key + " must be an integer, not " + show(n));
        }
        if (v < min)
            fail(n, key, key + " must be at least " + std::to_string(min) + ", not " + n.Scalar());
        if (v > max)
            fail(n, key, key + " must be at most " + std::to_string(max) + ", not " + n.Scalar());
        return v;
    }

    // An int-sized setting (a count of ranks, retries, ...): at most `max`.
    int count(const YAML::Node& n, const std::string& key, int min, int max) const {
        return static_cast<int>(integer(n, key, min, max));
    }

    // A finite number of at least `min` (.nan and .inf are refused: no setting means them).
    double number(const YAML::Node& n, const std::string& key, double min) const {
        double v = 0;
        if (!n.IsScalar() || !YAML::convert<double>::decode(n, v))
            fail(n, key, key + " must be a number, not " + show(n));
        if (!std::isfinite(v)) fail(n, key, key + " must be a finite number, not " + show(n));
        if (v < min)
            fail(n, key, key + " must be at least " + Value(min).json() + ", not " + show(n));
        return v;
    }

    bool boolean(const YAML::Node& n, const std::string& key) const {
        bool v = false;
        if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v))
            fail(n, key, key + " must be true or false, not " + show(n));
        return v;
    }

    std::string string(const YAML::Node& n, const std::string& key) const {
        if (!n.IsScalar()) fail(n, key, key + " must be a string, not " + show(n));
        return n.Scalar();
    }

    std::string choice(const YAML::Node& n, const std::string& key,
                       const std::vector<std::string>& options) const {
        const std::string s = string(n, key);
        if (std::find(options.begin(), options.end(), s) == options.end())
            fail(n, key,
                 key + " must be one of " + join(options) + ", not '" + s + "'" +
                     suggestion(s, options));
        return s;
    }

    static std::string show(const YAML::Node& n) {
        if (n.IsScalar()) return "'" + n.Scalar() + "'";
        if (n.IsSequence()) return "a list";
        if (n.IsMap()) return "a mapping";
        return "nothing";
    }

    const std::string& file() const { return file_; }

  private:
    std::string file_;
    std::map<std::string, std::string> sets_;
};

}  // namespace mproc::runner
