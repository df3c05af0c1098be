#include "stage/source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <cstring>
#include <vector>

#include "core/error.hpp"

namespace ece::stage {
namespace {

class FileSource : public ByteSource {
public:
    FileSource(std::string path, std::uint64_t offset, RawObserver observer)
        : path_(std::move(path)), observer_(std::move(observer)) {
        fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) fail("cannot open");
        // Sequential reads: let the kernel read ahead generously.
        ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
        if (offset > 0 && ::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) < 0) fail("cannot seek in");
    }
    ~FileSource() override {
        if (fd_ >= 0) ::close(fd_);
    }
    FileSource(const FileSource&) = delete;
    FileSource& operator=(const FileSource&) = delete;

    std::size_t read(char* buffer, std::size_t size) override {
        for (;;) {
            ssize_t got = ::read(fd_, buffer, size);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) fail("cannot read");
            if (got > 0 && observer_) observer_(buffer, static_cast<std::size_t>(got));
            return static_cast<std::size_t>(got);
        }
    }
    const std::string& name() const override { return path_; }

private:
    [[noreturn]] void fail(const char* what) const {
        throw Error(ErrorKind::input, std::string(what) + " file: " + std::strerror(errno), {.file = path_});
    }
    std::string path_;
    RawObserver observer_;
    int fd_ = -1;
};

class GzipSource : public ByteSource {
public:
    explicit GzipSource(std::unique_ptr<ByteSource> inner) : inner_(std::move(inner)), input_(1 << 20) {
        std::memset(&stream_, 0, sizeof stream_);
        // 15 + 32: zlib or gzip header, detected automatically.
        if (inflateInit2(&stream_, 15 + 32) != Z_OK) throw Error(ErrorKind::internal, "inflateInit2 failed");
    }
    ~GzipSource() override { inflateEnd(&stream_); }
    GzipSource(const GzipSource&) = delete;
    GzipSource& operator=(const GzipSource&) = delete;

    std::size_t read(char* buffer, std::size_t size) override {
        stream_.next_out = reinterpret_cast<Bytef*>(buffer);
        stream_.avail_out = static_cast<uInt>(size);
        while (stream_.avail_out == size && !finished_) {
            if (stream_.avail_in == 0) {
                std::size_t got = inner_->read(input_.data(), input_.size());
                if (got == 0) {
                    if (!member_done_) throw Error(ErrorKind::input, "truncated gzip data", {.file = inner_->name()});
                    finished_ = true;
                    break;
                }
                stream_.next_in = reinterpret_cast<Bytef*>(input_.data());
                stream_.avail_in = static_cast<uInt>(got);
            }
            if (member_done_) {
                // Another gzip member follows (concatenated .gz files are valid gzip).
                inflateReset(&stream_);
                member_done_ = false;
            }
            int rc = inflate(&stream_, Z_NO_FLUSH);
            if (rc == Z_STREAM_END) {
                member_done_ = true;
            } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
                throw Error(ErrorKind::input,
                            std::string("corrupt gzip data: ") + (stream_.msg ? stream_.msg : "inflate failed"),
                            {.file = inner_->name(), .byte_offset = stream_.total_in});
            }
        }
        return size - stream_.avail_out;
    }
    const std::string& name() const override { return inner_->name(); }

private:
    std::unique_ptr<ByteSource> inner_;
    std::vector<char> input_;
    z_stream stream_;
    bool member_done_ = false;
    bool finished_ = false;
};

// The download runs on its own thread into a bounded queue that read() drains.
class UrlSource : public ByteSource {
public:
    UrlSource(std::string url, http::ClientOptions options, RawObserver observer)
        : url_(std::move(url)), shown_(shown_url(url_)), observer_(std::move(observer)) {
        thread_ = std::thread([this, options = std::move(options)]() mutable { download(std::move(options)); });
    }
    ~UrlSource() override {
        {
            std::lock_guard lock(mutex_);
            cancelled_ = true;
        }
        changed_.notify_all();
        thread_.join();
    }
    UrlSource(const UrlSource&) = delete;
    UrlSource& operator=(const UrlSource&) = delete;

    std::size_t read(char* buffer, std::size_t size) override {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return !pieces_.empty() || done_; });
        if (pieces_.empty()) {
            if (error_) std::rethrow_exception(error_);
            return 0;
        }
        std::size_t n = 0;
        while (n < size && !pieces_.empty()) {
            std::string& front = pieces_.front();
            std::size_t take = std::min(size - n, front.size() - front_offset_);
            std::memcpy(buffer + n, front.data() + front_offset_, take);
            n += take;
            front_offset_ += take;
            if (front_offset_ == front.size()) {
                queued_ -= front.size();
                pieces_.pop_front();
                front_offset_ = 0;
            }
        }
        lock.unlock();
        changed_.notify_all();
        if (observer_) observer_(buffer, n);
        return n;
    }
    const std::string& name() const override { return shown_; }

private:
    struct Cancelled {};
    static constexpr std::size_t max_queued = 8 << 20;

    void download(http::ClientOptions options) {
        try {
            http::Client client(std::move(options));
            http::BodySink sink{
                [this](std::string_view piece) { push(piece); },
                [this] {
                    // lib/http retries a failed exchange from the start; bytes already loaded cannot be taken back.
                    if (received_ > 0)
                        throw Error(ErrorKind::network,
                                    "the connection broke off after " + std::to_string(received_) +
                                        " bytes of the body; nothing was staged, run the load again",
                                    {.file = shown_});
                }};
            client.send_to(http::Request{.method = "GET", .url = url_}, sink);
            finish(nullptr);
        } catch (const Cancelled&) {
            finish(nullptr);
        } catch (...) {
            finish(std::current_exception());
        }
    }

    void push(std::string_view piece) {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return queued_ < max_queued || cancelled_; });
        if (cancelled_) throw Cancelled{};
        received_ += piece.size();
        queued_ += piece.size();
        pieces_.emplace_back(piece);
        lock.unlock();
        changed_.notify_all();
    }

    void finish(std::exception_ptr error) {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
            error_ = error;
        }
        changed_.notify_all();
    }

    std::string url_, shown_;
    RawObserver observer_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<std::string> pieces_;
    std::size_t front_offset_ = 0, queued_ = 0;
    std::uint64_t received_ = 0;  // written by the download thread only
    bool done_ = false, cancelled_ = false;
    std::exception_ptr error_;
    std::thread thread_;
};

}  // namespace

std::unique_ptr<ByteSource> open_url(const std::string& url, const http::ClientOptions& options, RawObserver observer) {
    return std::make_unique<UrlSource>(url, options, std::move(observer));
}

std::string shown_url(const std::string& url) {
    auto query = url.find_first_of("?#");
    std::string shown = http::redact_url(url.substr(0, query));
    return query == std::string::npos ? shown : shown + "?...";
}

std::unique_ptr<ByteSource> open_file(const std::string& path, std::uint64_t offset, RawObserver observer) {
    return std::make_unique<FileSource>(path, offset, std::move(observer));
}

std::unique_ptr<ByteSource> gunzip(std::unique_ptr<ByteSource> compressed) {
    return std::make_unique<GzipSource>(std::move(compressed));
}

std::uint64_t file_size(const std::string& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) {
        throw Error(ErrorKind::input, std::string("cannot read file: ") + std::strerror(errno), {.file = path});
    }
    return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace ece::stage
