#include "stage/copy.hpp"

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "core/error.hpp"
#include "stage/source.hpp"

namespace ece::stage {
namespace {

constexpr std::size_t piece_size = 1 << 20;
constexpr std::size_t pieces_per_worker = 4;

// A piece of one chunk, in order; the first and last piece of a chunk open and close its COPY.
struct Piece {
    std::vector<char> data;
    std::size_t chunk = 0;
    bool first = false, last = false;
};

// Bounded queue from the reader to one worker; closing it wakes both sides.
class PieceQueue {
public:
    bool push(Piece piece) {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return pieces_.size() < pieces_per_worker || closed_; });
        if (closed_) return false;
        pieces_.push_back(std::move(piece));
        changed_.notify_all();
        return true;
    }
    bool pop(Piece& piece) {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return !pieces_.empty() || closed_; });
        if (pieces_.empty()) return false;
        piece = std::move(pieces_.front());
        pieces_.pop_front();
        changed_.notify_all();
        return true;
    }
    void close() {
        std::lock_guard lock(mutex_);
        closed_ = true;
        changed_.notify_all();
    }
    void cancel() {
        std::lock_guard lock(mutex_);
        closed_ = true;
        pieces_.clear();
        changed_.notify_all();
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<Piece> pieces_;
    bool closed_ = false;
};

std::string field(const PGresult* result, int code) {
    const char* value = result ? PQresultErrorField(result, code) : nullptr;
    return value ? value : "";
}

// One libpq connection doing COPY FROM STDIN (pqxx 6.4 has no raw COPY data path).
class CopyConnection {
public:
    explicit CopyConnection(const std::string& url) {
        const char* keys[] = {"dbname", "application_name", "connect_timeout", nullptr};
        const char* values[] = {url.c_str(), "ece stage copy", "10", nullptr};
        conn_ = PQconnectdbParams(keys, values, 1);
        if (PQstatus(conn_) != CONNECTION_OK) {
            std::string reason = PQerrorMessage(conn_);
            PQfinish(conn_);
            throw Error(ErrorKind::database, "cannot connect to PostgreSQL for COPY: " + trim(reason));
        }
    }
    ~CopyConnection() { PQfinish(conn_); }
    CopyConnection(const CopyConnection&) = delete;
    CopyConnection& operator=(const CopyConnection&) = delete;

    void exec(const std::string& sql, const char* doing) {
        PGresult* result = PQexec(conn_, sql.c_str());
        auto status = PQresultStatus(result);
        std::string message = status == PGRES_COMMAND_OK ? "" : PQerrorMessage(conn_);
        PQclear(result);
        if (status != PGRES_COMMAND_OK) throw Error(ErrorKind::database, std::string(doing) + ": " + trim(message));
    }
    void begin_copy(const std::string& sql) {
        PGresult* result = PQexec(conn_, sql.c_str());
        auto status = PQresultStatus(result);
        std::string message = status == PGRES_COPY_IN ? "" : PQerrorMessage(conn_);
        PQclear(result);
        if (status != PGRES_COPY_IN) throw Error(ErrorKind::database, "starting COPY: " + trim(message));
        in_copy_ = true;
    }
    void put(const char* data, std::size_t size) {
        if (PQputCopyData(conn_, data, static_cast<int>(size)) != 1)
            throw Error(ErrorKind::database, "sending COPY data: " + trim(PQerrorMessage(conn_)));
    }
    // Ends the COPY; returns the failed result (caller clears) or nullptr on success.
    PGresult* end_copy(const char* abort_reason = nullptr) {
        in_copy_ = false;
        PQputCopyEnd(conn_, abort_reason);
        PGresult* failed = nullptr;
        while (PGresult* result = PQgetResult(conn_)) {
            if (PQresultStatus(result) != PGRES_COMMAND_OK && !failed) failed = result;
            else PQclear(result);
        }
        return failed;
    }
    bool in_copy() const { return in_copy_; }

    static std::string trim(std::string text) {
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
        return text;
    }

private:
    PGconn* conn_ = nullptr;
    bool in_copy_ = false;
};

std::string quote_literal_char(char c) {
    if (c == '\'') return "''''";
    return std::string("'") + c + "'";
}

std::string quote_literal(const std::string& text) {
    std::string out = "'";
    for (char c : text) {
        if (c == '\'') out += '\'';
        out += c;
    }
    return out + "'";
}

// "COPY t, line 3, column birth_year: "19x0"" -> 3 and "birth_year".
void parse_copy_context(const std::string& context, std::uint64_t& line, std::string& column) {
    auto at = context.find(", line ");
    if (at == std::string::npos) return;
    line = std::strtoull(context.c_str() + at + 7, nullptr, 10);
    auto col = context.find(", column ", at);
    if (col == std::string::npos) return;
    auto start = col + 9, end = context.find(':', start);
    column = context.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

class ParallelCopy {
public:
    ParallelCopy(const std::string& url, const TableDecl& table, const ScanResult& scanned, const std::string& target,
                 const CopyOptions& options)
        : url_(url), table_(table), scanned_(scanned), options_(options),
          copy_sql_("COPY " + target + " FROM STDIN " + copy_options_sql(table.csv)),
          workers_(std::max(1u, std::min<unsigned>(options.connections, static_cast<unsigned>(scanned.chunks.size())))),
          queues_(workers_) {}

    void run() {
        std::vector<std::thread> threads;
        for (unsigned w = 0; w < workers_; ++w) threads.emplace_back([this, w] { work(w); });
        try {
            read_chunks();
        } catch (...) {
            fail(std::current_exception());
        }
        for (auto& q : queues_) q.close();
        for (auto& t : threads) t.join();
        if (error_) std::rethrow_exception(error_);
    }

private:
    void fail(std::exception_ptr error) {
        {
            std::lock_guard lock(error_mutex_);
            if (!error_) error_ = error;
        }
        for (auto& q : queues_) q.cancel();
    }

    // Reads the data once, in order, and hands chunk k to worker k % workers.
    void read_chunks() {
        if (scanned_.chunks.empty()) return;
        std::uint64_t start = scanned_.chunks.front().offset;
        std::unique_ptr<ByteSource> source;
        if (is_gzip(table_)) {
            source = gunzip(open_file(table_.source));
            std::vector<char> skip(start);
            read_exactly(*source, skip.data(), skip.size());
        } else {
            source = open_file(table_.source, start);
        }
        for (std::size_t k = 0; k < scanned_.chunks.size(); ++k) {
            std::uint64_t left = scanned_.chunks[k].bytes;
            bool first = true;
            while (left > 0) {
                Piece piece{std::vector<char>(static_cast<std::size_t>(std::min<std::uint64_t>(left, piece_size))), k,
                            first, false};
                read_exactly(*source, piece.data.data(), piece.data.size());
                left -= piece.data.size();
                piece.last = left == 0;
                first = false;
                if (!queues_[k % workers_].push(std::move(piece))) return;
            }
        }
    }

    void read_exactly(ByteSource& source, char* data, std::size_t size) {
        for (std::size_t got = 0; got < size;) {
            std::size_t n = source.read(data + got, size - got);
            if (n == 0) throw Error(ErrorKind::input, "file changed while it was loaded (shorter than scanned)", {.file = table_.source});
            got += n;
        }
    }

    void work(unsigned w) {
        try {
            CopyConnection conn(url_);
            conn.exec("BEGIN", "starting the load transaction");
            Piece piece;
            while (queues_[w].pop(piece)) {
                if (piece.first) conn.begin_copy(copy_sql_);
                conn.put(piece.data.data(), piece.data.size());
                if (options_.counters) options_.counters->bytes += piece.data.size();
                if (piece.last) {
                    if (PGresult* failed = conn.end_copy()) throw copy_error(failed, piece.chunk);
                    if (options_.counters) options_.counters->rows += scanned_.chunks[piece.chunk].records;
                }
            }
            if (error_present()) {
                if (conn.in_copy()) PQclear(conn.end_copy("another COPY stream failed"));
                return;  // the transaction rolls back with the connection
            }
            conn.exec("COMMIT", "committing loaded rows");
        } catch (...) {
            fail(std::current_exception());
        }
    }

    bool error_present() {
        std::lock_guard lock(error_mutex_);
        return error_ != nullptr;
    }

    // PostgreSQL numbers the physical lines of each COPY stream (newlines inside quotes count too, and a record
    // is numbered by its last line), so the file's line is the chunk's first line plus that number minus one.
    Error copy_error(PGresult* failed, std::size_t chunk_index) {
        std::string message = field(failed, PG_DIAG_MESSAGE_PRIMARY), sqlstate = field(failed, PG_DIAG_SQLSTATE);
        std::string context = field(failed, PG_DIAG_CONTEXT);
        PQclear(failed);
        bool data_problem = sqlstate.rfind("22", 0) == 0 || sqlstate.rfind("23", 0) == 0;
        if (!data_problem) {
            // Not the data's fault (the server shut down, the connection broke, ...): no line, say what was going on.
            bool lost = sqlstate.empty() || sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P", 0) == 0;
            return Error(ErrorKind::database,
                         std::string(lost ? "lost the connection to PostgreSQL" : "COPY failed") + " while loading " +
                             table_.name + ": " + (message.empty() ? "no reason given" : message),
                         {.file = table_.source});
        }
        std::uint64_t record_line = 0;
        std::string column;
        parse_copy_context(context, record_line, column);
        ErrorLocation where{.file = table_.source};
        const Chunk& chunk = scanned_.chunks[chunk_index];
        if (record_line > 0) where.line = chunk.first_line + record_line - 1;
        for (std::size_t k = 0; k < options_.db_columns.size() && k < scanned_.columns.size(); ++k)
            if (options_.db_columns[k] == column) column = scanned_.columns[k].name;
        if (!column.empty()) where.field = "column " + column;
        return Error(ErrorKind::input, message.empty() ? "COPY failed" : message, where);
    }

    const std::string& url_;
    const TableDecl& table_;
    const ScanResult& scanned_;
    const CopyOptions& options_;
    std::string copy_sql_;
    unsigned workers_;
    std::vector<PieceQueue> queues_;
    std::mutex error_mutex_;
    std::exception_ptr error_;
};

}  // namespace

std::string copy_options_sql(const CsvOptions& csv) {
    return "(FORMAT csv, HEADER false, DELIMITER " + quote_literal_char(csv.delimiter) + ", QUOTE " +
           quote_literal_char(csv.quote) + ", ESCAPE " + quote_literal_char(csv.escape) + ", NULL " +
           quote_literal(csv.null_string) + ")";
}

void copy_chunks(const std::string& url, const TableDecl& table, const ScanResult& scanned,
                 const std::string& qualified_table, const CopyOptions& options) {
    ParallelCopy(url, table, scanned, qualified_table, options).run();
}

}  // namespace ece::stage
