#include "inputs.hpp"

#include <cstring>
#include <stdexcept>

namespace mproc::runner {
namespace {

std::uint64_t count_lines(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> buf(1 << 20);
    std::uint64_t n = 0;
    char last = '\n';
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        const auto got = static_cast<std::size_t>(in.gcount());
        for (const char* p = buf.data();
             (p = static_cast<const char*>(std::memchr(p, '\n', buf.data() + got - p))); ++p)
            ++n;
        if (got > 0) last = buf[got - 1];
    }
    return n + (last != '\n' ? 1 : 0);  // a last line without a newline still counts
}

}  // namespace

std::optional<std::vector<std::string>> csv_fields(const std::string& line, std::string& why) {
    std::vector<std::string> fields(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c != '"') {
                fields.back() += c;
            } else if (i + 1 < line.size() && line[i + 1] == '"') {
                fields.back() += '"';
                ++i;
            } else {
                quoted = false;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            fields.emplace_back();
        } else {
            fields.back() += c;
        }
    }
    if (quoted) {
        why = "a quoted field is not closed on its line (a record may not span lines)";
        return std::nullopt;
    }
    return fields;
}

InputStream::InputStream(const InputSpec& spec) : spec_(spec) {
    switch (spec.kind) {
        case InputSpec::Kind::range: {
            const auto span = spec.step > 0 ? spec.stop - spec.start : spec.start - spec.stop;
            const auto step = spec.step > 0 ? spec.step : -spec.step;
            size_ = span <= 0 ? 0 : static_cast<std::uint64_t>((span + step - 1) / step);
            break;
        }
        case InputSpec::Kind::values:
            size_ = spec.values.size();
            break;
        case InputSpec::Kind::files:
            size_ = spec.files.size();
            break;
        case InputSpec::Kind::lines:
        case InputSpec::Kind::csv: {
            const bool csv = spec.kind == InputSpec::Kind::csv;
            size_ = count_lines(spec.path) - (csv ? 1 : 0);  // the header is no input
            lines_.open(spec.path);
            if (!lines_) throw std::runtime_error("cannot read " + spec.path);
            std::string header;
            if (csv) std::getline(lines_, header);
            break;
        }
        case InputSpec::Kind::grid:
            size_ = 1;
            for (const auto& [name, values] : spec.grid) size_ *= values.size();
            break;
    }
}

// Point i of the grid: mixed radix over the axes, the last one fastest (as nested loops go).
Value InputStream::grid_point(std::uint64_t i) const {
    Value::Map point;
    for (auto it = spec_.grid.rbegin(); it != spec_.grid.rend(); ++it) {
        point[it->first] = it->second[i % it->second.size()];
        i /= it->second.size();
    }
    return Value(std::move(point));
}

void InputStream::limit(std::uint64_t first, std::uint64_t end) {
    end = std::min(end, size_);
    first = std::min(first, end);
    if (spec_.kind == InputSpec::Kind::lines || spec_.kind == InputSpec::Kind::csv) {
        std::string skipped;
        for (; at_ < first && std::getline(lines_, skipped); ++at_) {
        }
    }
    at_ = first;
    size_ = end;
}

std::optional<Value> InputStream::at(std::uint64_t i) {
    if (spec_.kind == InputSpec::Kind::lines || spec_.kind == InputSpec::Kind::csv) {
        if (line_starts_.empty()) {
            std::ifstream in(spec_.path, std::ios::binary);
            std::string line;
            if (spec_.kind == InputSpec::Kind::csv) std::getline(in, line);  // the header
            for (auto start = static_cast<std::uint64_t>(in.tellg()); std::getline(in, line);
                 start += line.size() + 1)
                line_starts_.push_back(start);
        }
        if (i >= line_starts_.size()) return std::nullopt;
        lines_.clear();
        lines_.seekg(static_cast<std::streamoff>(line_starts_[i]));
    }
    at_ = i;
    return next();
}

std::optional<Value> InputStream::next() {
    if (at_ >= size_) return std::nullopt;
    const std::uint64_t i = at_++;
    switch (spec_.kind) {
        case InputSpec::Kind::range:
            return Value(
                static_cast<long long>(spec_.start + static_cast<std::int64_t>(i) * spec_.step));
        case InputSpec::Kind::values:
            return spec_.values[i];
        case InputSpec::Kind::files:
            return Value(spec_.files[i]);
        case InputSpec::Kind::lines: {
            std::string line;
            if (!std::getline(lines_, line)) return std::nullopt;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            return Value(std::move(line));
        }
        case InputSpec::Kind::csv: {
            std::string line, why;
            if (!std::getline(lines_, line)) return std::nullopt;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            // Checked whole before the run; a file changed since gives what it can.
            const auto fields = csv_fields(line, why).value_or(std::vector<std::string>{line});
            Value::Map row;
            for (std::size_t c = 0; c < spec_.columns.size(); ++c)
                row[spec_.columns[c]] = Value(c < fields.size() ? fields[c] : std::string());
            return Value(std::move(row));
        }
        case InputSpec::Kind::grid:
            return grid_point(i);
    }
    return std::nullopt;
}

ItemRange::ItemRange(const InputSpec& spec, std::function<bool(std::uint64_t)> done, Shard shard)
    : stream_(spec), done_(std::move(done)) {
    const std::uint64_t n = stream_.size();
    first_ = shard.first(n);
    end_ = shard.end(n);
    stream_.limit(first_, end_);
    index_ = first_;
}

void ItemRange::advance() {
    for (;;) {
        if (stopped_.load() || (order_ && ordered_ == order_->size())) {
            ended_ = true;
            return;
        }
        const std::uint64_t i = order_ ? (*order_)[ordered_++] : index_++;
        auto v = order_ ? stream_.at(i) : stream_.next();
        if (!v) {
            ended_ = true;
            return;
        }
        if (done_ && done_(i)) continue;
        current_ = Item{i, std::move(*v)};
        if (on_read_) on_read_(current_);
        return;
    }
}

}  // namespace mproc::runner
