#include "stage/copy.hpp"

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <optional>
#include <memory>
#include <mutex>
#include <thread>

#include "core/error.hpp"
#include "stage/binary.hpp"
#include "stage/source.hpp"

namespace ece::stage {
namespace {

constexpr std::size_t piece_size = 1 << 20;
// A connection's COPY ends at the first chunk end after this much: a row PostgreSQL rejects is reported when its
// COPY ends, so no later than this much data after it.
constexpr std::uint64_t stream_bytes = 64ull << 20;
constexpr std::size_t pieces_per_worker = 4;

// A piece of one chunk, in order; the first and last piece of a chunk start and end it within its COPY.
struct Piece {
    std::vector<char> data;
    Chunk chunk{};
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

}  // namespace

namespace detail {

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
        PQclear(result);
        if (status != PGRES_COMMAND_OK) throw failure(doing);
    }
    void begin_copy(const std::string& sql) {
        PGresult* result = PQexec(conn_, sql.c_str());
        auto status = PQresultStatus(result);
        PQclear(result);
        if (status != PGRES_COPY_IN) throw failure("starting COPY");
        in_copy_ = true;
    }
    void put(const char* data, std::size_t size) {
        if (PQputCopyData(conn_, data, static_cast<int>(size)) != 1) throw failure("sending COPY data");
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

    // "<doing>: [lost the connection to PostgreSQL: ]<libpq's first line>".
    Error failure(const char* doing) const {
        std::string message = trim(PQerrorMessage(conn_));
        if (auto newline = message.find('\n'); newline != std::string::npos) message.resize(newline);
        bool lost = PQstatus(conn_) == CONNECTION_BAD;
        return Error(ErrorKind::database,
                     std::string(doing) + ": " + (lost ? "lost the connection to PostgreSQL: " : "") + message);
    }

    static std::string trim(std::string text) {
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
        return text;
    }

private:
    PGconn* conn_ = nullptr;
    bool in_copy_ = false;
};

}  // namespace detail

namespace {

using detail::CopyConnection;

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

// PostgreSQL numbers the physical lines of each COPY stream (newlines inside quotes count too, and a record is
// numbered by its last line), so the file's line is the stream's first line plus that number minus one. Clears failed.
// line_in_file maps the line number PostgreSQL reports (in binary COPY: the row number) to the file's line.
Error copy_failure(PGresult* failed, const std::string& file,
                   const std::function<std::uint64_t(std::uint64_t)>& line_in_file,
                   const std::vector<std::string>& db_columns, const std::vector<std::string>& file_columns) {
    std::string message = field(failed, PG_DIAG_MESSAGE_PRIMARY), sqlstate = field(failed, PG_DIAG_SQLSTATE);
    std::string context = field(failed, PG_DIAG_CONTEXT);
    PQclear(failed);
    bool data_problem = sqlstate.rfind("22", 0) == 0 || sqlstate.rfind("23", 0) == 0;
    if (!data_problem) {
        // Not the data's fault (the server shut down, the connection broke, ...): no line, say what was going on.
        bool lost = sqlstate.empty() || sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P", 0) == 0;
        return Error(ErrorKind::database,
                     std::string(lost ? "lost the connection to PostgreSQL" : "COPY failed") + " while loading the file: " +
                         (message.empty() ? "no reason given" : message),
                     {.file = file});
    }
    std::uint64_t record_line = 0;
    std::string column;
    parse_copy_context(context, record_line, column);
    ErrorLocation where{.file = file};
    if (record_line > 0) where.line = line_in_file(record_line);
    for (std::size_t k = 0; k < db_columns.size() && k < file_columns.size(); ++k)
        if (db_columns[k] == column) column = file_columns[k];
    if (!column.empty()) where.field = "column " + column;
    return Error(ErrorKind::input, message.empty() ? "COPY failed" : message, where);
}

class ParallelCopy {
public:
    // expected_chunks: how many the feed will hold, about (no more connections than chunks).
    ParallelCopy(const std::string& url, const TableDecl& table, const std::vector<Column>& columns,
                 const ChunkFeed& feed, std::size_t expected_chunks, const std::string& target,
                 const CopyOptions& options)
        : url_(url), table_(table), feed_(feed), options_(options),
          workers_(std::max(1u, std::min<unsigned>(options.connections, static_cast<unsigned>(expected_chunks)))),
          wires_(detail::wires_for(options.format, columns, workers_)),
          copy_sql_("COPY " + target + " FROM STDIN " + (wires_ ? "(FORMAT binary)" : copy_options_sql(table.csv))),
          queues_(workers_) {
        for (const auto& c : columns) names_.push_back(c.name);
    }

    // A plain file: every connection reads the chunks it takes itself (the next one not taken yet), so all of them
    // stream from the start. gzip cannot be read from the middle: one reader inflates in order and deals the
    // (small) chunks out round robin.
    void run() {
        bool self_reading = !is_gzip(table_);
        std::vector<std::thread> threads;
        for (unsigned w = 0; w < workers_; ++w) {
            threads.emplace_back([this, w, self_reading] {
                if (self_reading) {
                    ChunkReader reader(*this);
                    work([&](Piece& piece) { return reader.next(piece); });
                } else {
                    work([&](Piece& piece) { return queues_[w].pop(piece); });
                }
            });
        }
        if (!self_reading) {
            try {
                read_chunks();
            } catch (...) {
                fail(std::current_exception());
            }
            for (auto& q : queues_) q.close();
        }
        for (auto& t : threads) t.join();
        if (error_) std::rethrow_exception(error_);
    }

private:
    // The pieces of the chunks one connection takes, read from the file directly.
    class ChunkReader {
    public:
        explicit ChunkReader(ParallelCopy& copy) : copy_(copy) {}
        bool next(Piece& piece) {
            if (copy_.stopping()) return false;
            if (left_ == 0) {
                auto chunk = copy_.feed_.wait(copy_.next_chunk_++);
                if (!chunk || copy_.stopping()) return false;
                source_ = open_file(copy_.table_.source, chunk->offset);
                chunk_ = *chunk;
                left_ = chunk->bytes;
                piece.first = true;
            } else {
                piece.first = false;
            }
            piece.chunk = chunk_;
            piece.data.resize(static_cast<std::size_t>(std::min<std::uint64_t>(left_, piece_size)));
            copy_.read_exactly(*source_, piece.data.data(), piece.data.size());
            left_ -= piece.data.size();
            piece.last = left_ == 0;
            return true;
        }

    private:
        ParallelCopy& copy_;
        std::unique_ptr<ByteSource> source_;
        Chunk chunk_{};
        std::uint64_t left_ = 0;
    };

    void fail(std::exception_ptr error) {
        {
            std::lock_guard lock(error_mutex_);
            if (!error_) error_ = error;
        }
        for (auto& q : queues_) q.cancel();
    }

    // Reads the data once, in order, and hands chunk k to worker k % workers.
    void read_chunks() {
        auto first_chunk = feed_.wait(0);
        if (!first_chunk) return;
        std::uint64_t start = first_chunk->offset;
        std::unique_ptr<ByteSource> source;
        if (is_gzip(table_)) {
            source = gunzip(open_file(table_.source));
            std::vector<char> skip(start);
            read_exactly(*source, skip.data(), skip.size());
        } else {
            source = open_file(table_.source, start);
        }
        for (std::size_t k = 0;; ++k) {
            auto chunk = feed_.wait(k);
            if (!chunk || stopping()) return;
            std::uint64_t left = chunk->bytes;
            bool first = true;
            while (left > 0) {
                Piece piece{std::vector<char>(static_cast<std::size_t>(std::min<std::uint64_t>(left, piece_size))),
                            *chunk, first, false};
                read_exactly(*source, piece.data.data(), piece.data.size());
                left -= piece.data.size();
                piece.last = left == 0;
                first = false;
                if (stopping() || !queues_[k % workers_].push(std::move(piece))) return;
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

    // One connection's share. A COPY runs on over several chunks (up to stream_bytes): ending a COPY after every
    // chunk left the backend idle while the client started the next one.
    void work(const std::function<bool(Piece&)>& next_piece) {
        try {
            auto connection = options_.opened_ahead ? options_.opened_ahead->take()
                                                    : std::make_unique<CopyConnection>(url_);
            CopyConnection& conn = *connection;
            conn.exec("BEGIN", "starting the load transaction");
            std::optional<detail::BinaryEncoder> encoder;
            if (wires_) encoder.emplace(table_.csv, *wires_, table_.source, names_);
            detail::CopyBuffer encoded;
            std::vector<Chunk> streamed;  // the chunks of the COPY in progress, in the order sent
            std::uint64_t streamed_bytes = 0;
            auto end_stream = [&] {
                if (encoder) {
                    encoded.clear();
                    encoder->finish_stream(encoded);
                    conn.put(encoded.data(), encoded.size());
                }
                if (PGresult* failed = conn.end_copy()) throw copy_error(failed, streamed);
                if (options_.counters)
                    for (const auto& chunk : streamed) options_.counters->rows += chunk.records;
                streamed.clear();
                streamed_bytes = 0;
            };
            Piece piece;
            while (next_piece(piece)) {
                encoded.clear();
                if (piece.first) {
                    if (!conn.in_copy()) {
                        conn.begin_copy(copy_sql_);
                        if (encoder) encoder->start_stream(encoded);
                    }
                    if (encoder) encoder->start_chunk(piece.chunk.first_line);
                    streamed.push_back(piece.chunk);
                }
                if (encoder) {
                    encoder->feed(piece.data.data(), piece.data.size(), encoded);
                    if (piece.last) encoder->finish_chunk(encoded);
                    conn.put(encoded.data(), encoded.size());
                } else {
                    conn.put(piece.data.data(), piece.data.size());
                }
                streamed_bytes += piece.data.size();
                if (options_.counters) options_.counters->bytes += piece.data.size();
                if (piece.last && streamed_bytes >= stream_bytes) end_stream();
            }
            if (stopping()) {
                if (conn.in_copy()) PQclear(conn.end_copy("another COPY stream failed or the load was abandoned"));
                return;  // the transaction rolls back with the connection
            }
            if (conn.in_copy()) end_stream();
            conn.exec("COMMIT", "committing loaded rows");
            if (options_.opened_ahead) options_.opened_ahead->give_back(std::move(connection));
        } catch (...) {
            fail(std::current_exception());
        }
    }

    // Another connection failed, or the feed was aborted: every connection ends without committing.
    bool stopping() {
        if (feed_.aborted()) return true;
        std::lock_guard lock(error_mutex_);
        return error_ != nullptr;
    }

    // PostgreSQL numbers what it rejects from the start of the COPY: rows in binary, physical lines in CSV (a
    // record is numbered by its last line); the chunks of the COPY say which line of the file that is.
    Error copy_error(PGresult* failed, const std::vector<Chunk>& streamed) {
        auto line_in_file = [&](std::uint64_t reported) {
            std::uint64_t left = reported - 1;
            for (std::size_t k = 0; k < streamed.size(); ++k) {
                const Chunk& chunk = streamed[k];
                bool last = k + 1 == streamed.size();
                if (wires_ && (left < chunk.records || last)) return detail::line_of_record(table_, chunk, left);
                if (!wires_ && (left < chunk.lines || last))
                    return detail::first_line_of_record_ending_at(table_, chunk, chunk.first_line + left);
                left -= wires_ ? chunk.records : chunk.lines;
            }
            return std::uint64_t{0};  // nothing was sent: not reached
        };
        return copy_failure(failed, table_.source, line_in_file, options_.db_columns, names_);
    }

    const std::string& url_;
    const TableDecl& table_;
    const ChunkFeed& feed_;
    const CopyOptions& options_;
    unsigned workers_;
    std::optional<std::vector<detail::Wire>> wires_;  // set: the chunks go as binary COPY
    std::string copy_sql_;
    std::vector<std::string> names_;
    std::vector<PieceQueue> queues_;
    std::atomic<std::size_t> next_chunk_{0};
    std::mutex error_mutex_;
    std::exception_ptr error_;
};

}  // namespace

struct CopyConnections::Impl {
    std::string url;
    std::mutex mutex;
    std::deque<std::unique_ptr<CopyConnection>> idle;
    std::deque<std::future<std::unique_ptr<CopyConnection>>> opening;
};

CopyConnections::CopyConnections(std::string url, unsigned count) : impl_(std::make_unique<Impl>()) {
    impl_->url = std::move(url);
    for (unsigned k = 0; k < count; ++k) {
        impl_->opening.push_back(std::async(std::launch::async, [url = impl_->url] {
            return std::make_unique<CopyConnection>(url);
        }));
    }
}

CopyConnections::~CopyConnections() {
    for (auto& pending : impl_->opening) {
        try {
            pending.get();
        } catch (...) {
            // Never taken: its failure concerns nobody.
        }
    }
}

std::unique_ptr<CopyConnection> CopyConnections::take() {
    std::future<std::unique_ptr<CopyConnection>> pending;
    {
        std::lock_guard lock(impl_->mutex);
        if (!impl_->idle.empty()) {
            auto connection = std::move(impl_->idle.front());
            impl_->idle.pop_front();
            return connection;
        }
        if (!impl_->opening.empty()) {
            pending = std::move(impl_->opening.front());
            impl_->opening.pop_front();
        }
    }
    if (pending.valid()) return pending.get();
    return std::make_unique<CopyConnection>(impl_->url);
}

void CopyConnections::give_back(std::unique_ptr<CopyConnection> connection) {
    std::lock_guard lock(impl_->mutex);
    impl_->idle.push_back(std::move(connection));
}

struct CopyStream::Impl {
    CopyConnection conn;
    std::string file;
    std::uint64_t bytes = 0;
};

CopyStream::CopyStream(const std::string& url, std::string file) : impl_(new Impl{CopyConnection(url), std::move(file)}) {}
CopyStream::~CopyStream() {
    // Not committed: closing the connection rolls everything back, the table included.
    if (impl_ && impl_->conn.in_copy()) PQclear(impl_->conn.end_copy("load abandoned"));
}

void CopyStream::begin(const std::string& create_table_sql, const std::string& copy_sql) {
    impl_->conn.exec("BEGIN", "starting the load transaction");
    impl_->conn.exec(create_table_sql, "creating the loading table");
    impl_->conn.begin_copy(copy_sql);
}

void CopyStream::put(const char* data, std::size_t size) {
    impl_->conn.put(data, size);
    impl_->bytes += size;
}

std::uint64_t CopyStream::bytes_sent() const { return impl_->bytes; }

void CopyStream::commit(const std::vector<std::string>& db_columns, const std::vector<std::string>& file_columns) {
    if (PGresult* failed = impl_->conn.end_copy())
        throw copy_failure(failed, impl_->file, [](std::uint64_t line) { return line; }, db_columns, file_columns);
    impl_->conn.exec("COMMIT", "committing loaded rows");
}

std::string copy_options_sql(const CsvOptions& csv, bool header) {
    return std::string("(FORMAT csv, HEADER ") + (header ? "true" : "false") + ", DELIMITER " + quote_literal_char(csv.delimiter) + ", QUOTE " +
           quote_literal_char(csv.quote) + ", ESCAPE " + quote_literal_char(csv.escape) + ", NULL " +
           quote_literal(csv.null_string) + ")";
}

ChunkFeed::ChunkFeed(std::vector<Chunk> complete) : chunks_(std::move(complete)), closed_(true) {}

void ChunkFeed::publish(const std::vector<Chunk>& found) {
    {
        std::lock_guard lock(mutex_);
        if (found.size() <= chunks_.size()) return;
        chunks_.insert(chunks_.end(), found.begin() + static_cast<std::ptrdiff_t>(chunks_.size()), found.end());
    }
    changed_.notify_all();
}

void ChunkFeed::close() {
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
    }
    changed_.notify_all();
}

void ChunkFeed::abort() {
    {
        std::lock_guard lock(mutex_);
        aborted_ = true;
    }
    changed_.notify_all();
}

bool ChunkFeed::aborted() const {
    std::lock_guard lock(mutex_);
    return aborted_;
}

std::optional<Chunk> ChunkFeed::wait(std::size_t k) const {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return aborted_ || k < chunks_.size() || closed_; });
    if (aborted_ || k >= chunks_.size()) return std::nullopt;
    return chunks_[k];
}

namespace {

void run_copy(const TableDecl& table, const std::function<void()>& copy) {
    try {
        copy();
    } catch (const Error& e) {
        if (!e.where().file.empty()) throw;
        // A failure of the connection itself: name the file being loaded.
        throw Error(e.kind(), "loading " + table.name + ": " + e.message(), {.file = table.source});
    }
}

}  // namespace

void copy_feed(const std::string& url, const TableDecl& table, const std::vector<Column>& columns, const ChunkFeed& feed,
               const std::string& qualified_table, const CopyOptions& options) {
    run_copy(table, [&] { ParallelCopy(url, table, columns, feed, SIZE_MAX, qualified_table, options).run(); });
}

void copy_chunks(const std::string& url, const TableDecl& table, const ScanResult& scanned,
                 const std::string& qualified_table, const CopyOptions& options) {
    ChunkFeed feed(scanned.chunks);
    run_copy(table, [&] {
        ParallelCopy(url, table, scanned.columns, feed, scanned.chunks.size(), qualified_table, options).run();
    });
}

}  // namespace ece::stage
