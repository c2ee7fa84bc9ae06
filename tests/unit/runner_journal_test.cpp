// The journal and the run's identity (tools/runner/journal.*, results_writer.*): parsing and
// writing, every decision --resume, --restart and --retry-failed make over what an earlier
// run left and each refusal's message, a torn .part, an older version's journal, the digest.

#include <gtest/gtest.h>

#include <filesystem>

#include "files.hpp"
#include "journal.hpp"
#include "results_writer.hpp"
#include "runner_testing.hpp"

namespace {

using namespace mproc::runner;
using namespace mproc::runner::testing;

MPROC_JOB({
    .name = "journal_test_job",
    .description = "a job for the journal's tests",
    .params = {{"k", ParamType::integer, Value(1), "a parameter"}},
    .run = [](const Value& input, const Value&, const TaskContext&) -> Value { return input; },
});

Config config_at(const std::string& output) {
    Config cfg;
    cfg.file = "test.yaml";
    cfg.job = find_job("journal_test_job");
    cfg.input.kind = InputSpec::Kind::range;
    cfg.input.stop = 100;
    cfg.params = Value(Value::Map{{"k", Value(1)}});
    cfg.output = output;
    return cfg;
}

Record record_of(std::uint64_t i, bool ok = true) {
    Record r;
    r.index = i;
    r.ok = ok;
    const Value v(static_cast<std::int64_t>(i));
    format_record(Format::jsonl, i, v, ok ? &v : nullptr, ok ? "" : "failed", nullptr, r.line);
    if (!ok) {
        r.extra = std::make_unique<Record::Extra>();
        r.extra->input = v;
        r.extra->error = "failed";
    }
    return r;
}

std::string refusal(const Config& cfg, const Journal& j, Start start) {
    try {
        decide_start(cfg, j, run_identity(cfg), start, "mproc run test.yaml");
    } catch (const RunRefused& e) {
        return e.what();
    }
    return "";
}

TEST(RunnerJournal, ReadsWhatItWrites) {
    Scratch s;
    const Identity id{{"job", "\"x\""}, {"params.k", "1"}};
    std::string text = journal_head(id, 12);
    std::vector<bool> marks(8);
    marks[0] = marks[1] = marks[2] = marks[5] = true;
    append_runs(text, marks, "");
    append_runs(text, std::vector<std::uint64_t>{5}, "x ");
    text += "= 100\n";
    append_runs(text, std::vector<std::uint64_t>{7, 3, 4}, "");
    text += "= 180\ncomplete\n";
    write_text(s.path("j"), text);

    const Journal j = read_journal(s.path("j"));
    EXPECT_TRUE(j.exists && j.complete);
    EXPECT_EQ(j.version, kJournalVersion);
    EXPECT_EQ(j.identity, id);
    EXPECT_EQ(j.begin, 12u);
    ASSERT_EQ(j.blocks.size(), 2u);
    EXPECT_EQ(j.blocks[0].runs, (Runs{{0, 2}, {5, 5}}));
    EXPECT_EQ(j.blocks[0].failed, (Runs{{5, 5}}));
    EXPECT_EQ(j.blocks[0].end, 100u);
    EXPECT_EQ(j.blocks[1].runs, (Runs{{7, 7}, {3, 4}}));  // in the order they came
    EXPECT_EQ(journal_count(j), 7u);
    std::uint64_t failed = 0;
    const std::vector<bool> f = journal_failed(j, failed);
    EXPECT_EQ(failed, 1u);
    EXPECT_TRUE(f.at(5));
}

TEST(RunnerJournal, TrustsNothingPastATornOrDamagedLine) {
    Scratch s;
    const std::string head = journal_head({{"job", "\"x\""}}, 0);
    write_text(s.path("torn"), head + "0 9\n= 90\n10 19\n= 18");  // the last line cut short
    Journal j = read_journal(s.path("torn"));
    ASSERT_EQ(j.blocks.size(), 1u);
    EXPECT_EQ(j.blocks[0].end, 90u);

    write_text(s.path("damaged"), head + "0 9\n= 90\n1x 3\n= 120\n20 29\n= 200\n");
    j = read_journal(s.path("damaged"));
    EXPECT_EQ(j.blocks.size(), 1u);  // the damaged line ends what is trusted
    EXPECT_FALSE(j.complete);

    EXPECT_FALSE(read_journal(s.path("none")).exists);
}

TEST(RunnerJournal, ReadsTheVersionBeforeAndRefusesOthers) {
    Scratch s;
    write_text(s.path("v3"), "mproc-journal 3\nid job \"x\"\nbegin 0\n0 4\n= 50\n");
    const Journal v3 = read_journal(s.path("v3"));
    EXPECT_EQ(v3.version, 3);
    EXPECT_EQ(journal_count(v3), 5u);

    const auto refused = [&](const std::string& text, const std::string& says) {
        write_text(s.path("j"), text);
        try {
            read_journal(s.path("j"));
            ADD_FAILURE() << "read: " << text;
        } catch (const RunRefused& e) {
            EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("--restart"), std::string::npos) << e.what();
        }
    };
    refused("mproc-journal 2\nbegin 0\n", "written by another version of mproc (journal 2, this one writes 4)");
    refused("something else\n", "is not an mproc journal");
    refused("", "is empty");
}

TEST(RunnerJournal, SaysWhatChangedSinceTheRun) {
    const Identity was{{"job", "\"a\""}, {"params.x", "1"}, {"params.gone", "2"}};
    const Identity now{{"job", "\"a\""}, {"params.x", "3"}, {"params.new", "4"}};
    const std::string change = identity_change(was, now, "interrupted run");
    EXPECT_NE(change.find("params.x changed since the interrupted run: was 1, now 3"), std::string::npos)
        << change;
    EXPECT_NE(change.find("params.new changed since the interrupted run: was (not set), now 4"),
              std::string::npos);
    EXPECT_NE(change.find("params.gone changed since the interrupted run: was 2, now (not set)"),
              std::string::npos);
    EXPECT_EQ(identity_change(was, was, "run"), "");
    Identity many;
    for (int i = 0; i < 6; ++i) many.emplace_back("params.p" + std::to_string(i), "1");
    EXPECT_NE(identity_change({}, many, "run").find("(and 3 more)"), std::string::npos);
}

TEST(RunnerJournal, TheIdentityDigestsInputsAndLongValues) {
    Scratch s;
    Config cfg = config_at(s.path("out.jsonl"));
    cfg.input.kind = InputSpec::Kind::lines;
    cfg.input.path = s.path("lines.txt");
    write_text(cfg.input.path, "a\nb\n");
    const Identity first = run_identity(cfg);
    EXPECT_EQ(run_identity(cfg), first);  // the same file, the same identity
    write_text(cfg.input.path, "a\nc\n");  // same size, other bytes
    const Identity changed = run_identity(cfg);
    EXPECT_NE(identity_change(first, changed, "run").find("input.lines_content changed"),
              std::string::npos);
    // A long value is kept as its digest, which still changes with it.
    cfg.params = Value(Value::Map{{"k", Value(std::string(1000, 'a'))}});
    const Identity a = run_identity(cfg);
    cfg.params = Value(Value::Map{{"k", Value(std::string(999, 'a') + "b")}});
    const Identity b = run_identity(cfg);
    std::string ka, kb;
    for (const auto& [k, v] : a)
        if (k == "params.k") ka = v;
    for (const auto& [k, v] : b)
        if (k == "params.k") kb = v;
    EXPECT_LT(ka.size(), 100u);
    EXPECT_NE(ka.find("digest"), std::string::npos);
    EXPECT_NE(ka, kb);
}

TEST(RunnerJournal, EveryStartDecisionAndItsRefusal) {
    Scratch s;
    const Config cfg = config_at(s.path("out.jsonl"));
    const std::string head = journal_head(run_identity(cfg), 0);
    const std::string journal_path = cfg.output + ".journal";
    // Nothing left: every start goes ahead but --retry-failed, which has nothing to retry.
    Journal none;
    EXPECT_EQ(decide_start(cfg, none, run_identity(cfg), Start::fresh, "r"), Left::nothing);
    EXPECT_EQ(decide_start(cfg, none, run_identity(cfg), Start::resume, "r"), Left::nothing);
    EXPECT_NE(refusal(cfg, none, Start::retry_failed).find("no finished results"), std::string::npos);

    // Partial results: a plain run names both ways on; --resume goes on; --restart too.
    write_text(journal_path, head + "0 4\n= 40\n");
    write_text(cfg.output + ".part", std::string(40, 'x'));
    Journal partial = read_journal(journal_path);
    EXPECT_EQ(what_is_left(cfg.output, partial), Left::partial);
    const std::string plain = refusal(cfg, partial, Start::fresh);
    EXPECT_NE(plain.find("partial results of an interrupted run (5 inputs done)"), std::string::npos) << plain;
    EXPECT_NE(plain.find("mproc run test.yaml --resume"), std::string::npos);
    EXPECT_NE(plain.find("mproc run test.yaml --restart"), std::string::npos);
    EXPECT_EQ(refusal(cfg, partial, Start::resume), "");
    EXPECT_EQ(refusal(cfg, partial, Start::restart), "");
    EXPECT_NE(refusal(cfg, partial, Start::retry_failed).find("finish it first"), std::string::npos);
    // ... with a changed config: refused, the files left as they were.
    Config changed = cfg;
    changed.params = Value(Value::Map{{"k", Value(2)}});
    const std::string resume_changed = refusal(changed, partial, Start::resume);
    EXPECT_NE(resume_changed.find("params.k changed since the interrupted run: was 1, now 2"),
              std::string::npos) << resume_changed;
    EXPECT_NE(resume_changed.find("--restart"), std::string::npos);
    EXPECT_EQ(refusal(changed, partial, Start::restart), "");

    // Complete: --resume has nothing to do; with a changed config it says so.
    std::filesystem::rename(cfg.output + ".part", cfg.output);
    write_text(journal_path, head + "0 4\nx 2 2\n= 40\ncomplete\n");
    const Journal complete = read_journal(journal_path);
    EXPECT_EQ(what_is_left(cfg.output, complete), Left::complete);
    EXPECT_EQ(refusal(cfg, complete, Start::resume), "");
    EXPECT_NE(refusal(changed, complete, Start::resume).find("run without --resume"), std::string::npos);
    EXPECT_EQ(refusal(cfg, complete, Start::retry_failed), "");
    // Killed between the rename and "complete": complete when the file is as long as it says.
    write_text(journal_path, head + "0 4\n= 40\n");
    EXPECT_EQ(what_is_left(cfg.output, read_journal(journal_path)), Left::complete);

    // An older journal cannot say which inputs failed.
    write_text(journal_path, "mproc-journal 3\n" + head.substr(head.find('\n') + 1) + "0 4\n= 40\ncomplete\n");
    EXPECT_NE(refusal(cfg, read_journal(journal_path), Start::retry_failed).find("older mproc"),
              std::string::npos);

    // Results to stdout cannot be resumed.
    Config to_stdout = cfg;
    to_stdout.output = "-";
    EXPECT_THROW(check_start(to_stdout, Start::resume, "r"), RunRefused);
    EXPECT_NO_THROW(check_start(to_stdout, Start::fresh, "r"));
}

TEST(RunnerJournal, AResumeAfterATornPartKeepsOnlyWholeBlocks) {
    Scratch s;
    const Config cfg = config_at(s.path("out.jsonl"));
    {
        ResultWriter w(cfg, Start::fresh, "r");
        for (std::uint64_t i = 0; i < 10; ++i) w.add(record_of(i, i != 3));
        w.flush();
        for (std::uint64_t i = 10; i < 20; ++i) w.add(record_of(i));
        w.flush();
    }  // killed here: .part and the journal as they are
    const std::string part = read_text(cfg.output + ".part");
    const std::uint64_t first_block = read_journal(cfg.output + ".journal").blocks.at(0).end;
    std::filesystem::resize_file(cfg.output + ".part", part.size() - 5);  // a torn tail

    {
        ResultWriter w(cfg, Start::resume, "r");
        EXPECT_FALSE(w.complete());
        EXPECT_EQ(w.done_count(), 10u);
        EXPECT_TRUE(w.done(0) && w.done(3) && w.done(9));
        EXPECT_FALSE(w.done(10) || w.done(19));
        EXPECT_EQ(file_size(cfg.output + ".part"), first_block);  // cut back, never padded
        for (std::uint64_t i = 10; i < 100; ++i) w.add(record_of(i));
        w.finish();
    }
    // The file a clean run writes: every input once, in order.
    const std::string out = read_text(cfg.output);
    std::string clean;
    for (std::uint64_t i = 0; i < 100; ++i) clean += record_of(i, i != 3).line;
    EXPECT_EQ(out, clean);
    const Journal done = read_journal(cfg.output + ".journal");
    EXPECT_TRUE(done.complete);
    std::uint64_t failed = 0;
    journal_failed(done, failed);
    EXPECT_EQ(failed, 1u);

    // --retry-failed runs exactly the failed input again, and puts it back in its place.
    ResultWriter retry(cfg, Start::retry_failed, "r");
    EXPECT_FALSE(retry.complete());
    EXPECT_EQ(retry.done_count(), 99u);
    EXPECT_FALSE(retry.done(3));
    retry.add(record_of(3));
    retry.finish();
    std::string all_good;
    for (std::uint64_t i = 0; i < 100; ++i) all_good += record_of(i).line;
    EXPECT_EQ(read_text(cfg.output), all_good);
}

TEST(RunnerJournal, TwoRunsNeverWriteOneFile) {
    Scratch s;
    const Config cfg = config_at(s.path("out.jsonl"));
    ResultWriter first(cfg, Start::fresh, "r");
    try {
        ResultWriter second(cfg, Start::fresh, "r");
        ADD_FAILURE() << "a second run took the results";
    } catch (const RunRefused& e) {
        EXPECT_NE(std::string(e.what()).find("another run is writing"), std::string::npos);
    }
}

}  // namespace
