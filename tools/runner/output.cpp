#include "output.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string_view>

namespace mproc::runner {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The journal's layout (v3: with the run's identity and a separate reduction state; v4: the
// failed inputs of each block, "x <first> <last>"). A v3 journal is still read.
constexpr int kJournalVersion = 4;
// The records' layout: raised whenever the same inputs would give different bytes, so a
// resume never appends new-style records to old ones (3: text kept as written, valid UTF-8,
// escaped .txt/.csv fields; 4: a failure may keep a result, provenance fields).
constexpr int kRecordVersion = 4;

std::string reason() {
    return std::strerror(errno);
}

[[noreturn]] void io_failed(const std::string& what, const std::string& path) {
    throw IoError("cannot " + what + " " + path + ": " + reason());
}

void write_all(std::FILE* f, const std::string& s, const std::string& path) {
    if (!s.empty() && std::fwrite(s.data(), 1, s.size(), f) != s.size()) io_failed("write", path);
    if (std::fflush(f) != 0) io_failed("write", path);
}

void sync_file(std::FILE* f, const std::string& path) {
    if (fsync(fileno(f)) != 0) io_failed("write", path);
}

void close_file(std::FILE*& f, const std::string& path) {
    std::FILE* g = f;
    f = nullptr;
    if (g != nullptr && std::fclose(g) != 0) io_failed("write", path);
}

std::FILE* open_file(const std::string& path, const char* mode) {
    std::FILE* f = std::fopen(path.c_str(), mode);
    if (f == nullptr) io_failed(mode[0] == 'r' ? "read" : "write", path);
    return f;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) io_failed("read", path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

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

}  // namespace

// Everything the journal says.
struct Journal {
    bool exists = false;
    bool complete = false;
    int version = 0;
    Identity identity;
    std::uint64_t begin = 0;  // .part size before the first record (the CSV header)
    struct Block {
        std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
        std::vector<std::pair<std::uint64_t, std::uint64_t>> failed;  // among the runs
        std::uint64_t end = 0;  // .part size once the block is written
    };
    std::vector<Block> blocks;  // closed blocks, in order
};

namespace {

// The journal's first lines: its version, the run's identity, the .part size before any
// record.
std::string journal_head(const Identity& identity, std::uint64_t begin) {
    std::string text = "mproc-journal " + std::to_string(kJournalVersion) + "\n";
    for (const auto& [k, v] : identity) text += "id " + k + " " + v + "\n";
    return text + "begin " + std::to_string(begin) + "\n";
}

// A whole line that is a decimal number.
bool number(const std::string& s, std::uint64_t& out) {
    const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
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

// "params.command changed since the interrupted run: was "a", now "b"" for the first three
// differences (and how many more), or "" when the identities agree.
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

std::uint64_t file_size(const std::string& path) {
    std::error_code ec;
    const auto n = fs::file_size(path, ec);
    return ec ? 0 : n;
}

// The inputs a journal's closed blocks name.
std::uint64_t journal_count(const Journal& j) {
    std::uint64_t n = 0;
    for (const auto& b : j.blocks)
        for (auto [first, last] : b.runs) n += last - first + 1;
    return n;
}

// Marks the indices of `runs` in `marks` (grown to fit); returns how many were new.
std::uint64_t mark_runs(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& runs,
                        std::vector<bool>& marks) {
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

// The marked indices as journal lines "<prefix><first> <last>", one per run.
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

// The same for indices in the order they came, a run for each consecutive stretch.
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

// The inputs a journal marks as failed.
std::vector<bool> journal_failed(const Journal& j, std::uint64_t& count) {
    std::vector<bool> failed;
    count = 0;
    for (const auto& b : j.blocks) count += mark_runs(b.failed, failed);
    return failed;
}

// The index a record line starts with (every format puts it first), or nullopt.
std::optional<std::uint64_t> record_index(const std::string& line, Format format) {
    std::size_t at = 0;
    if (format == Format::jsonl) {
        static const std::string head = "{\"index\": ";
        if (line.compare(0, head.size(), head) != 0) return std::nullopt;
        at = head.size();
    }
    std::uint64_t index = 0;
    const auto r = std::from_chars(line.data() + at, line.data() + line.size(), index);
    if (r.ec != std::errc() || r.ptr == line.data() + at) return std::nullopt;
    return index;
}

// The reduction state: "mproc-state <covered .part size>\n<reduction as JSON>\n".
struct State {
    bool exists = false;
    std::uint64_t covers = 0;
    Value reduced;
};

State read_state(const std::string& path) {
    State s;
    if (!fs::exists(path)) return s;
    const std::string text = read_text(path);
    const auto nl = text.find('\n');
    std::istringstream head(text.substr(0, nl));
    std::string magic;
    if (nl == std::string::npos || !(head >> magic >> s.covers) || magic != "mproc-state")
        throw RunRefused(path + " is not an mproc reduction state; run with --restart");
    try {
        s.reduced = parse_json(text.substr(nl + 1));
    } catch (const std::invalid_argument& e) {
        throw RunRefused(path + ": " + e.what() + "; run with --restart");
    }
    s.exists = true;
    return s;
}

}  // namespace

void replace_file(const std::string& path, const std::string& text, bool durable) {
    const std::string tmp = path + ".tmp";
    std::FILE* f = open_file(tmp, "wb");
    try {
        write_all(f, text, tmp);
        if (durable) sync_file(f, tmp);
        close_file(f, tmp);
    } catch (...) {
        if (f != nullptr) std::fclose(f);
        std::remove(tmp.c_str());
        throw;
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) io_failed("rename " + tmp + " to", path);
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

namespace {

// What an earlier run left, decided from its journal and files.
enum class Left { nothing, partial, complete };

Left what_is_left(const Config& cfg, const Journal& j) {
    const bool part = fs::exists(cfg.output + ".part"), out = fs::exists(cfg.output);
    if (!j.exists) return out ? Left::complete : Left::nothing;
    if (j.complete) return out ? Left::complete : Left::nothing;
    if (part) return Left::partial;
    // Killed between renaming .part into place and marking the journal complete: the file
    // is whole when it is as long as the last block says.
    if (out && file_size(cfg.output) == (j.blocks.empty() ? j.begin : j.blocks.back().end))
        return Left::complete;
    return Left::nothing;
}

}  // namespace

namespace {

// What `start` may do with what an earlier run left (its journal `j`): refuses with
// RunRefused, or returns what was left.
Left decide_start(const Config& cfg, const Journal& j, const Identity& identity, Start start,
                  const std::string& rerun) {
    const Left left = what_is_left(cfg, j);
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

}  // namespace

void check_start(const Config& cfg, Start start, const std::string& rerun) {
    refuse_resume_to_stdout(cfg, start);
    if (cfg.output == "-" || start == Start::restart) return;
    decide_start(cfg, read_journal(cfg.output + ".journal"), run_identity(cfg), start, rerun);
}

std::string reduced_path(const std::string& output) {
    return output + ".reduced.json";
}

std::string summary_path(const std::string& output) {
    return output + ".summary.json";
}

int lock_output(const std::string& output) {
    const std::string path = output + ".lock";
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) io_failed("create", path);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char buf[256] = {};
        const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        close(fd);
        std::string holder(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
        while (!holder.empty() && holder.back() == '\n') holder.pop_back();
        throw RunRefused("another run is writing " + output + " (" +
                         (holder.empty() ? "it is starting" : holder) +
                         "); wait for it to end, or stop it, and run again");
    }
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    const std::string who =
        "host " + std::string(host) + ", pid " + std::to_string(getpid()) + "\n";
    if (ftruncate(fd, 0) != 0 || pwrite(fd, who.data(), who.size(), 0) < 0) {
        close(fd);
        io_failed("write", path);
    }
    return fd;
}

void release_lock(int fd) {
    if (fd < 0) return;
    [[maybe_unused]] const int rc = ftruncate(fd, 0);  // no holder to name; nothing to undo
    close(fd);
}

ResultWriter::ResultWriter(const Config& cfg, Start start, const std::string& rerun)
    : cfg_(cfg), to_stdout_(cfg.output == "-"), reduced_(cfg.job->reduce_init) {
    refuse_resume_to_stdout(cfg, start);
    if (to_stdout_) {
        if (cfg_.format == Format::csv) std::cout << csv_header(cfg.provenance);
        if (!cfg.joblog.empty()) open_joblog(true);
        return;
    }
    part_path_ = cfg.output + ".part";
    journal_path_ = cfg.output + ".journal";
    state_path_ = cfg.output + ".state";
    const fs::path dir = fs::path(cfg.output).parent_path();
    std::error_code ec;
    if (!dir.empty() && !fs::create_directories(dir, ec) && ec)
        throw IoError("cannot create " + dir.string() + ": " + ec.message());
    lock_fd_ = lock_output(cfg.output);
    try {
        // Decided again under the lock: another run may have changed things since the front.
        const Journal j = read_journal(journal_path_);
        const Identity identity = run_identity(cfg);
        const Left left = decide_start(cfg, j, identity, start, rerun);
        if ((start == Start::resume || start == Start::retry_failed) && left == Left::complete) {
            if (j.exists && !j.complete) {  // the kill came just after the rename
                journal_ = open_file(journal_path_, "ab");
                write_all(journal_, "complete\n", journal_path_);
                close_file(journal_, journal_path_);
            }
            journal_failed(j, failed_count_);
            if (start == Start::retry_failed && failed_count_ > 0)
                retry_failed(j);
            else
                complete_ = true;
        } else if (start == Start::resume && left == Left::partial) {
            resume(j);
        } else {
            start_fresh(identity);
        }
        if (!complete_ && !cfg.joblog.empty())
            open_joblog(part_size_ == begin_ && done_count_ == 0);
    } catch (...) {
        if (part_ != nullptr) std::fclose(part_);
        if (journal_ != nullptr) std::fclose(journal_);
        if (joblog_ != nullptr) std::fclose(joblog_);
        release_lock(lock_fd_);
        throw;
    }
}

// A fresh run starts the joblog anew; a resumed one (or a retry) adds to it, as GNU
// parallel's --resume does.
void ResultWriter::open_joblog(bool fresh) {
    joblog_ = open_file(cfg_.joblog, fresh ? "wb" : "ab");
    if (fresh || file_size(cfg_.joblog) == 0)
        write_all(joblog_,
                  "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n",
                  cfg_.joblog);
}

void ResultWriter::start_fresh(const Identity& identity) {
    begin_ = cfg_.format == Format::csv ? csv_header(cfg_.provenance).size() : 0;
    std::remove(state_path_.c_str());
    const std::string header = cfg_.format == Format::csv ? csv_header(cfg_.provenance) : "";
    part_ = open_file(part_path_, "wb");
    write_all(part_, header, part_path_);
    part_size_ = header.size();
    // The journal goes in whole, so no reader sees a journal without its identity.
    replace_file(journal_path_, journal_head(identity, part_size_));
    journal_ = open_file(journal_path_, "ab");
    if (cfg_.job->reduce) write_state(true);
}

void ResultWriter::resume(const Journal& j) {
    const std::uint64_t on_disk = file_size(part_path_);
    State state;
    const bool refold = cfg_.job->reduce && cfg_.format == Format::jsonl;
    if (cfg_.job->reduce) {
        state = read_state(state_path_);
        if (!state.exists || (state.covers > on_disk && refold)) {
            // No state, or records it counted were lost from .part: fold every record that
            // is left, from the start.
            state = State{};
            state.covers = j.begin;
        }
        if (state.covers > on_disk)
            throw RunRefused(part_path_ + " holds " + std::to_string(on_disk) +
                             " bytes, fewer than the reduction in " + state_path_ + " counts (" +
                             std::to_string(state.covers) + "): records were lost, and a ." +
                             (cfg_.format == Format::csv ? "csv" : "txt") +
                             " file does not carry results exactly enough to count them again; " +
                             "discard the partial results with --restart");
        if (state.exists) reduced_ = std::move(state.reduced);
    }
    if (on_disk < j.begin)
        throw RunRefused(part_path_ + " is shorter than its header; run with --restart");
    // The blocks that count: closed and wholly in .part. For a reducing job, blocks past the
    // state's checkpoint are folded in again from their .jsonl records; .csv and .txt records
    // do not carry results exactly, so there those blocks run again.
    std::uint64_t good = j.begin;
    std::vector<bool> failed;
    for (const auto& b : j.blocks) {
        if (b.end > on_disk) break;
        if (cfg_.job->reduce && b.end > state.covers) {
            if (!refold || good < state.covers) break;
            fold_records(good, b.end);
        }
        done_count_ += mark_runs(b.runs, done_);
        mark_runs(b.failed, failed);
        good = b.end;
    }
    if (cfg_.job->reduce && good < state.covers)
        throw RunRefused(state_path_ + " covers " + std::to_string(state.covers) +
                         " bytes of records, which is not where a block of " + journal_path_ +
                         " ends; discard the partial results with --restart");
    // Cut .part back to what counts (never longer: a short .part is never padded).
    if (truncate(part_path_.c_str(), static_cast<off_t>(good)) != 0)
        io_failed("cut back", part_path_);
    part_size_ = good;
    part_ = open_file(part_path_, "ab");
    // The journal anew with only what counts, its runs merged: a torn tail cannot confuse a
    // later resume, and the journal does not grow with every interruption.
    std::string text = journal_head(j.identity, j.begin);
    append_runs(text, done_, "");
    append_runs(text, failed, "x ");
    text += "= " + std::to_string(good) + "\n";
    replace_file(journal_path_, text);
    journal_ = open_file(journal_path_, "ab");
    // Records appended after a hole (inputs left out in the middle) are put in index order at
    // the end, so the file is the one a clean ordered run writes.
    begin_ = j.begin;
    if (cfg_.ordered && done_count_ != done_.size()) needs_sort_ = true;
}

void ResultWriter::retry_failed(const Journal& j) {
    if (cfg_.job->reduce && cfg_.format != Format::jsonl)
        throw RunRefused(
            "--retry-failed of a job that reduces needs .jsonl results, whose records "
            "carry results exactly enough to count them again; run anew with "
            "--restart");
    std::uint64_t count = 0;
    const std::vector<bool> failed = journal_failed(j, count);
    // The records that stand go to a new .part; the failed inputs are left out, so a resume
    // of that runs exactly them. OUTPUT stays as it was until the new one replaces it.
    std::ifstream in(cfg_.output, std::ios::binary);
    if (!in) io_failed("read", cfg_.output);
    std::string kept(j.begin, '\0');
    in.read(kept.data(), static_cast<std::streamsize>(j.begin));
    std::vector<bool> done;
    std::string line;
    for (std::uint64_t n = 1; std::getline(in, line); ++n) {
        const auto index = record_index(line, cfg_.format);
        if (!index)
            throw RunRefused(cfg_.output + ":" + std::to_string(n + (j.begin > 0 ? 1 : 0)) +
                             ": not a record of this run; run it anew with --restart");
        if (*index < failed.size() && failed[*index]) continue;
        if (done.size() <= *index) done.resize(*index + 1);
        done[*index] = true;
        kept += line;
        kept += '\n';
    }
    if (in.bad()) io_failed("read", cfg_.output);
    replace_file(part_path_, kept);
    std::remove(state_path_.c_str());  // the reduction is counted again from the records
    std::string text = journal_head(j.identity, j.begin);
    append_runs(text, done, "");
    text += "= " + std::to_string(kept.size()) + "\n";
    replace_file(journal_path_, text);
    resume(read_journal(journal_path_));
}

void ResultWriter::sort_part() {
    const std::string text = read_text(part_path_);
    std::vector<std::pair<std::uint64_t, std::string_view>> lines;
    for (std::size_t at = begin_; at < text.size();) {
        std::size_t nl = text.find('\n', at);
        if (nl == std::string::npos) nl = text.size() - 1;
        const std::string_view line(text.data() + at, nl + 1 - at);
        const auto index = record_index(std::string(line.substr(0, 32)), cfg_.format);
        lines.emplace_back(index.value_or(0), line);
        at = nl + 1;
    }
    std::stable_sort(lines.begin(), lines.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string sorted = text.substr(0, begin_);
    sorted.reserve(text.size());
    for (const auto& [index, line] : lines) sorted += line;
    replace_file(part_path_, sorted);
}

void ResultWriter::fold_records(std::uint64_t from, std::uint64_t to) {
    std::ifstream in(part_path_, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(from));
    std::string line;
    for (std::uint64_t at = from; at < to && std::getline(in, line); at += line.size() + 1) {
        Value record;
        try {
            record = parse_json(line);
        } catch (const std::invalid_argument& e) {
            throw RunRefused(part_path_ + " at byte " + std::to_string(at) + ": " + e.what() +
                             "; discard the partial results with --restart");
        }
        // A failed record has no result and was not folded in.
        if (record.is_map() && record.as_map().count("result") != 0)
            reduced_ = cfg_.job->reduce(std::move(reduced_), record["result"]);
    }
    if (!in) io_failed("read", part_path_);
}

ResultWriter::~ResultWriter() {
    if (part_ != nullptr) std::fclose(part_);
    if (joblog_ != nullptr) std::fclose(joblog_);
    if (journal_ != nullptr) std::fclose(journal_);
    release_lock(lock_fd_);
}

std::string csv_header(bool provenance) {
    return provenance ? "index,input,result,error,host,rank,start,seconds,attempts\n"
                      : "index,input,result,error\n";
}

std::string iso_time(double t) {
    const auto whole = static_cast<std::time_t>(t);
    const int ms = std::min(999, static_cast<int>((t - static_cast<double>(whole)) * 1000));
    std::tm utc{};
    gmtime_r(&whole, &utc);
    char buf[40];
    const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(buf + n, sizeof buf - n, ".%03dZ", ms);
    return buf;
}

namespace {
// Seconds to the microsecond: enough for a duration, and short in a record.
Value rounded_seconds(double s) {
    return Value(std::round(s * 1e6) / 1e6);
}
}  // namespace

void format_record(Format format, std::uint64_t index, const Value& input, const Value* result,
                   const std::string& error, const Provenance* where, std::string& out) {
    const bool failed = !error.empty() || result == nullptr;
    switch (format) {
        case Format::jsonl:
            // Appended piece by piece: this runs once per record.
            out += "{\"index\": ";
            append_int(out, static_cast<std::int64_t>(index));
            out += ", \"input\": ";
            append_json(out, input);
            if (result != nullptr) {
                out += ", \"result\": ";
                append_json(out, *result);
            }
            if (failed) {
                out += ", \"error\": ";
                append_json_string(out, error);
            }
            if (where != nullptr) {
                out += ", \"host\": ";
                append_json_string(out, where->host);
                out += ", \"rank\": ";
                append_int(out, where->rank);
                out += ", \"start\": \"" + iso_time(where->start) + "\", \"seconds\": ";
                append_json(out, rounded_seconds(where->seconds));
                out += ", \"attempts\": ";
                append_int(out, where->attempts);
            }
            out += "}\n";
            break;
        case Format::csv: {
            // RFC 4180 quoting, with newlines escaped as well, so one record is one line.
            const auto field = [&out](const std::string& s) {
                std::string e;
                append_escaped(e, s, false);
                if (e.find_first_of(",\"") == std::string::npos) {
                    out += e;
                    return;
                }
                out += '"';
                for (char c : e) out += c == '"' ? std::string("\"\"") : std::string(1, c);
                out += '"';
            };
            append_int(out, static_cast<std::int64_t>(index));
            out += ',';
            field(input.text());
            out += ',';
            field(result != nullptr ? result->text() : "");
            out += ',';
            field(failed ? error : "");
            if (where != nullptr) {
                out += ',';
                field(where->host);
                out += ',';
                append_int(out, where->rank);
                out += ',' + iso_time(where->start) + ',' + rounded_seconds(where->seconds).text() +
                       ',';
                append_int(out, where->attempts);
            }
            out += '\n';
            break;
        }
        case Format::txt:
            append_int(out, static_cast<std::int64_t>(index));
            out += '\t';
            append_escaped(out, input.text(), true);
            out += '\t';
            if (failed) {
                out += "ERROR: ";
                append_escaped(out, error, true);
            } else {
                append_escaped(out, result->text(), true);
            }
            if (where != nullptr) {
                out += '\t';
                append_escaped(out, where->host, true);
                out += '\t';
                append_int(out, where->rank);
                out += '\t' + iso_time(where->start) + '\t' +
                       rounded_seconds(where->seconds).text() + '\t';
                append_int(out, where->attempts);
            }
            out += '\n';
            break;
    }
}

void ResultWriter::add(const Record& r) {
    pending_ += r.line;  // formatted on the worker
    if (r.extra) pending_joblog_ += r.extra->joblog;
    if (r.ok && cfg_.job->reduce) reduced_ = cfg_.job->reduce(std::move(reduced_), r.extra->result);
    if (to_stdout_) {
        std::cout << pending_;
        pending_.clear();
        return;
    }
    pending_indices_.push_back(r.index);
    if (!r.ok) pending_failed_.push_back(r.index);
}

void ResultWriter::write_state(bool sync) {
    const auto t0 = Clock::now();
    std::string text = "mproc-state " + std::to_string(part_size_) + "\n";
    append_json(text, reduced_);
    text += '\n';
    // Between syncs a crash may lose the newest state, and then resume folds those blocks in
    // again (or runs them again); it never counts them twice.
    replace_file(state_path_, text, sync);
    state_time_ = Clock::now();
    state_cost_ = std::chrono::duration<double>(state_time_ - t0).count();
    state_covers_ = part_size_;
}

void ResultWriter::flush(bool sync) {
    if (joblog_ != nullptr && !pending_joblog_.empty()) {
        write_all(joblog_, pending_joblog_, cfg_.joblog);
        if (std::fflush(joblog_) != 0) io_failed("write", cfg_.joblog);
        pending_joblog_.clear();
    }
    if (to_stdout_) {
        std::cout.flush();
        return;
    }
    if (!pending_indices_.empty()) {
        // Records first, then the journal lines that vouch for them.
        write_all(part_, pending_, part_path_);
        part_size_ += pending_.size();
        std::string journal;
        append_runs(journal, pending_indices_, "");
        append_runs(journal, pending_failed_, "x ");
        journal += "= ";
        append_int(journal, static_cast<std::int64_t>(part_size_));
        journal += '\n';
        if (sync) sync_file(part_, part_path_);
        write_all(journal_, journal, journal_path_);
        pending_.clear();
        pending_indices_.clear();
        pending_failed_.clear();
    }

    if (sync) sync_file(journal_, journal_path_);
    if (!cfg_.job->reduce || state_covers_ == part_size_) return;
    // A large reduction (wordcount's) is replaced at most as often as keeps its cost near 5%
    // of the run; a small one at every flush.
    const double since = std::chrono::duration<double>(Clock::now() - state_time_).count();
    if (sync || since >= 20 * state_cost_) write_state(sync);
}

void ResultWriter::finish(const std::function<Value(Value)>& touch) {
    flush(true);  // the state keeps the reduction as it was folded, before its final touch
    if (touch) reduced_ = touch(std::move(reduced_));
    if (to_stdout_) return;
    if (cfg_.job->reduce) replace_file(reduced_path(cfg_.output), reduced_.json() + "\n");
    close_file(part_, part_path_);
    if (needs_sort_) sort_part();
    if (std::rename(part_path_.c_str(), cfg_.output.c_str()) != 0)
        io_failed("rename " + part_path_ + " to", cfg_.output);
    write_all(journal_, "complete\n", journal_path_);
    sync_file(journal_, journal_path_);
    close_file(journal_, journal_path_);
    if (joblog_ != nullptr) close_file(joblog_, cfg_.joblog);
    std::remove(state_path_.c_str());
}

}  // namespace mproc::runner
