#include "dry_run.hpp"

#include <ostream>
#include <vector>

#include "command_template.hpp"
#include "durations.hpp"
#include "inputs.hpp"
#include "journal.hpp"
#include "plan.hpp"

namespace mproc::runner {
namespace {

// One task as the run would start it.
std::string task_line(const Config& cfg, const Item& item) {
    if (cfg.job->name != "command")
        return cfg.job->name + " " + (item.input.is_string() ? item.input.as_string()
                                                             : item.input.json());
    const std::string& tpl = cfg.params["command"].as_string();
    const Filling with{item.input, item.index};  // no slot yet: {%} shows as written
    if (needs_shell(tpl)) return fill_template(tpl, with);
    Value::List words;
    for (std::string& w : command_words(tpl, with)) words.emplace_back(std::move(w));
    return "(no shell) " + Value(std::move(words)).json();
}

}  // namespace

int dry_run(const Args& args, std::ostream& out) {
    const Config cfg = run_config(args);
    // With --resume, what the journal says is done is not shown.
    std::vector<bool> done;
    if (args.resume && cfg.output != "-")
        for (const auto& block : read_journal(cfg.output + ".journal").blocks)
            mark_runs(block.runs, done);
    const auto is_done = [&](std::uint64_t i) { return i < done.size() && done[i]; };
    ItemRange items(cfg.input, is_done, args.shard.value_or(Shard{}));
    apply_order(cfg, items, is_done);
    std::uint64_t shown = 0, count = 0;
    for (const Item& item : items) {
        if (shown < static_cast<std::uint64_t>(args.dry_run_count)) {
            out << task_line(cfg, item) << "\n";
            ++shown;
        }
        ++count;
    }
    const char* what = cfg.job->name == "command" ? " commands" : " tasks";
    out << "# " << shown << " of " << count << what << (args.resume ? " not yet done" : "")
        << (cfg.job->name == "command" && cfg.params["command"].as_string().find("{%}") !=
                                              std::string::npos
                ? "; {%} is the slot of the worker that runs it"
                : "")
        << " (a dry run: nothing ran, nothing was written)\n";
    return 0;
}

}  // namespace mproc::runner
