#pragma once
// Parallel COPY of a scanned CSV file into an existing table: one COPY per chunk, chunks spread over several
// connections, and errors PostgreSQL reports per COPY mapped back to the line in the file.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "stage/scan.hpp"
#include "stage/table.hpp"

namespace ece::stage {

struct CopyCounters {
    std::atomic<std::uint64_t> bytes{0};  // decompressed bytes sent
    std::atomic<std::uint64_t> rows{0};   // rows of chunks PostgreSQL has accepted
};

struct CopyOptions {
    unsigned connections = 2;
    CopyCounters* counters = nullptr;  // optional, updated while copying (read by a progress reporter)
    std::vector<std::string> db_columns{};  // the table's column names, in file order (to name columns in errors)
};

// COPY every chunk of scanned into qualified_table (already quoted, e.g. "ece_content"."loading_x") whose
// columns are in file order. Each connection commits its own chunks; the caller makes the table visible only
// when this returns. Throws ece::Error: input "file:line: column NAME: message" for data PostgreSQL rejects,
// database for anything else. The URL must be registered as a secret already.
void copy_chunks(const std::string& url, const TableDecl& table, const ScanResult& scanned,
                 const std::string& qualified_table, const CopyOptions& options);

// The COPY options clause for table's CSV options, e.g. "(FORMAT csv, DELIMITER ',', ...)".
std::string copy_options_sql(const CsvOptions& csv);

}  // namespace ece::stage
