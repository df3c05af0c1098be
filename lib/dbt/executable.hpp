#pragma once
// Which dbt ece runs, and its version. Order: the one chosen explicitly (a --dbt flag, else ece.yml's
// dbt.executable), else the virtual environment scripts/install-deps.sh made beside ece (<ece's tree>/.dbt-venv),
// else `dbt` on PATH.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ece::dbt {

struct Executable {
    std::filesystem::path path;
    std::string chosen_by;  // "ece.yml dbt.executable", "the virtual environment /x/.dbt-venv", "PATH", ...
};

struct Choice {
    std::string value;  // a path (relative to base_dir) or a name on PATH; empty: not chosen
    std::string by;     // who chose it, for messages: "--dbt", "ece.yml dbt.executable"
};

// The folder install-deps.sh puts its virtual environment in, beside this ece: the source tree the binary was built
// in (build/cmd/<name>/<name> -> three levels up), or <prefix>/share/ece for an installed binary. Never the current
// directory: that is the pull request's checkout.
std::vector<std::filesystem::path> install_venv_candidates();

// The first choice given (in order), else the first candidate venv holding bin/dbt, else dbt on PATH. Throws
// ece::Error(usage) naming what was tried and how to install dbt.
Executable find_executable(const std::vector<Choice>& choices, const std::filesystem::path& base_dir,
                           const std::vector<std::filesystem::path>& venvs = install_venv_candidates());

struct Version {
    std::string text;      // `dbt --version`'s output
    std::string summary;   // "dbt-core 1.9.1, postgres 1.9.0"
};

// Runs `dbt --version` (with the version check against PyPI off where dbt allows it). Throws ece::Error(external)
// when dbt does not start or fails: a broken dbt is reported before any step uses it.
Version version_of(const std::filesystem::path& dbt, std::chrono::seconds timeout = std::chrono::minutes(5));

// "dbt-core 1.9.1, postgres 1.9.0" from `dbt --version`'s output; empty when it holds no version.
std::string version_summary(const std::string& version_text);

}  // namespace ece::dbt
