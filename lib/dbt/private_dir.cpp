#include "dbt/private_dir.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "core/error.hpp"

namespace ece::dbt {
namespace {

constexpr std::string_view prefix = "ece-dbt-";

// Directories "ece-dbt-<pid>-XXXXXX" of ours whose process is gone: what a killed ece (SIGKILL runs no destructor)
// left behind. Best effort: anything unclear is left alone.
void remove_abandoned(const std::filesystem::path& temp) {
    std::error_code error;
    for (std::filesystem::directory_iterator it(temp, error), end; !error && it != end; it.increment(error)) {
        const std::string name = it->path().filename().string();
        if (name.rfind(prefix, 0) != 0) continue;
        const auto dash = name.find('-', prefix.size());
        if (dash == std::string::npos) continue;
        char* parsed_end = nullptr;
        const long pid = std::strtol(name.c_str() + prefix.size(), &parsed_end, 10);
        if (pid <= 0 || parsed_end != name.c_str() + dash || pid == ::getpid()) continue;
        struct stat info {};
        if (::lstat(it->path().c_str(), &info) != 0 || !S_ISDIR(info.st_mode) || info.st_uid != ::geteuid()) continue;
        if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
        std::error_code ignored;
        std::filesystem::remove_all(it->path(), ignored);
    }
}

}  // namespace

PrivateDir::PrivateDir() {
    const auto temp = std::filesystem::temp_directory_path();
    remove_abandoned(temp);
    std::string pattern = (temp / (std::string(prefix) + std::to_string(::getpid()) + "-XXXXXX")).string();
    if (!::mkdtemp(pattern.data()))
        throw Error(ErrorKind::external, "cannot create a private temporary directory under " + temp.string());
    path_ = pattern;
}

PrivateDir::~PrivateDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

}  // namespace ece::dbt
