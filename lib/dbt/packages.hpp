#pragma once
// dbt packages: a project that declares packages (packages.yml or dependencies.yml) needs `dbt deps` before any
// other dbt command. ensure_packages runs it, unless dbt_packages/ already holds what the declaration and
// package-lock.yml say (the stamp ece writes after a successful deps, every installed package present).
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ece::dbt {

class Sandbox;

struct DeclaredPackage {
    std::string spec;                // "local: ../vendor/dbt_utils", "package: dbt-labs/dbt_utils 1.1.1", "git: URL"
    std::string name;                // what dbt's messages call it: the local path, hub name or git URL
    std::filesystem::path file;      // packages.yml or dependencies.yml
    int line = 0;                    // 1-based
};

// The packages the project declares, in order; empty when it declares none. Throws ece::Error(input) naming the file
// and line for a declaration dbt could not read either.
std::vector<DeclaredPackage> declared_packages(const std::filesystem::path& project_dir);

// True when dbt_packages/ holds what the declaration and package-lock.yml say: ece's stamp of both matches and every
// installed package (symlinks of local packages included) is there.
bool packages_up_to_date(const std::filesystem::path& project_dir);

struct DepsRun {
    std::filesystem::path dbt;
    std::vector<std::string> arguments;            // after `deps`: --project-dir, --profiles-dir, ...
    std::map<std::string, std::string> env;        // dbt's scrubbed environment
    std::chrono::seconds timeout{std::chrono::minutes(10)};
    std::function<void(std::string_view line)> on_log_line;  // masked
    const Sandbox* sandbox = nullptr;  // runs deps there, as dbt's user (sandbox.hpp); null: in project_dir, as ece
    // The checkout's project folder that project_dir (a sandbox's copy) was copied from: what deps installed is kept
    // there too (keep_installed_packages), so the workflows' cache of dbt_packages/ holds it and the next run's copy
    // skips deps. Empty: nothing is kept.
    std::filesystem::path keep_in{};
};

enum class Deps { none_declared, up_to_date, installed };

// Replaces checkout_project's dbt_packages/ (and package-lock.yml, when deps wrote another) with what deps installed
// in copy_project: a local package (a link dbt made to a folder of the copy) becomes a relative link to the same
// folder of the checkout; everything else is copied as it is, links never followed (through sandbox->copy_out when
// dbt ran in a sandbox: its user may still be changing the copy). Throws std::filesystem errors or ece::Error.
void keep_installed_packages(const Sandbox* sandbox, const std::filesystem::path& copy_project,
                             const std::filesystem::path& checkout_project);

// `dbt deps` when needed (see above), then the stamp, then keep_installed_packages when run.keep_in says where (a
// failure there is only logged: the next run installs again). A failing deps is ece::Error(external) naming the package(s)
// dbt's output mentions (all declared ones when it mentions none), where each is declared, and dbt's error.
Deps ensure_packages(const std::filesystem::path& project_dir, const DepsRun& run);

}  // namespace ece::dbt
