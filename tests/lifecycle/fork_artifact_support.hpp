#pragma once
// Fork artifacts for tests: a gzip'd tar written member by member with libarchive, so hostile members (.., absolute
// paths, links leading out, device files) can be made exactly as an attacker would, and the artifact folder around it.
#include <archive.h>
#include <archive_entry.h>

#include "fake_github.hpp"
#include "lifecycle/github.hpp"

#include <chrono>
#include <memory>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ece::test {

struct TarMember {
    enum Type { file, dir, symlink, hardlink, fifo } type = file;
    std::string name;
    std::string content{};  // file: the bytes; symlink/hardlink: the target
};

inline void write_tar_gz(const std::filesystem::path& file, const std::vector<TarMember>& members) {
    archive* a = archive_write_new();
    archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    if (archive_write_open_filename(a, file.c_str()) != ARCHIVE_OK) throw std::runtime_error(archive_error_string(a));
    for (const auto& m : members) {
        archive_entry* e = archive_entry_new();
        archive_entry_set_pathname(e, m.name.c_str());
        archive_entry_set_perm(e, m.type == TarMember::dir ? 0755 : 0644);
        switch (m.type) {
            case TarMember::file:
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_size(e, static_cast<la_int64_t>(m.content.size()));
                break;
            case TarMember::dir: archive_entry_set_filetype(e, AE_IFDIR); break;
            case TarMember::symlink:
                archive_entry_set_filetype(e, AE_IFLNK);
                archive_entry_set_symlink(e, m.content.c_str());
                break;
            case TarMember::hardlink:
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_hardlink(e, m.content.c_str());
                break;
            case TarMember::fifo: archive_entry_set_filetype(e, AE_IFIFO); break;
        }
        archive_write_header(a, e);
        if (m.type == TarMember::file) archive_write_data(a, m.content.data(), m.content.size());
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

// Every file below dir as tar members (folders first), names relative to dir.
inline std::vector<TarMember> members_of(const std::filesystem::path& dir) {
    std::vector<TarMember> out;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
        const auto name = entry.path().lexically_relative(dir).string();
        if (entry.is_directory()) {
            out.push_back({TarMember::dir, name});
        } else {
            std::ifstream in(entry.path(), std::ios::binary);
            out.push_back({TarMember::file, name, std::string(std::istreambuf_iterator<char>(in), {})});
        }
    }
    return out;
}

inline void write_text(const std::filesystem::path& file, const std::string& text) {
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
}

inline std::string pull_request_json(int number, const std::string& head_sha) {
    return "{\"number\": " + std::to_string(number) + ", \"head_sha\": \"" + head_sha + "\"}\n";
}

// The lifecycle's GitHub pull requests on a FakeGitHub.
inline std::unique_ptr<lifecycle::GitHubPullRequests> pull_requests_of(const FakeGitHub& github) {
    github::ClientConfig config = github.client_config();
    config.http.read_timeout = std::chrono::seconds(5);
    return std::make_unique<lifecycle::GitHubPullRequests>(std::make_shared<github::Client>(config));
}

}  // namespace ece::test
