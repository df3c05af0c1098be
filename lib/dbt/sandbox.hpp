#pragma once
// Where, as whom and with what dbt runs. A pull request's project is hostile: its Jinja, hooks, macros, symlinks
// and ece.yml's dbt executable run or are read by dbt. So dbt never runs in the checkout itself but in a copy of the
// project (without .git and .ece) inside a fresh private directory; a symlink leading outside the project is refused,
// in every mode; when ece runs as root, dbt runs as an unprivileged user of its own (dbt_user()) that owns nothing
// but that directory, so it cannot read ece's secrets (.ece/pg, .git, token files, /proc/<ece>/environ). Its HOME
// is the sandbox's, its environment exactly what the caller gives (dbt_environment() in build.hpp: an allow-list).
// docs/security.md "Processes and secrets".
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dbt/private_dir.hpp"
#include "process/process.hpp"

namespace ece::dbt {

// The account dbt runs as when ece runs as root; created (a system user without login or home) when missing.
inline constexpr const char* default_dbt_user = "ece-dbt";

// Who dbt runs as: nullopt when ece is not root (dbt runs as ece's own user: docs/security.md says how to separate
// them), else $ECE_DBT_USER or "ece-dbt", created when it is the default and missing. Never root: throws
// ece::Error(usage) for a user with uid 0 or an ECE_DBT_USER that does not exist. (Not from ece.yml: a pull request
// writes that file.)
std::optional<std::string> dbt_user();

// Whether the symbolic link `link` (somewhere below real_root, which is canonical) leads outside real_root: resolved
// physically, from the link's own text, so chains of links are judged by where they really end and a dangling link by
// where it points.
bool link_leads_outside(const std::filesystem::path& real_root, const std::filesystem::path& link);

class Sandbox {
public:
    // Copies the repository holding project_dir (the first folder upwards with a .git, else project_dir itself, so
    // that `local: ../` packages resolve) into a new private directory, leaving out .git, .ece and the project's
    // target/ and logs/; project() is project_dir's place in the copy.
    // Throws ece::Error(input), naming the link and where it leads, for a symbolic link that leads outside the
    // project (or into its .git or .ece), and for anything but files, folders and links.
    explicit Sandbox(const std::filesystem::path& project_dir);
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;

    const std::optional<std::string>& user() const { return user_; }
    const std::filesystem::path& home() const { return home_; }        // dbt's HOME and --profiles-dir
    const std::filesystem::path& project() const { return project_; }  // the copy: --project-dir and cwd
    const std::filesystem::path& target() const { return target_; }    // dbt's --target-path
    // ece's own part of the private directory, which dbt's user cannot enter (e.g. a fetched production manifest).
    const std::filesystem::path& scratch() const { return scratch_; }

    // Writes home/name (0600), readable by dbt's user only. Returns its path.
    std::filesystem::path write_file(const std::string& name, std::string_view text) const;
    // Copies a file ece may read (a production manifest, a CA certificate) to home/name for dbt. Returns its path.
    std::filesystem::path import_file(const std::filesystem::path& file, const std::string& name) const;

    // Runs dbt: as dbt's user, in the copy, with exactly env; each output line (unmasked) to on_line. What it leaves
    // running in its process group is killed when it exits. Everything ece hands dbt is written before the first run.
    process::Result run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                        std::chrono::milliseconds timeout,
                        const std::function<void(std::string_view line)>& on_line = {}) const;

    // Copies what dbt wrote to target() into dest (created when missing): regular files only, never through a
    // link dbt made, so a link to a secret cannot be copied out.
    void copy_target_to(const std::filesystem::path& dest) const;

    // Copies the file or folder `inside` (a path in the sandbox, e.g. below project()) to `to`, never through a link
    // dbt's user made or swapped in while it runs: every folder and file is opened relative to its parent without
    // following links, from ece's own private directory down. Regular files and folders are copied; links are
    // recreated as links (never followed) when keep_links, else left out, as is anything else.
    void copy_out(const std::filesystem::path& inside, const std::filesystem::path& to, bool keep_links) const;

private:
    void hand_over(const std::filesystem::path& path) const;

    PrivateDir dir_;
    std::optional<std::string> user_;
    uid_t uid_ = 0;
    gid_t gid_ = 0;
    std::filesystem::path home_, project_, target_, scratch_;
};

}  // namespace ece::dbt
