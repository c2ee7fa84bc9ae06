#include "journal.hpp"

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "files.hpp"
#include "record_format.hpp"

namespace mproc::runner {
namespace {

namespace fs = std::filesystem;

std::string hex64(std::uint64_t h) {
    char buf[20];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

// FNV-1a: enough to notice that an input changed, which is all it is for.
struct Digest {
    std::uint64_t h = 1469598103934665603ull;
    std::uint64_t bytes = 0;
    void add(const char* p, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i)
            h = (h ^ static_cast<unsigned char>(p[i])) * 1099511628211ull;
        bytes += n;
    }
    void add(const std::string& s) { add(s.data(), s.size() + 1); }  // with a separator
    std::string json() const {
        return "\"digest " + hex64(h) + ", " + std::to_string(bytes) + " bytes\"";
    }
};

// A long identity value is kept as its digest: the journal stays small for a config of a
// million values, and a change still shows.
std::string identity_value(const std::string& json) {
    if (json.size() <= 200) return json;
    Digest d;
    d.add(json.data(), json.size());
    return d.json();
}

// A whole line that is a decimal number.
bool number(const std::string& s, std::uint64_t& out) {
    const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

std::string journal_head(const Identity& identity, std::uint64_t begin) {
    std::string text = "mproc-journal " + std::to_string(kJournalVersion) + "\n";
    for (const auto& [k, v] : identity) text += "id " + k + " " + v + "\n";
    return text + "begin " + std::to_string(begin) + "\n";
}

Journal read_journal(const std::string& path) {
    Journal j;
    std::ifstream in(path);
    if (!in) return j;
    j.exists = true;
    std::string line;
    bool header = false;
    Journal::Block open;
    while (std::getline(in, line)) {
        if (in.eof()) break;  // a last line without its newline is torn: ignore it
        if (!header) {
            std::istringstream h(line);
            std::string magic;
            int version = 0;
            h >> magic >> version;
            if (magic != "mproc-journal")
                throw RunRefused(path + " is not an mproc journal; move it away, or run with " +
                                 "--restart to start afresh");
            if (version != kJournalVersion && version != 3)
                throw RunRefused(path + " was written by another version of mproc (journal " +
                                 std::to_string(version) + ", this one writes " +
                                 std::to_string(kJournalVersion) +
                                 "); finish it with that version, or run with --restart");
            j.version = version;
            header = true;
            continue;
        }
        if (line.rfind("id ", 0) == 0) {
            const auto sp = line.find(' ', 3);
            if (sp == std::string::npos) break;
            j.identity.emplace_back(line.substr(3, sp - 3), line.substr(sp + 1));
        } else if (line.rfind("begin ", 0) == 0) {
            if (!number(line.substr(6), j.begin)) break;
        } else if (line.rfind("= ", 0) == 0) {
            if (!number(line.substr(2), open.end)) break;  // damaged: trust what came before
            j.blocks.push_back(std::move(open));
            open = {};
        } else if (line == "complete") {
            j.complete = true;
        } else if (line.rfind("x ", 0) == 0) {
            std::istringstream l(line.substr(2));
            std::uint64_t first = 0, last = 0;
            if (!(l >> first >> last) || last < first) break;
            open.failed.emplace_back(first, last);
        } else {
            std::istringstream l(line);
            std::uint64_t first = 0, last = 0;
            if (!(l >> first >> last) || last < first) break;
            open.runs.emplace_back(first, last);
        }
    }
    if (!header) throw RunRefused(path + " is empty; run with --restart to start afresh");
    return j;
}

std::string identity_change(const Identity& was, const Identity& now, const std::string& run) {
    std::vector<std::string> changes;
    const auto find = [](const Identity& id, const std::string& key) -> const std::string* {
        for (const auto& [k, v] : id)
            if (k == key) return &v;
        return nullptr;
    };
    const auto shown = [](const std::string* v) { return v ? *v : std::string("(not set)"); };
    for (const auto& [k, v] : now) {
        const std::string* old = find(was, k);
        if (old == nullptr || *old != v)
            changes.push_back(k + " changed since the " + run + ": was " + shown(old) + ", now " +
                              v);
    }
    for (const auto& [k, v] : was)
        if (find(now, k) == nullptr)
            changes.push_back(k + " changed since the " + run + ": was " + v + ", now (not set)");
    if (changes.empty()) return "";
    std::string s;
    for (std::size_t i = 0; i < changes.size() && i < 3; ++i) s += (i ? "; " : "") + changes[i];
    if (changes.size() > 3) s += " (and " + std::to_string(changes.size() - 3) + " more)";
    return s;
}

std::uint64_t journal_count(const Journal& j) {
    std::uint64_t n = 0;
    for (const auto& b : j.blocks)
        for (auto [first, last] : b.runs) n += last - first + 1;
    return n;
}

std::uint64_t mark_runs(const Runs& runs, std::vector<bool>& marks) {
    std::uint64_t added = 0;
    for (auto [first, last] : runs) {
        if (marks.size() <= last) marks.resize(last + 1);
        for (std::uint64_t i = first; i <= last; ++i) {
            added += marks[i] ? 0 : 1;
            marks[i] = true;
        }
    }
    return added;
}

void append_runs(std::string& out, const std::vector<bool>& marks, const char* prefix) {
    for (std::uint64_t i = 0; i < marks.size();) {
        if (!marks[i]) {
            ++i;
            continue;
        }
        std::uint64_t k = i;
        while (k + 1 < marks.size() && marks[k + 1]) ++k;
        out += prefix + std::to_string(i) + " " + std::to_string(k) + "\n";
        i = k + 1;
    }
}

void append_runs(std::string& out, const std::vector<std::uint64_t>& indices, const char* prefix) {
    for (std::size_t i = 0; i < indices.size();) {
        std::size_t j = i + 1;  // [i, j) is a run of consecutive indices
        while (j < indices.size() && indices[j] == indices[j - 1] + 1) ++j;
        out += prefix;
        append_int(out, static_cast<std::int64_t>(indices[i]));
        out += ' ';
        append_int(out, static_cast<std::int64_t>(indices[j - 1]));
        out += '\n';
        i = j;
    }
}

std::vector<bool> journal_failed(const Journal& j, std::uint64_t& count) {
    std::vector<bool> failed;
    count = 0;
    for (const auto& b : j.blocks) count += mark_runs(b.failed, failed);
    return failed;
}

Identity run_identity(const Config& cfg) {
    Identity id;
    id.emplace_back("job", Value(cfg.job->name).json());
    for (const auto& [name, v] : cfg.params.as_map())
        id.emplace_back("params." + name, identity_value(v.json()));
    const InputSpec& in = cfg.input;
    switch (in.kind) {
        case InputSpec::Kind::range:
            id.emplace_back("input.range", Value(Value::Map{{"start", Value(in.start)},
                                                            {"stop", Value(in.stop)},
                                                            {"step", Value(in.step)}})
                                               .json());
            break;
        case InputSpec::Kind::values:
            id.emplace_back("input.values", identity_value(Value(in.values).json()));
            break;
        case InputSpec::Kind::lines:
        case InputSpec::Kind::csv: {
            const std::string kind = in.kind == InputSpec::Kind::csv ? "csv" : "lines";
            Digest d;
            std::ifstream f(in.path, std::ios::binary);
            char buf[1 << 16];
            while (f.read(buf, sizeof buf) || f.gcount() > 0)
                d.add(buf, static_cast<std::size_t>(f.gcount()));
            id.emplace_back("input." + kind, Value(in.path).json());
            id.emplace_back("input." + kind + "_content", d.json());
            break;
        }
        case InputSpec::Kind::files: {
            Digest d;
            for (const auto& f : in.files) d.add(f);
            id.emplace_back("input.files", "\"" + std::to_string(in.files.size()) + " paths, " +
                                               d.json().substr(1));
            break;
        }
        case InputSpec::Kind::grid: {
            Value::List axes;
            for (const auto& [name, vals] : in.grid)
                axes.push_back(Value(Value::List{Value(name), Value(vals)}));
            id.emplace_back("input.grid", identity_value(Value(axes).json()));
            break;
        }
    }
    id.emplace_back("pool.ordered", cfg.ordered ? "true" : "false");
    if (cfg.provenance) id.emplace_back("output.provenance", "true");
    id.emplace_back("record_format", std::to_string(kRecordVersion));
    return id;
}

bool results_complete(const std::string& output) {
    if (!fs::exists(output)) return false;
    const std::string journal = output + ".journal";
    if (!fs::exists(journal)) return true;
    try {
        const Journal j = read_journal(journal);
        return j.complete || !fs::exists(output + ".part");
    } catch (const RunRefused&) {
        return false;
    }
}

Left what_is_left(const std::string& output, const Journal& j) {
    const bool part = fs::exists(output + ".part"), out = fs::exists(output);
    if (!j.exists) return out ? Left::complete : Left::nothing;
    if (j.complete) return out ? Left::complete : Left::nothing;
    if (part) return Left::partial;
    // Killed between renaming .part into place and marking the journal complete: the file
    // is whole when it is as long as the last block says.
    if (out && file_size(output) == (j.blocks.empty() ? j.begin : j.blocks.back().end))
        return Left::complete;
    return Left::nothing;
}


Left decide_start(const Config& cfg, const Journal& j, const Identity& identity, Start start,
                  const std::string& rerun) {
    const Left left = what_is_left(cfg.output, j);
    if (start == Start::restart) return left;
    if (start == Start::fresh) {
        if (left == Left::partial)
            throw RunRefused(cfg.output + " has partial results of an interrupted run (" +
                             std::to_string(journal_count(j)) +
                             " inputs done); continue it with: " + rerun +
                             " --resume, or discard them with: " + rerun + " --restart");
        return left;
    }
    if (start == Start::retry_failed) {
        if (left == Left::partial)
            throw RunRefused(cfg.output + " holds an interrupted run; finish it first with: " +
                             rerun + " --resume, then run its failures again with --retry-failed");
        if (left == Left::nothing)
            throw RunRefused("there are no finished results at " + cfg.output +
                             " to retry; run without --retry-failed");
        if (!j.exists || j.version < 4)
            throw RunRefused(cfg.output + " was written by an older mproc, whose journal does " +
                             "not say which inputs failed; run it anew with: " + rerun +
                             " --restart");
    }
    if (left == Left::nothing || !j.exists) return left;  // nothing to check against
    const std::string change = identity_change(
        j.identity, identity, left == Left::partial ? "interrupted run" : "finished run");
    if (change.empty()) return left;
    if (left == Left::partial)
        throw RunRefused(change + "; " + cfg.output +
                         " is left as it was: resume with the config it was started with, or " +
                         "discard its partial results with: " + rerun + " --restart");
    throw RunRefused(change + "; " + cfg.output +
                     " is complete for the old config: run without --resume to write it anew");
}

void refuse_resume_to_stdout(const Config& cfg, Start start) {
    if (cfg.output == "-" && (start == Start::resume || start == Start::retry_failed))
        throw RunRefused(std::string(start == Start::resume ? "--resume" : "--retry-failed") +
                         " works on a results file, and output.path is '-'; set output.path, " +
                         "or run without it");
}

void check_start(const Config& cfg, Start start, const std::string& rerun) {
    refuse_resume_to_stdout(cfg, start);
    if (cfg.output == "-" || start == Start::restart) return;
    decide_start(cfg, read_journal(cfg.output + ".journal"), run_identity(cfg), start, rerun);
}

}  // namespace mproc::runner
