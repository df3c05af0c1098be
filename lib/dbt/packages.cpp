#include "dbt/packages.hpp"
#include "dbt/sandbox.hpp"

#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "core/error.hpp"
#include "core/secrets.hpp"
#include "pg/ident.hpp"
#include "process/process.hpp"

namespace fs = std::filesystem;

namespace ece::dbt {
namespace {

constexpr const char* stamp_name = ".ece-deps-stamp";
const char* const declaration_files[] = {"packages.yml", "dependencies.yml"};

std::string read_text(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string scalar_or_empty(const YAML::Node& node, const char* key) {
    const auto value = node[key];
    return value && value.IsScalar() ? value.Scalar() : std::string();
}

DeclaredPackage declared(const YAML::Node& entry, const fs::path& file) {
    DeclaredPackage package;
    package.file = file;
    package.line = entry.Mark().line + 1;
    if (!entry.IsMap()) {
        throw Error(ErrorKind::input, "a package is not a mapping (local:, package:, git: ...)",
                    {file.string(), package.line, {}, {}, {}});
    }
    for (const char* kind : {"local", "package", "git", "tarball", "private"}) {
        const auto value = scalar_or_empty(entry, kind);
        if (value.empty()) continue;
        package.name = value;
        package.spec = std::string(kind) + ": " + value;
        if (const auto version = entry["version"]; version && version.IsScalar()) package.spec += " " + version.Scalar();
        if (const auto revision = scalar_or_empty(entry, "revision"); !revision.empty()) package.spec += "@" + revision;
        return package;
    }
    throw Error(ErrorKind::input, "a package names none of local:, package:, git:, tarball:, private:",
                {file.string(), package.line, {}, {}, {}});
}

// What the stamp records: the declaration files and the lock file, byte for byte.
std::string declaration_digest(const fs::path& project_dir) {
    std::string all;
    for (const char* name : {"packages.yml", "dependencies.yml", "package-lock.yml"}) {
        const fs::path file = project_dir / name;
        all += std::string(name) + "\n" + (fs::exists(file) ? read_text(file) : std::string("(none)")) + "\n";
    }
    return pg::sha256_hex(all);
}

std::string tail_of(const std::string& text) {
    return text.size() > 2000 ? "..." + text.substr(text.size() - 2000) : text;
}

}  // namespace

std::vector<DeclaredPackage> declared_packages(const fs::path& project_dir) {
    std::vector<DeclaredPackage> packages;
    for (const char* name : declaration_files) {
        const fs::path file = project_dir / name;
        if (!fs::exists(file)) continue;
        YAML::Node root;
        try {
            root = YAML::LoadFile(file.string());
        } catch (const YAML::Exception& e) {
            throw Error(ErrorKind::input, "not valid YAML: " + e.msg, {file.string(), e.mark.line + 1, {}, {}, {}});
        }
        const auto list = root && root.IsMap() ? root["packages"] : YAML::Node();
        if (!list) continue;  // dependencies.yml may declare only projects: (dbt Mesh), which deps does not install
        if (!list.IsSequence())
            throw Error(ErrorKind::input, "packages: is not a list", {file.string(), list.Mark().line + 1, {}, {}, {}});
        for (const auto& entry : list) packages.push_back(declared(entry, file));
    }
    return packages;
}

bool packages_up_to_date(const fs::path& project_dir) {
    const fs::path installed = project_dir / "dbt_packages";
    std::error_code ec;
    if (!fs::exists(installed / stamp_name, ec)) return false;
    if (read_text(installed / stamp_name) != declaration_digest(project_dir) + "\n") return false;
    for (const auto& entry : fs::directory_iterator(installed, ec)) {
        if (entry.path().filename() == stamp_name) continue;
        // exists() follows a local package's symlink: a copied project's links may point at nothing.
        if (!fs::exists(entry.path() / "dbt_project.yml", ec)) return false;
    }
    return !ec;
}

void keep_installed_packages(const Sandbox* sandbox, const fs::path& copy_project, const fs::path& checkout_project) {
    const fs::path kept = checkout_project / "dbt_packages";
    const fs::path fresh = checkout_project / "dbt_packages.ece-new";
    fs::remove_all(fresh);
    // dbt's user owns the copy and may still be changing it: never follow a link it made (sandbox.hpp).
    const auto copy_out = [&](const fs::path& from, const fs::path& to) {
        if (sandbox) return sandbox->copy_out(from, to, true);
        if (fs::exists(fs::symlink_status(from)))
            fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    };
    copy_out(copy_project / "dbt_packages", fresh);
    // A local package is a link dbt made to a folder of the copy: the same folder of the checkout, by a relative link.
    for (const auto& entry : fs::directory_iterator(fresh)) {
        if (!entry.is_symlink()) continue;
        const fs::path target = fs::read_symlink(entry.path());
        const fs::path in_copy = (target.is_absolute() ? target : copy_project / "dbt_packages" / target).lexically_normal();
        const fs::path from_project = in_copy.lexically_relative(copy_project);  // e.g. ../vendor/dbt_utils
        fs::remove(entry.path());
        if (from_project.empty()) continue;  // not a folder of the copy: deps installs it next time
        fs::create_directory_symlink((checkout_project / from_project).lexically_normal().lexically_relative(kept),
                                     entry.path());
    }
    const fs::path lock = checkout_project / "package-lock.yml";
    const fs::path fresh_lock = checkout_project / "package-lock.yml.ece-new";
    copy_out(copy_project / "package-lock.yml", fresh_lock);
    if (fs::exists(fresh_lock) && read_text(fresh_lock) != read_text(lock)) {
        fs::rename(fresh_lock, lock);
    } else {
        fs::remove(fresh_lock);
    }
    fs::remove_all(kept);
    fs::rename(fresh, kept);
}

Deps ensure_packages(const fs::path& project_dir, const DepsRun& run) {
    const auto packages = declared_packages(project_dir);
    if (packages.empty()) return Deps::none_declared;
    if (packages_up_to_date(project_dir)) return Deps::up_to_date;

    process::Command command;
    command.argv = {run.dbt.string(), "deps"};
    command.argv.insert(command.argv.end(), run.arguments.begin(), run.arguments.end());
    command.cwd = project_dir;
    command.env = run.env;
    command.timeout = run.timeout;
    if (run.on_log_line) command.on_output_line = [&](std::string_view line) { run.on_log_line(mask_secrets(line)); };
    const auto result = run.sandbox ? run.sandbox->run(command.argv, command.env, command.timeout, command.on_output_line)
                                    : process::run(command);
    if (result.exit_code != 0) {
        const std::string output = mask_secrets(result.out + result.err);
        std::vector<const DeclaredPackage*> named;
        for (const auto& package : packages)
            if (output.find(fs::path(package.name).lexically_normal().filename().string()) != std::string::npos ||
                output.find(package.name) != std::string::npos)
                named.push_back(&package);
        if (named.empty())
            for (const auto& package : packages) named.push_back(&package);
        std::string which;
        for (const auto* package : named)
            which += (which.empty() ? "" : "; ") + package->spec + " (" + package->file.filename().string() + " line " +
                     std::to_string(package->line) + ")";
        throw Error(ErrorKind::external, "dbt deps failed with exit code " + std::to_string(result.exit_code) +
                                             " installing the packages of " + project_dir.string() + ": " + which +
                                             ": " + tail_of(output));
    }
    // Stamped after deps, which may have written package-lock.yml.
    std::ofstream(project_dir / "dbt_packages" / stamp_name, std::ios::binary | std::ios::trunc)
        << declaration_digest(project_dir) << "\n";
    if (!run.keep_in.empty()) {
        try {
            keep_installed_packages(run.sandbox, project_dir, run.keep_in);
        } catch (const std::exception& e) {
            if (run.on_log_line) run.on_log_line("dbt_packages/ not kept in " + run.keep_in.string() + ": " + e.what());
        }
    }
    return Deps::installed;
}

}  // namespace ece::dbt
