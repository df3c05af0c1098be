#include "core/ece_dir.hpp"

#include <cstdlib>
#include <fstream>
#include <string_view>

namespace fs = std::filesystem;

namespace ece {

fs::path ece_dir() {
    const char* actions = std::getenv("GITHUB_ACTIONS");
    const char* runner_temp = std::getenv("RUNNER_TEMP");
    if (actions && std::string_view(actions) == "true" && runner_temp && *runner_temp) return fs::path(runner_temp) / "ece";
    return fs::current_path() / ".ece";
}

const fs::path& make_ece_dir(const fs::path& dir) {
    fs::create_directories(dir);
    for (fs::path folder = fs::absolute(dir); folder.has_relative_path(); folder = folder.parent_path()) {
        if (folder.filename() != ".ece") continue;
        const auto ignore = folder / ".gitignore";
        if (!fs::exists(ignore)) std::ofstream(ignore) << "# ece's working files (created by ece)\n*\n";
        break;
    }
    return dir;
}

}  // namespace ece
