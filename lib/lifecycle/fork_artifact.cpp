#include "lifecycle/fork_artifact.hpp"

#include "core/error.hpp"
#include "dbt/manifest.hpp"
#include "dbt/sandbox.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <boost/json.hpp>

#include <algorithm>
#include <climits>
#include <map>
#include <fstream>
#include <memory>
#include <sstream>

namespace fs = std::filesystem;
namespace json = boost::json;

namespace ece::lifecycle {

namespace {

constexpr std::uintmax_t max_pull_request_json_bytes = 64 * 1024;
constexpr std::uintmax_t max_project_bytes = 1024ull * 1024 * 1024;  // a dbt project is source text
constexpr std::size_t max_project_entries = 100000;

// The message names the member or JSON path itself; the location is the file.
Error refused(const std::string& why, const fs::path& file) {
    return Error(ErrorKind::input, "fork artifact refused: " + why, ErrorLocation{.file = file.string()});
}

// p lies at or below root (both absolute and normal).
bool within(const fs::path& root, const fs::path& p) {
    const auto relative = p.lexically_relative(root);
    return !relative.empty() && *relative.begin() != "..";
}

// Every link below root must lead to something below root (dbt::link_leads_outside, as every dbt run checks its
// project); anything but files, folders and such links is refused.
void check_tree(const fs::path& root, const std::string& what) {
    const auto real_root = fs::canonical(root);
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
        const auto status = it->symlink_status();
        const auto shown = it->path().lexically_relative(root).string();
        if (fs::is_symlink(status)) {
            std::error_code ec;
            if (dbt::link_leads_outside(real_root, it->path()))
                throw refused("the link " + shown + " in " + what + " leads outside it (" +
                                  fs::read_symlink(it->path(), ec).string() + ")",
                              it->path());
        } else if (!fs::is_regular_file(status) && !fs::is_directory(status)) {
            throw refused(shown + " in " + what + " is neither a file nor a folder", it->path());
        }
    }
}

std::string read_small_file(const fs::path& file, std::uintmax_t limit) {
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) throw refused("the file is missing", file);
    if (fs::file_size(file, ec) > limit)
        throw refused("the file is larger than " + std::to_string(limit) + " bytes", file);
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in && !in.eof()) throw refused("the file cannot be read", file);
    return text.str();
}

// An archive member's path: relative, no "..", no empty name.
void check_member_path(const std::string& name, const fs::path& archive_file, const std::string& what) {
    const fs::path p(name);
    if (name.empty() || p.is_absolute() || p.has_root_name() || p.has_root_directory())
        throw refused(what + " '" + name + "' is an absolute path", archive_file);
    for (const auto& part : p)
        if (part == "..") throw refused(what + " '" + name + "' climbs out of the project (..)", archive_file);
}

using ReadArchive = std::unique_ptr<archive, decltype(&archive_read_free)>;
using WriteArchive = std::unique_ptr<archive, decltype(&archive_write_free)>;

// Extracts a gzip'd tar into root, judging every member before it is written.
void extract_project(const fs::path& archive_file, const fs::path& root) {
    ReadArchive in(archive_read_new(), archive_read_free);
    archive_read_support_filter_gzip(in.get());
    archive_read_support_format_tar(in.get());
    WriteArchive out(archive_write_disk_new(), archive_write_free);
    // libarchive's own guards as well: never through a link, never "..". (Members are written at root/<name>, an
    // absolute path, after check_member_path refused absolute names.)
    archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                  ARCHIVE_EXTRACT_NO_OVERWRITE);
    if (archive_read_open_filename(in.get(), archive_file.c_str(), 64 * 1024) != ARCHIVE_OK)
        throw refused(std::string("cannot open the project archive: ") + archive_error_string(in.get()), archive_file);

    std::uintmax_t bytes = 0;
    std::size_t entries = 0;
    archive_entry* entry = nullptr;
    for (;;) {
        const int rc = archive_read_next_header(in.get(), &entry);
        if (rc == ARCHIVE_EOF) break;
        if (rc < ARCHIVE_WARN) throw refused(std::string("damaged project archive: ") + archive_error_string(in.get()), archive_file);
        const char* raw_name = archive_entry_pathname(entry);
        std::string name = raw_name ? raw_name : "";
        while (name.starts_with("./")) name.erase(0, 2);
        if (name.empty() || name == ".") continue;  // the archive's own top folder
        check_member_path(name, archive_file, "member");
        if (++entries > max_project_entries)
            throw refused("the project archive has more than " + std::to_string(max_project_entries) + " members", archive_file);
        bytes += static_cast<std::uintmax_t>(std::max<la_int64_t>(0, archive_entry_size(entry)));
        if (bytes > max_project_bytes)
            throw refused("the project archive unpacks to more than " + std::to_string(max_project_bytes) + " bytes", archive_file);

        const auto type = archive_entry_filetype(entry);
        if (const char* hardlink = archive_entry_hardlink(entry)) {
            check_member_path(hardlink, archive_file, "hard link target of " + name + ":");
            archive_entry_set_hardlink(entry, (root / hardlink).c_str());
        } else if (type == AE_IFLNK) {
            const char* link = archive_entry_symlink(entry);
            const fs::path target = link ? link : "";
            const auto resolved = ((root / name).parent_path() / target).lexically_normal();
            if (target.empty() || target.is_absolute() || !within(root, resolved))
                throw refused("the link " + name + " leads outside the project (" + target.string() + ")", archive_file);
        } else if (type != AE_IFREG && type != AE_IFDIR) {
            throw refused(name + " is neither a file, a folder nor a link", archive_file);
        }
        archive_entry_set_pathname(entry, (root / name).c_str());
        if (archive_write_header(out.get(), entry) < ARCHIVE_WARN)
            throw refused("cannot unpack " + name + ": " + archive_error_string(out.get()), archive_file);
        const void* block = nullptr;
        size_t size = 0;
        la_int64_t offset = 0;
        for (;;) {
            const int data = archive_read_data_block(in.get(), &block, &size, &offset);
            if (data == ARCHIVE_EOF) break;
            if (data < ARCHIVE_WARN)
                throw refused(std::string("damaged project archive: ") + archive_error_string(in.get()), archive_file);
            if (archive_write_data_block(out.get(), block, size, offset) < ARCHIVE_WARN)
                throw refused("cannot unpack " + name + ": " + archive_error_string(out.get()), archive_file);
        }
        if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN)
            throw refused("cannot unpack " + name + ": " + archive_error_string(out.get()), archive_file);
    }
}

fs::path project_of(const fs::path& dir, const fs::path& into) {
    const auto archive_file = dir / "project.tar.gz";
    fs::path project;
    if (fs::is_regular_file(archive_file)) {
        project = into / "project";
        fs::create_directories(project);
        extract_project(archive_file, fs::canonical(project));  // no link on the way for SECURE_SYMLINKS
        check_tree(project, "the project archive");  // links judged again where they really lead
    } else if (fs::is_directory(dir / "project")) {
        project = dir / "project";
    } else {
        throw refused("it holds neither project.tar.gz nor a project/ folder", dir);
    }
    if (!fs::is_regular_file(project / "dbt_project.yml"))
        throw refused("the project has no dbt_project.yml at its top", project / "dbt_project.yml");
    return project;
}

}  // namespace

ForkArtifact parse_pull_request_json(std::string_view text, const std::string& file) {
    json::stream_parser parser;
    std::error_code ec;
    const auto used = parser.write(text.data(), text.size(), ec);
    if (!ec) parser.finish(ec);
    if (ec) {
        throw Error(ErrorKind::input, "fork artifact refused: pull-request.json is not valid JSON (" + ec.message() + ")",
                    ErrorLocation{.file = file, .byte_offset = used});
    }
    const json::value root = parser.release();
    auto fail = [&](const std::string& field, const std::string& why) {
        return Error(ErrorKind::input, "fork artifact refused: " + field + " " + why, ErrorLocation{.file = file});
    };
    if (!root.is_object()) throw fail("$", "must be an object");
    const auto& o = root.as_object();
    ForkArtifact artifact;
    const auto* number = o.if_contains("number");
    if (!number) throw fail("$.number", "is missing");
    if (number->is_int64() && number->as_int64() >= 1 && number->as_int64() <= INT_MAX) {
        artifact.number = static_cast<int>(number->as_int64());
    } else if (number->is_uint64() && number->as_uint64() >= 1 && number->as_uint64() <= INT_MAX) {
        artifact.number = static_cast<int>(number->as_uint64());
    } else {
        throw fail("$.number", "must be a pull request number (a whole number from 1), not " + json::serialize(*number));
    }
    const auto* sha = o.if_contains("head_sha");
    if (!sha) throw fail("$.head_sha", "is missing");
    const bool hex40 = sha->is_string() && sha->as_string().size() == 40 &&
                       sha->as_string().find_first_not_of("0123456789abcdef") == json::string::npos;
    if (!hex40) throw fail("$.head_sha", "must be a commit sha (40 lowercase hex digits)");
    artifact.head_sha = std::string(sha->as_string());
    return artifact;
}

ForkArtifact open_fork_artifact(const fs::path& dir, const fs::path& into) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw refused("the fork-artifact directory does not exist", dir);
    check_tree(dir, "the fork-artifact directory");
    const auto pull_request_file = dir / "pull-request.json";
    ForkArtifact artifact = parse_pull_request_json(read_small_file(pull_request_file, max_pull_request_json_bytes),
                                                    pull_request_file.string());
    artifact.manifest = fs::absolute(dir / "manifest.json");
    if (!fs::is_regular_file(artifact.manifest, ec)) throw refused("manifest.json is missing", artifact.manifest);
    dbt::load_manifest(artifact.manifest);  // malformed: refused now, before any environment exists

    fs::remove_all(into);
    fs::create_directories(into);
    try {
        artifact.project_dir = fs::absolute(project_of(dir, into));
    } catch (...) {
        fs::remove_all(into, ec);  // nothing of a refused archive stays behind
        throw;
    }
    return artifact;
}

fs::path retarget_manifest(const fs::path& manifest, const std::string& database, const fs::path& out) {
    std::error_code ec;
    auto document = json::parse(read_small_file(manifest, max_project_bytes), ec);
    if (ec || !document.is_object()) throw refused("manifest.json is not a JSON object", manifest);
    auto& root = document.as_object();
    auto* nodes = root.if_contains("nodes");
    auto* sources = root.if_contains("sources");
    std::map<std::string, std::size_t> model_databases;
    if (nodes && nodes->is_object()) {
        for (const auto& [id, node] : nodes->as_object()) {
            const auto* db = node.is_object() ? node.as_object().if_contains("database") : nullptr;
            if (id.starts_with("model.") && db && db->is_string()) ++model_databases[std::string(db->as_string())];
        }
    }
    if (!model_databases.empty() && !database.empty()) {
        const auto parse_database = std::max_element(model_databases.begin(), model_databases.end(), [](auto& a, auto& b) {
                                        return a.second < b.second;
                                    })->first;
        for (auto* group : {nodes, sources}) {
            if (!group || !group->is_object()) continue;
            for (auto& [id, node] : group->as_object()) {
                auto* db = node.is_object() ? node.as_object().if_contains("database") : nullptr;
                if (db && db->is_string() && db->as_string() == parse_database) *db = database;
            }
        }
    }
    fs::create_directories(out.parent_path());
    std::ofstream file(out, std::ios::binary | std::ios::trunc);
    file << json::serialize(document);
    if (!file) throw Error(ErrorKind::external, "cannot write the retargeted manifest", ErrorLocation{.file = out.string()});
    return out;
}

Target verify_fork_pull_request(const ForkArtifact& artifact, const Target& target, PullRequests* pulls) {
    const std::string claim = "pull-request.json names pull request #" + std::to_string(artifact.number);
    if (target.pr && *target.pr != artifact.number)
        throw Error(ErrorKind::conflict, "fork artifact refused: " + claim + " but this run is for #" + std::to_string(*target.pr));
    if (artifact.head_sha != target.sha)
        throw Error(ErrorKind::conflict, "fork artifact refused: " + claim + " at " + artifact.head_sha +
                                             ", but this run is for commit " + target.sha);
    if (!pulls)
        throw Error(ErrorKind::usage, "fork artifact refused: the pull request cannot be checked against GitHub "
                                      "(no github-token)");
    const auto pull = pulls->get(artifact.number);
    if (!pull.open)
        throw Error(ErrorKind::conflict, "fork artifact refused: pull request #" + std::to_string(artifact.number) + " is not open");
    if (pull.head_sha != target.sha)
        throw Error(ErrorKind::conflict, "fork artifact refused: on GitHub the head of pull request #" +
                                             std::to_string(artifact.number) + " is " + pull.head_sha +
                                             ", not the commit this run is for (" + target.sha + ")");
    Target verified = target;
    verified.pr = artifact.number;
    if (verified.branch.empty()) verified.branch = pull.head_ref;
    return verified;
}

}  // namespace ece::lifecycle
