#pragma once
// The one pass over a file before it is loaded: content hash, CSV validation, line counting, per-column type
// inference and record-boundary split points for parallel loading.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "stage/source.hpp"
#include "stage/table.hpp"

namespace ece::stage {

struct Column {
    std::string name;
    std::string sql_type;   // declared, or inferred: "bigint", "text", ...
    bool declared = false;
};

// A record-aligned piece of the (decompressed) data, loadable on its own.
struct Chunk {
    std::uint64_t offset = 0;        // byte offset in the decompressed data where the chunk's first record starts
    std::uint64_t bytes = 0;
    std::uint64_t first_line = 0;    // physical line (1-based) of that record in the file
    std::uint64_t first_record = 0;  // index of that record among the data records (0-based)
    std::uint64_t records = 0;
    std::uint64_t lines = 0;         // physical lines it spans (quoted fields may hold line breaks)
};

struct ScanResult {
    std::string sha256;             // hex, over the file's bytes as stored (compressed when gzip)
    std::uint64_t file_bytes = 0;   // as stored
    std::uint64_t data_bytes = 0;   // decompressed
    std::uint64_t rows = 0;         // data records (header excluded)
    std::uint64_t lines = 0;        // physical lines
    std::vector<Column> columns;
    std::vector<Chunk> chunks;      // cover every data record in order
};

// What a scan in progress knows (after each block it parsed): a load can start before the scan ends.
struct ScanSoFar {
    std::uint64_t rows = 0;              // data records parsed so far
    const std::vector<Chunk>& chunks;    // the chunks complete so far (the last one is cut only at the end)
    std::vector<Column> columns;         // with the types every value so far fits; empty before the header
};

struct ScanOptions {
    std::uint64_t chunk_bytes = 64ull << 20;  // target size of a chunk; chunks end on record boundaries
    bool check_utf8 = true;
    std::function<void(const ScanSoFar&)> on_block = {};  // local files: called after every block is parsed
};

// Reads table.source once. Throws ece::Error(input) "file:line: column NAME: message" for malformed CSV.
ScanResult scan(const TableDecl& table, const ScanOptions& options = {});

// The same pass over an https source that is loaded while it downloads: the columns are announced once the header
// is read, then every run of complete records (the header first) as it is parsed; a malformed record throws before
// it is handed on. Hashes the body as it arrives (compressed when gzip). Chunks are not computed.
struct StreamConsumer {
    std::function<void(const std::vector<std::string>& column_names)> on_columns;
    std::function<void(const char* data, std::size_t size)> on_records;
};
ScanResult scan_url(const TableDecl& table, const http::ClientOptions& http, const StreamConsumer& consumer,
                    const ScanOptions& options = {});

// Only the content hash (hex SHA-256 of the bytes as stored): for restaging files that are already loaded.
std::string hash_file(const std::string& path);

}  // namespace ece::stage
