#include "dbt/executable.hpp"
#include "dbt/sandbox.hpp"

#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <sstream>

#include "core/error.hpp"
#include "core/secrets.hpp"
#include "process/process.hpp"

namespace fs = std::filesystem;

namespace ece::dbt {
namespace {

bool is_executable_file(const fs::path& path) {
    std::error_code ec;
    return ::access(path.c_str(), X_OK) == 0 && !fs::is_directory(path, ec);
}

std::optional<fs::path> on_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        if (!dir.empty() && is_executable_file(fs::path(dir) / name)) return fs::path(dir) / name;
    }
    return std::nullopt;
}

constexpr const char* how_to_install =
    "install dbt: run scripts/install-deps.sh (a pinned dbt-postgres in a virtual environment beside ece), or "
    "`python3 -m venv V && V/bin/pip install -r dbt-stack/1.9.txt` and set dbt.executable in ece.yml to V/bin/dbt, "
    "or put dbt on PATH";

}  // namespace

std::vector<fs::path> install_venv_candidates() {
    std::error_code ec;
    const auto exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return {};
    return {exe.parent_path().parent_path().parent_path().parent_path() / ".dbt-venv",
            exe.parent_path().parent_path() / "share" / "ece" / ".dbt-venv"};
}

Executable find_executable(const std::vector<Choice>& choices, const fs::path& base_dir,
                           const std::vector<fs::path>& venvs) {
    for (const auto& choice : choices) {
        if (choice.value.empty()) continue;
        if (choice.value.find('/') == std::string::npos) {
            if (auto found = on_path(choice.value)) return {*found, choice.by + " (" + choice.value + " on PATH)"};
            throw Error(ErrorKind::usage, choice.by + " names " + choice.value + ", which is not on PATH; " +
                                              how_to_install);
        }
        const fs::path path = fs::path(choice.value).is_absolute() ? fs::path(choice.value) : base_dir / choice.value;
        if (!is_executable_file(path))
            throw Error(ErrorKind::usage, choice.by + " names " + path.string() + ", which is not an executable file; " +
                                              how_to_install);
        return {path, choice.by};
    }
    for (const auto& venv : venvs) {
        if (is_executable_file(venv / "bin" / "dbt"))
            return {venv / "bin" / "dbt", "the virtual environment scripts/install-deps.sh made (" + venv.string() + ")"};
    }
    if (auto found = on_path("dbt")) return {*found, "PATH"};
    std::string tried;
    for (const auto& venv : venvs) tried += (tried.empty() ? "" : ", ") + (venv / "bin" / "dbt").string();
    throw Error(ErrorKind::usage, "no dbt found (not in ece.yml's dbt.executable, not at " +
                                      (tried.empty() ? std::string("ece's virtual environment") : tried) +
                                      ", not on PATH); " + how_to_install);
}

std::string version_summary(const std::string& version_text) {
    // dbt 1.5+: "Core:\n  - installed: 1.9.1 ..." then "Plugins:\n  - postgres: 1.9.0 - ..."; older: "installed version: x"
    static const std::regex core(R"((?:installed|installed version):\s*([0-9][0-9A-Za-z.+-]*))");
    static const std::regex plugin(R"(-\s*([a-z_]+):\s*([0-9][0-9A-Za-z.+-]*))");
    std::smatch m;
    if (!std::regex_search(version_text, m, core)) return {};
    std::string summary = "dbt-core " + m[1].str();
    const auto plugins_at = version_text.find("Plugins:");
    if (plugins_at == std::string::npos) return summary;
    const auto plugins = version_text.substr(plugins_at);
    for (auto it = std::sregex_iterator(plugins.begin(), plugins.end(), plugin); it != std::sregex_iterator(); ++it)
        summary += ", " + (*it)[1].str() + " " + (*it)[2].str();
    return summary;
}

Version version_of(const fs::path& dbt, std::chrono::seconds timeout) {
    process::Command command;
    command.argv = {dbt.string(), "--version"};
    // Scrubbed like every dbt ece runs (PATH only, plus these): `--version` needs nothing else.
    command.env = {{"DBT_SEND_ANONYMOUS_USAGE_STATS", "false"}, {"DBT_VERSION_CHECK", "false"}, {"LANG", "C.UTF-8"}};
    // ece.yml (a pull request's) may name the program: it runs as any dbt does, as dbt's user (sandbox.hpp).
    command.cwd = "/";
    command.run_as_user = dbt_user();
    command.end_leftovers = true;
    command.timeout = timeout;
    const auto result = process::run(command);
    Version version;
    version.text = mask_secrets(result.out + result.err);
    version.summary = version_summary(version.text);
    if (result.exit_code != 0 || version.summary.empty()) {
        std::string tail = version.text.size() > 2000 ? "..." + version.text.substr(version.text.size() - 2000) : version.text;
        throw Error(ErrorKind::external, dbt.string() + " --version exited with " + std::to_string(result.exit_code) +
                                             (version.summary.empty() ? " and named no dbt-core version" : "") + ": " +
                                             tail);
    }
    return version;
}

}  // namespace ece::dbt
