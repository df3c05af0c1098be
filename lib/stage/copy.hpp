#pragma once
// Parallel COPY of a scanned CSV file into an existing table: chunks spread over several connections, each
// connection's chunks in few COPYs, and errors PostgreSQL reports per COPY mapped back to the line in the file.
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "stage/scan.hpp"
#include "stage/table.hpp"

namespace ece::stage {

struct CopyCounters {
    std::atomic<std::uint64_t> bytes{0};  // decompressed bytes sent
    std::atomic<std::uint64_t> rows{0};   // rows of chunks PostgreSQL has accepted
};

namespace detail {
class CopyConnection;
}

// COPY connections opened ahead, in the background, while the catalog connection is made and the first block is
// scanned, and handed on from one table's load to the next: a load's streams start without waiting for a
// connection (each takes a SCRAM handshake and a backend start, 8 to 20 ms here). Thread-safe.
class CopyConnections {
public:
    CopyConnections(std::string url, unsigned count);  // starts opening count connections
    ~CopyConnections();                                 // waits for the ones still opening
    CopyConnections(const CopyConnections&) = delete;
    CopyConnections& operator=(const CopyConnections&) = delete;

    // An open connection, outside any transaction: an idle one, else one being opened (its error, if it failed),
    // else a new one.
    std::unique_ptr<detail::CopyConnection> take();
    // A connection whose load committed, for the next load.
    void give_back(std::unique_ptr<detail::CopyConnection> connection);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

struct CopyOptions {
    unsigned connections = 2;
    CopyCounters* counters = nullptr;  // optional, updated while copying (read by a progress reporter)
    std::vector<std::string> db_columns{};  // the table's column names, in file order (to name columns in errors)
    CopyFormat format = CopyFormat::automatic;
    CopyConnections* opened_ahead = nullptr;  // where connections come from and go back to (else each load connects)
};

// The chunks a load takes, published while the scan finds them, so that COPY starts before the scan ends.
// Thread-safe: the scan publishes, the COPY connections wait for the next chunk.
class ChunkFeed {
public:
    ChunkFeed() = default;
    explicit ChunkFeed(std::vector<Chunk> complete);  // every chunk known already (closed)
    ChunkFeed(const ChunkFeed&) = delete;
    ChunkFeed& operator=(const ChunkFeed&) = delete;

    void publish(const std::vector<Chunk>& found);  // the file's chunks found so far (a longer prefix each time)
    void close();                                   // every chunk is published
    void abort();                                   // stop: the load's rows will be discarded
    bool aborted() const;
    // Chunk k once it is published; nullopt when there is none (closed before k) or the feed is aborted.
    std::optional<Chunk> wait(std::size_t k) const;

private:
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::vector<Chunk> chunks_;
    bool closed_ = false, aborted_ = false;
};

// COPY every chunk of the feed into qualified_table (already quoted), whose columns are `columns` in file order,
// as they are published. Each connection commits its own chunks, unless the feed is aborted: then every connection
// rolls back and this returns without error. Errors as for copy_chunks below.
void copy_feed(const std::string& url, const TableDecl& table, const std::vector<Column>& columns, const ChunkFeed& feed,
               const std::string& qualified_table, const CopyOptions& options);

// COPY every chunk of scanned into qualified_table (already quoted, e.g. "ece_content"."loading_x") whose
// columns are in file order. Each connection commits its own chunks; the caller makes the table visible only
// when this returns. Throws ece::Error: input "file:line: column NAME: message" for data PostgreSQL rejects,
// database for anything else. The URL must be registered as a secret already.
void copy_chunks(const std::string& url, const TableDecl& table, const ScanResult& scanned,
                 const std::string& qualified_table, const CopyOptions& options);

// One COPY fed while the data arrives (an https body), on its own connection and transaction: begin() creates the
// table in that transaction and starts the COPY, commit() ends the COPY and commits. Destroyed before commit(),
// everything rolls back, the table included, so an interrupted download leaves nothing behind.
class CopyStream {
public:
    // file: how errors name the data (a URL without credentials). The URL must be registered as a secret already.
    CopyStream(const std::string& url, std::string file);
    ~CopyStream();
    CopyStream(const CopyStream&) = delete;
    CopyStream& operator=(const CopyStream&) = delete;

    void begin(const std::string& create_table_sql, const std::string& copy_sql);
    void put(const char* data, std::size_t size);
    std::uint64_t bytes_sent() const;
    // Throws ece::Error: input "file:line: column NAME: message" for data PostgreSQL rejects (lines counted from
    // the stream's start, the header included), database for anything else.
    void commit(const std::vector<std::string>& db_columns, const std::vector<std::string>& file_columns);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// The COPY options clause for table's CSV options, e.g. "(FORMAT csv, DELIMITER ',', ...)"; with header, COPY
// skips the first line itself.
std::string copy_options_sql(const CsvOptions& csv, bool header = false);

}  // namespace ece::stage
