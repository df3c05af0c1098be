#include "core/error.hpp"
#include "github/client.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <fstream>
#include <functional>
#include <memory>

namespace ece::github {
namespace {

using ArchivePtr = std::unique_ptr<archive, decltype(&archive_read_free)>;

// Finds member in the zip and hands its data to write piece by piece.
void read_member(const std::filesystem::path& zip_file, std::string_view member,
                 const std::function<void(const char*, std::size_t)>& write) {
    ArchivePtr a(archive_read_new(), archive_read_free);
    archive_read_support_format_zip(a.get());
    auto fail = [&](const std::string& why) -> Error {
        return Error(ErrorKind::input, why, {.file = zip_file.string(), .field = std::string(member)});
    };
    if (archive_read_open_filename(a.get(), zip_file.c_str(), 64 * 1024) != ARCHIVE_OK) {
        throw fail(std::string("cannot open the zip archive: ") + archive_error_string(a.get()));
    }
    archive_entry* entry = nullptr;
    for (;;) {
        int rc = archive_read_next_header(a.get(), &entry);
        if (rc == ARCHIVE_EOF) throw fail("no such file in the zip archive");
        if (rc < ARCHIVE_WARN) throw fail(std::string("damaged zip archive: ") + archive_error_string(a.get()));
        const char* path = archive_entry_pathname(entry);
        std::string_view name = path ? path : "";
        if (name.starts_with("./")) name.remove_prefix(2);
        if (name == member) break;
    }
    const void* block = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    for (;;) {
        int rc = archive_read_data_block(a.get(), &block, &size, &offset);
        if (rc == ARCHIVE_EOF) return;
        if (rc < ARCHIVE_WARN) throw fail(std::string("cannot read from the zip archive: ") + archive_error_string(a.get()));
        write(static_cast<const char*>(block), size);
    }
}

}  // namespace

std::string extract_zip_member(const std::filesystem::path& zip_file, std::string_view member) {
    std::string out;
    read_member(zip_file, member, [&](const char* data, std::size_t size) { out.append(data, size); });
    return out;
}

void extract_zip_member_to(const std::filesystem::path& zip_file, std::string_view member,
                           const std::filesystem::path& out_file) {
    std::ofstream out(out_file, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(ErrorKind::external, "cannot write the extracted file", {.file = out_file.string()});
    read_member(zip_file, member, [&](const char* data, std::size_t size) {
        out.write(data, static_cast<std::streamsize>(size));
    });
    out.close();
    if (!out) throw Error(ErrorKind::external, "cannot write the extracted file", {.file = out_file.string()});
}

}  // namespace ece::github
