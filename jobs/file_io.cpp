// file_io: the seeds' parallel IO experiment. Each input is a file path; a task reads the file
// (and, with out_dir set, writes a copy there), reporting bytes, lines and seconds. The
// reduction totals them.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "job.hpp"

using namespace mproc::runner;

MPROC_JOB({
    .name = "file_io",
    .description =
        "reads each file (input: paths), optionally writes a copy; reports bytes, lines, seconds",
    .params = {{"out_dir", ParamType::string, Value(""),
                "where to write copies (empty: read only)"},
               {"block_size", ParamType::integer, Value(1 << 20), "bytes per read"}},
    .run = [](const Value& input, const Value& params, const TaskContext& ctx) -> Value {
        if (!input.is_string())
            throw std::invalid_argument("file_io needs file paths, got " + input.json());
        const auto start = std::chrono::steady_clock::now();
        const std::string& path = input.as_string();
        std::ifstream in(path, std::ios::binary);
        if (!in) throw std::runtime_error("cannot read " + path);
        std::ofstream copy;
        const std::string out_dir = params["out_dir"].as_string();
        if (!out_dir.empty()) {
            std::filesystem::create_directories(out_dir);
            const auto target =
                std::filesystem::path(out_dir) / std::filesystem::path(path).filename();
            copy.open(target, std::ios::binary);
            if (!copy) throw std::runtime_error("cannot write " + target.string());
        }
        std::vector<char> buf(static_cast<std::size_t>(params["block_size"].as_int()));
        std::int64_t bytes = 0, lines = 0;
        while (in) {
            in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
            const auto got = in.gcount();
            bytes += got;
            for (std::streamsize i = 0; i < got; ++i)
                lines += buf[static_cast<std::size_t>(i)] == '\n';
            if (copy.is_open()) copy.write(buf.data(), got);
            ctx.check();
        }
        if (copy.is_open() && !copy.flush())
            throw std::runtime_error("writing the copy of " + path + " failed");
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return Value(Value::Map{{"bytes", Value(static_cast<long long>(bytes))},
                                {"lines", Value(static_cast<long long>(lines))},
                                {"seconds", Value(secs)}});
    },
    .reduce = [](Value acc, const Value& r) -> Value {
        auto& m = acc.as_map();
        m["files"] = Value(static_cast<long long>(m["files"].as_int() + 1));
        m["bytes"] = Value(static_cast<long long>(m["bytes"].as_int() + r["bytes"].as_int()));
        m["lines"] = Value(static_cast<long long>(m["lines"].as_int() + r["lines"].as_int()));
        return acc;
    },
    .reduce_init = Value(Value::Map{{"files", Value(0)}, {"bytes", Value(0)}, {"lines", Value(0)}}),
    .combine = [](Value acc, const Value& other) -> Value {
        auto& m = acc.as_map();
        for (const char* key : {"files", "bytes", "lines"})
            m[key] = Value(static_cast<long long>(m[key].as_int() + other[key].as_int()));
        return acc;
    },
    .describe =
        [](const Value& r, const Value&) {
            return "file_io: " + std::to_string(r["files"].as_int()) + " files, " +
                   std::to_string(r["bytes"].as_int()) + " bytes, " +
                   std::to_string(r["lines"].as_int()) + " lines";
        },
    .check = [](const Value& params) -> std::string {
        return params["block_size"].as_int() < 1 ? "block_size must be at least 1" : "";
    },
});
