#include "stage/scan.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "core/error.hpp"
#include "stage/csv_parser.hpp"
#include "stage/source.hpp"

namespace ece::stage {
namespace {

constexpr std::size_t block_size = 1 << 20;
constexpr std::size_t headroom = 64 << 10;  // room to put the previous block's partial record in front
constexpr std::size_t blocks_in_flight = 4;

class Sha256 {
public:
    Sha256() : ctx_(EVP_MD_CTX_new()) {
        if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) throw Error(ErrorKind::internal, "SHA-256 init failed");
    }
    ~Sha256() { EVP_MD_CTX_free(ctx_); }
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(const char* data, std::size_t size) { EVP_DigestUpdate(ctx_, data, size); }
    std::string hex() {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int length = 0;
        EVP_DigestFinal_ex(ctx_, digest, &length);
        static const char* digits = "0123456789abcdef";
        std::string out;
        for (unsigned i = 0; i < length; ++i) {
            out += digits[digest[i] >> 4];
            out += digits[digest[i] & 15];
        }
        return out;
    }

private:
    EVP_MD_CTX* ctx_;
};

// A block read ahead by the reader thread; data starts at `headroom`.
struct Block {
    std::vector<char> storage = std::vector<char>(headroom + block_size + detail::parse_padding);
    std::size_t size = 0;
    char* data() { return storage.data() + headroom; }
};

// Reads a source on its own thread, a few blocks ahead of the consumer, so that reading, hashing and gunzip
// overlap with parsing on a second core.
class ReadAhead {
public:
    explicit ReadAhead(ByteSource& source) : source_(source) {
        for (std::size_t k = 0; k < blocks_in_flight; ++k) free_.push_back(std::make_unique<Block>());
        thread_ = std::thread([this] { run(); });
    }
    ~ReadAhead() {
        {
            std::lock_guard lock(mutex_);
            cancelled_ = true;
        }
        changed_.notify_all();
        thread_.join();
    }
    ReadAhead(const ReadAhead&) = delete;
    ReadAhead& operator=(const ReadAhead&) = delete;

    // The next block (size 0 at the end); rethrows the reader's error.
    std::unique_ptr<Block> next() {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return !filled_.empty() || error_; });
        if (error_ && filled_.empty()) std::rethrow_exception(error_);
        auto block = std::move(filled_.front());
        filled_.pop_front();
        return block;
    }
    void recycle(std::unique_ptr<Block> block) {
        {
            std::lock_guard lock(mutex_);
            free_.push_back(std::move(block));
        }
        changed_.notify_all();
    }

private:
    void run() {
        try {
            for (;;) {
                std::unique_ptr<Block> block;
                {
                    std::unique_lock lock(mutex_);
                    changed_.wait(lock, [&] { return !free_.empty() || cancelled_; });
                    if (cancelled_) return;
                    block = std::move(free_.front());
                    free_.pop_front();
                }
                block->size = 0;
                while (block->size < block_size) {
                    std::size_t got = source_.read(block->data() + block->size, block_size - block->size);
                    if (got == 0) break;
                    block->size += got;
                }
                bool end = block->size == 0;
                {
                    std::lock_guard lock(mutex_);
                    filled_.push_back(std::move(block));
                }
                changed_.notify_all();
                if (end) return;
            }
        } catch (...) {
            std::lock_guard lock(mutex_);
            error_ = std::current_exception();
            changed_.notify_all();
        }
    }

    ByteSource& source_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<std::unique_ptr<Block>> free_, filled_;
    std::exception_ptr error_;
    bool cancelled_ = false;
    std::thread thread_;
};

std::unique_ptr<ByteSource> open_decompressed(const TableDecl& table, RawObserver observer) {
    auto source = open_file(table.source, 0, std::move(observer));
    if (is_gzip(table)) source = gunzip(std::move(source));
    return source;
}

// Feeds every block of source to parser, carrying each block's partial last record in front of the next. With a
// consumer, hands on every run of complete records once the parser has accepted it.
void parse_all(ByteSource& source, detail::CsvParser& parser, const StreamConsumer* consumer = nullptr,
               const std::function<void(const ScanSoFar&)>& on_block = {}) {
    bool announced = false;
    auto hand_on = [&](const char* data, std::size_t size, bool at_end) {
        if (!consumer) return;
        if (!announced && (!parser.column_names().empty() || at_end)) {
            consumer->on_columns(parser.column_names());
            announced = true;
        }
        if (size > 0) consumer->on_records(data, size);
    };
    ReadAhead reader(source);
    std::vector<char> carry, joined;
    for (;;) {
        auto block = reader.next();
        bool at_end = block->size == 0;
        const char* start;
        std::size_t size = carry.size() + block->size;
        if (carry.size() <= headroom) {
            char* front = block->data() - carry.size();
            if (!carry.empty()) std::memcpy(front, carry.data(), carry.size());  // an empty vector's data() may be null
            start = front;
        } else {  // a record longer than the headroom: join into a separate buffer
            joined.assign(carry.begin(), carry.end());
            joined.insert(joined.end(), block->data(), block->data() + block->size);
            joined.resize(size + detail::parse_padding);
            start = joined.data();
        }
        std::size_t used = parser.parse(start, size, at_end);
        hand_on(start, used, at_end);
        if (on_block) on_block(ScanSoFar{.rows = parser.records(), .chunks = parser.chunks(), .columns = parser.columns()});
        carry.assign(start + used, start + size);
        reader.recycle(std::move(block));
        if (at_end) return;
    }
}

detail::CsvParser::Settings parser_settings(const TableDecl& table) {
    detail::CsvParser::Settings settings;
    settings.file = table.source;
    settings.csv = table.csv;
    settings.declared = table.column_types;
    return settings;
}

// Hashes a regular file straight from the page cache through a read-only mapping: no copy into a buffer and no
// reader thread, so restaging an unchanged file costs about the hash alone. false: not mappable (empty, a pipe,
// ...), nothing hashed.
bool hash_mapped(const std::string& path, Sha256& hash) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat info {};
    if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) || info.st_size <= 0) {
        ::close(fd);
        return false;
    }
    auto size = static_cast<std::size_t>(info.st_size);
    void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (mapped == MAP_FAILED) return false;
    ::madvise(mapped, size, MADV_SEQUENTIAL);
    ::madvise(mapped, size, MADV_WILLNEED);
    const char* bytes = static_cast<const char*>(mapped);
    constexpr std::size_t step = 4 << 20;
    try {
        for (std::size_t at = 0; at < size; at += step) hash.update(bytes + at, std::min(step, size - at));
    } catch (...) {
        ::munmap(mapped, size);
        throw;
    }
    ::munmap(mapped, size);
    return true;
}

}  // namespace

ScanResult scan(const TableDecl& table, const ScanOptions& options) {
    ScanResult result;
    Sha256 hash;
    std::uint64_t raw_bytes = 0;
    auto source = open_decompressed(table, [&](const char* data, std::size_t size) {
        hash.update(data, size);
        raw_bytes += size;
    });
    auto settings = parser_settings(table);
    settings.check_utf8 = options.check_utf8;
    settings.chunk_bytes = options.chunk_bytes;
    detail::CsvParser parser(settings);
    parse_all(*source, parser, nullptr, options.on_block);
    parser.finish(result);
    result.sha256 = hash.hex();
    result.file_bytes = raw_bytes;
    return result;
}

ScanResult scan_url(const TableDecl& table, const http::ClientOptions& http, const StreamConsumer& consumer,
                    const ScanOptions& options) {
    ScanResult result;
    Sha256 hash;
    std::uint64_t raw_bytes = 0;
    auto source = open_url(table.source, http, [&](const char* data, std::size_t size) {
        hash.update(data, size);
        raw_bytes += size;
    });
    if (is_gzip(table)) source = gunzip(std::move(source));
    auto settings = parser_settings(table);
    settings.file = source->name();
    settings.check_utf8 = options.check_utf8;
    settings.chunk_bytes = UINT64_MAX;  // one COPY: no chunks
    detail::CsvParser parser(settings);
    parse_all(*source, parser, &consumer);
    parser.finish(result);
    result.chunks.clear();
    result.sha256 = hash.hex();
    result.file_bytes = raw_bytes;
    return result;
}

std::string hash_file(const std::string& path) {
    Sha256 hash;
    if (hash_mapped(path, hash)) return hash.hex();
    auto source = open_file(path);
    ReadAhead reader(*source);
    for (;;) {
        auto block = reader.next();
        if (block->size == 0) break;
        hash.update(block->data(), block->size);
        reader.recycle(std::move(block));
    }
    return hash.hex();
}

}  // namespace ece::stage
