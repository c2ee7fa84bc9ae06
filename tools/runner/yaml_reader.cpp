#include "yaml_reader.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace mproc::runner {
namespace {

namespace fs = std::filesystem;

std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

// Applies "a.b.c=value" to the document; returns the key for error messages.
std::string apply_set(YAML::Node root, const std::string& set,
                      std::map<std::string, std::string>& sets) {
    const auto eq = set.find('=');
    if (eq == std::string::npos || eq == 0)
        throw ConfigError("--set " + set, 0, 0, "expected KEY=VALUE, like pool.chunksize=100");
    const std::string key = set.substr(0, eq), value = set.substr(eq + 1);
    std::vector<std::string> parts;
    for (std::size_t at = 0;;) {
        const auto dot = key.find('.', at);
        parts.push_back(key.substr(at, dot - at));
        if (dot == std::string::npos) break;
        at = dot + 1;
    }
    YAML::Node node = root;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        YAML::Node next = node[parts[i]];
        if (!next.IsDefined() || next.IsNull()) node[parts[i]] = YAML::Node(YAML::NodeType::Map);
        node.reset(node[parts[i]]);
    }
    YAML::Node parsed;
    try {
        parsed = YAML::Load(value);
    } catch (const YAML::Exception& e) {
        throw ConfigError("--set " + set, 0, 0, e.msg);
    }
    // Only a value written as YAML flow ([..] or {..}) is a list or mapping; "-" and "a: b"
    // on a command line are strings.
    const bool flow = !value.empty() && (value[0] == '[' || value[0] == '{');
    if ((parsed.IsNull() && !value.empty() && value != "~" && value != "null") ||
        ((parsed.IsSequence() || parsed.IsMap()) && !flow))
        parsed = YAML::Node(value);
    node[parts.back()] = parsed;
    sets[key] = value;
    return key;
}

// YAML forbids a key twice in one mapping, but yaml-cpp keeps both and lookups find the
// first: refuse it, naming both places.
void check_duplicates(const std::string& file, const YAML::Node& n) {
    if (n.IsSequence()) {
        for (const auto& x : n) check_duplicates(file, x);
    } else if (n.IsMap()) {
        std::map<std::string, YAML::Mark> seen;
        for (const auto& kv : n) {
            if (kv.first.IsScalar()) {
                const auto [it, fresh] = seen.emplace(kv.first.Scalar(), kv.first.Mark());
                if (!fresh) {
                    const YAML::Mark m = kv.first.Mark();
                    throw ConfigError(file, m.line + 1, m.column + 1,
                                      "duplicate key '" + kv.first.Scalar() + "' (first at line " +
                                          std::to_string(it->second.line + 1) + ", column " +
                                          std::to_string(it->second.column + 1) + "); keep one");
                }
            }
            check_duplicates(file, kv.second);
        }
    }
}

}  // namespace

// " (did you mean 'x'?)" for the closest candidate within a small edit distance.
std::string suggestion(const std::string& word, const std::vector<std::string>& candidates) {
    std::string best;
    std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
    for (const auto& c : candidates) {
        const std::size_t d = edit_distance(word, c);
        if (d < best_d) {
            best_d = d;
            best = c;
        }
    }
    return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

// A YAML value as a Value: quoted scalars stay strings; plain ones become numbers, booleans
// or null where they read as such.
Value to_value(const YAML::Node& n) {
    if (n.IsNull() || !n.IsDefined()) return Value();
    if (n.IsSequence()) {
        Value::List l;
        for (const auto& x : n) l.push_back(to_value(x));
        return Value(std::move(l));
    }
    if (n.IsMap()) {
        Value::Map m;
        for (const auto& kv : n) m.emplace(kv.first.as<std::string>(), to_value(kv.second));
        return Value(std::move(m));
    }
    if (n.Tag() == "!") return Value(n.Scalar());  // quoted: a string, whatever it looks like
    // Numbers keep the text they were written as (see value.hpp).
    const std::string& s = n.Scalar();
    std::int64_t i = 0;
    if (YAML::convert<std::int64_t>::decode(n, i)) return Value::written(s, i);
    double d = 0;
    if (YAML::convert<double>::decode(n, d)) return Value::written(s, d);
    if (s == "true" || s == "false") return Value(s == "true");
    if (s == "~" || s == "null") return Value();
    return Value(s);
}

YAML::Node read_yaml(const std::string& path, const std::vector<std::string>& overrides,
                     std::map<std::string, std::string>& sets) {
    if (fs::is_directory(path))
        throw ConfigError(path, 0, 0, "is a directory; CONFIG is a YAML file (see configs/)");
    if (access(path.c_str(), R_OK) != 0)
        throw ConfigError(path, 0, 0,
                          std::string("cannot read the config file: ") + std::strerror(errno));
    YAML::Node root;
    try {
        root = YAML::LoadFile(path);
    } catch (const YAML::BadFile&) {
        throw ConfigError(
            path, 1, 1,
            "cannot read the config file" + std::string(fs::exists(path) ? "" : " (no such file)"));
    } catch (const YAML::Exception& e) {
        throw ConfigError(path, e.mark.line + 1, e.mark.column + 1, "malformed YAML: " + e.msg);
    }
    if (!root.IsMap())
        throw ConfigError(path, 1, 1, "the config must be a mapping with 'job:' and 'input:'");
    check_duplicates(path, root);
    for (const auto& s : overrides) apply_set(root, s, sets);
    return root;
}


}  // namespace mproc::runner
