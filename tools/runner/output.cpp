#include "output.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace mproc::runner {
namespace {

namespace fs = std::filesystem;

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

constexpr int kJournalVersion = 2;

void write_all(std::FILE* f, const std::string& s, const std::string& what) {
    if (!s.empty() && std::fwrite(s.data(), 1, s.size(), f) != s.size())
        throw std::runtime_error("cannot write " + what);
    if (std::fflush(f) != 0) throw std::runtime_error("cannot write " + what);
}

}  // namespace

std::string reduced_path(const std::string& output) {
    fs::path p(output);
    return (p.parent_path() / p.stem()).string() + ".reduced.json";
}

// Holds OUTPUT.lock for the whole run, so two runs never write the same results; a run
// started while an old one is still ending (its ranks being killed) waits for it.
int lock_output(const std::string& output) {
    const std::string path = output + ".lock";
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot create " + path);
    for (int i = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; ++i) {
        if (i == 0) std::cerr << "mproc: another run is writing " << output << "; waiting for it\n";
        if (i == 300) {
            close(fd);
            throw std::runtime_error("another mproc run is still writing " + output);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return fd;
}

std::string ResultWriter::journal_header(std::uint64_t part_size) const {
    const std::string size = std::to_string(part_size);
    return "mproc-journal " + std::to_string(kJournalVersion) + " " + size + "\n= " + size + " " +
           reduced_.json() + "\n";
}

ResultWriter::ResultWriter(const Config& cfg, bool resume)
    : cfg_(cfg), to_stdout_(cfg.output == "-"), reduced_(cfg.job->reduce_init) {
    if (to_stdout_) {
        if (resume) throw std::runtime_error("--resume needs a results file, not output.path: -");
        if (cfg_.format == Format::csv) std::cout << "index,input,result,error\n";
        return;
    }
    part_path_ = cfg.output + ".part";
    journal_path_ = cfg.output + ".journal";
    const fs::path dir = fs::path(cfg.output).parent_path();
    if (!dir.empty()) fs::create_directories(dir);
    lock_fd_ = lock_output(cfg.output);
    if (resume && fs::exists(journal_path_) && fs::exists(part_path_)) {
        resume_from_journal();
        return;
    }
    if (!resume && fs::exists(journal_path_))
        std::cerr << "mproc: starting afresh; an interrupted run's partial results in "
                  << part_path_ << " are discarded (run with --resume to continue it instead)\n";
    part_ = std::fopen(part_path_.c_str(), "wb");
    journal_ = std::fopen(journal_path_.c_str(), "wb");
    if (part_ == nullptr || journal_ == nullptr)
        throw std::runtime_error("cannot create " + part_path_);
    std::string header = cfg_.format == Format::csv ? "index,input,result,error\n" : "";
    write_all(part_, header, part_path_);
    part_size_ = header.size();
    write_all(journal_, journal_header(part_size_), journal_path_);
}

void ResultWriter::resume_from_journal() {
    std::ifstream in(journal_path_);
    std::string line;
    std::uint64_t good_size = 0;
    bool header_ok = false;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> block;  // runs of indices
    while (std::getline(in, line)) {
        if (in.eof()) break;  // a last line without its newline is torn: ignore it
        if (!header_ok) {
            std::istringstream h(line);
            std::string magic;
            int version = 0;
            h >> magic >> version >> good_size;
            if (magic != "mproc-journal" || version != kJournalVersion)
                throw std::runtime_error(journal_path_ + " is not an mproc journal (version " +
                                         std::to_string(kJournalVersion) + ")");
            header_ok = true;
            continue;
        }
        std::istringstream l(line);
        if (line.rfind("= ", 0) == 0) {
            // A block is closed: its records count, and the reduction so far is this one.
            std::string eq;
            std::uint64_t end = 0;
            if (!(l >> eq >> end)) break;
            for (auto [first, last] : block) {
                if (done_.size() <= last) done_.resize(last + 1);
                for (std::uint64_t i = first; i <= last; ++i) {
                    if (!done_[i]) ++done_count_;
                    done_[i] = true;
                }
            }
            block.clear();
            good_size = std::max(good_size, end);
            std::string reduction;
            std::getline(l >> std::ws, reduction);
            reduced_ = parse_value(reduction);  // JSON is YAML
            continue;
        }
        std::uint64_t first = 0, last = 0;
        if (!(l >> first >> last) || last < first) break;
        block.emplace_back(first, last);
    }
    if (!header_ok) throw std::runtime_error(journal_path_ + " is empty; run without --resume");
    // Cut the .part file back to the last complete block, then carry on appending.
    fs::resize_file(part_path_, good_size);
    part_size_ = good_size;
    part_ = std::fopen(part_path_.c_str(), "ab");
    // Rewrite the journal with only what counts, so a torn tail cannot confuse a later resume.
    const std::string journal = journal_header(good_size);
    const std::string tmp = journal_path_ + ".tmp";
    {
        std::FILE* f = std::fopen(tmp.c_str(), "wb");
        if (f == nullptr) throw std::runtime_error("cannot write " + tmp);
        write_all(f, journal, tmp);
        std::fclose(f);
    }
    fs::rename(tmp, journal_path_);
    journal_ = std::fopen(journal_path_.c_str(), "ab");
    if (part_ == nullptr || journal_ == nullptr)
        throw std::runtime_error("cannot reopen " + part_path_);
}

ResultWriter::~ResultWriter() {
    if (part_ != nullptr) std::fclose(part_);
    if (journal_ != nullptr) std::fclose(journal_);
    if (lock_fd_ >= 0) close(lock_fd_);  // releases the lock
}

void format_record(Format format, std::uint64_t index, const Value& input, const Value* result,
                   const std::string& error, std::string& out) {
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
            } else {
                out += ", \"error\": ";
                append_json_string(out, error);
            }
            out += "}\n";
            break;
        case Format::csv:
            out += std::to_string(index) + "," + csv_field(input.text()) + "," +
                   csv_field(result != nullptr ? result->text() : "") + "," +
                   csv_field(result != nullptr ? "" : error) + "\n";
            break;
        case Format::txt:
            out += std::to_string(index) + "\t" + input.text() + "\t" +
                   (result != nullptr ? result->text() : "ERROR: " + error) + "\n";
            break;
    }
}

void ResultWriter::add(const Record& r) {
    pending_ += r.line;  // formatted on the worker
    if (r.ok && cfg_.job->reduce) reduced_ = cfg_.job->reduce(std::move(reduced_), r.extra->result);
    if (to_stdout_) {
        std::cout << pending_;
        pending_.clear();
        return;
    }
    pending_indices_.push_back(r.index);
}

void ResultWriter::flush(bool sync) {
    if (to_stdout_) {
        std::cout.flush();
        return;
    }
    if (pending_indices_.empty()) return;
    // Records first, then the journal that vouches for them.
    write_all(part_, pending_, part_path_);
    part_size_ += pending_.size();
    std::string journal;
    const std::size_t n = pending_indices_.size();
    for (std::size_t i = 0; i < n;) {
        std::size_t j = i + 1;  // [i, j) is a run of consecutive indices
        while (j < n && pending_indices_[j] == pending_indices_[j - 1] + 1) ++j;
        append_int(journal, static_cast<std::int64_t>(pending_indices_[i]));
        journal += ' ';
        append_int(journal, static_cast<std::int64_t>(pending_indices_[j - 1]));
        journal += '\n';
        i = j;
    }
    journal += "= ";
    append_int(journal, static_cast<std::int64_t>(part_size_));
    journal += ' ';
    append_json(journal, reduced_);
    journal += '\n';
    if (sync) fsync(fileno(part_));
    write_all(journal_, journal, journal_path_);
    if (sync) fsync(fileno(journal_));
    pending_.clear();
    pending_indices_.clear();
}

void ResultWriter::finish() {
    flush(true);
    if (to_stdout_) return;
    if (cfg_.job->reduce) {
        const std::string path = reduced_path(cfg_.output);
        std::ofstream(path + ".tmp") << reduced_.json() << "\n";
        fs::rename(path + ".tmp", path);
    }
    std::fclose(part_);
    part_ = nullptr;
    fs::rename(part_path_, cfg_.output);
    std::fclose(journal_);
    journal_ = nullptr;
    fs::remove(journal_path_);
    fs::remove(cfg_.output + ".lock");
}

}  // namespace mproc::runner
