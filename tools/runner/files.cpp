#include "files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace mproc::runner {

std::string reason() {
    return std::strerror(errno);
}

void io_failed(const std::string& what, const std::string& path) {
    throw IoError("cannot " + what + " " + path + ": " + reason());
}

std::FILE* open_file(const std::string& path, const char* mode) {
    std::FILE* f = std::fopen(path.c_str(), mode);
    if (f == nullptr) io_failed(mode[0] == 'r' ? "read" : "write", path);
    return f;
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

void append_file(std::FILE* out, const std::string& path, const std::string& from,
                 bool skip_first_line) {
    std::FILE* in = open_file(from, "rb");
    char buf[1 << 16];
    bool at_start = skip_first_line;
    for (;;) {
        std::size_t n = std::fread(buf, 1, sizeof buf, in);
        if (n == 0) break;
        std::size_t at = 0;
        if (at_start) {
            const void* nl = std::memchr(buf, '\n', n);
            if (nl == nullptr) continue;  // still in the first line
            at = static_cast<std::size_t>(static_cast<const char*>(nl) - buf) + 1;
            at_start = false;
        }
        if (std::fwrite(buf + at, 1, n - at, out) != n - at) {
            std::fclose(in);
            io_failed("write", path);
        }
    }
    const bool failed = std::ferror(in) != 0;
    std::fclose(in);
    if (failed) io_failed("read", from);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) io_failed("read", path);
    std::ostringstream s;
    s << in.rdbuf();
    if (in.bad()) io_failed("read", path);
    return s.str();
}

std::string read_file_if_any(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::uint64_t file_size(const std::string& path) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(path, ec);
    return ec ? 0 : n;
}

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
    rename_file(tmp, path);
}

void rename_file(const std::string& from, const std::string& to) {
    if (std::rename(from.c_str(), to.c_str()) != 0) io_failed("rename " + from + " to", to);
}

TempFile::TempFile(const char* what) {
    const char* dir = std::getenv("TMPDIR");
    std::string pattern = std::string(dir && *dir ? dir : "/tmp") + "/mproc-" + what + "-XXXXXX";
    const int fd = mkstemp(pattern.data());
    if (fd < 0) io_failed("make the temporary file", pattern);
    close(fd);
    path_ = pattern;
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
    const std::string who = "host " + host_name() + ", pid " + std::to_string(getpid()) + "\n";
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

const std::string& host_name() {
    static const std::string name = [] {
        char buf[256] = {};
        gethostname(buf, sizeof buf - 1);
        return std::string(buf);
    }();
    return name;
}

}  // namespace mproc::runner
