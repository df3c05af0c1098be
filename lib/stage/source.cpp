#include "stage/source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
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

}  // namespace

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
