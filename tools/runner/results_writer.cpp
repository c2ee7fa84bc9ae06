#include "results_writer.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string_view>

#include "files.hpp"
#include "record_format.hpp"

namespace mproc::runner {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The reduction state: "mproc-state <covered .part size>\n<reduction as JSON>\n".
struct State {
    bool exists = false;
    std::uint64_t covers = 0;
    Value reduced;
};

State read_state(const std::string& path) {
    State s;
    if (!fs::exists(path)) return s;
    const std::string text = read_file(path);
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

std::string reduced_path(const std::string& output) {
    return output + ".reduced.json";
}

std::string summary_path(const std::string& output) {
    return output + ".summary.json";
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
        // Records come in the order inputs went out; the file is in input order.
        if (cfg.order == Order::longest_first) needs_sort_ = true;
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
    const std::string text = read_file(part_path_);
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
