#pragma once
// Byte streams ece stages from: a local file, or an https body streamed through lib/http.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "http/client.hpp"

namespace ece::stage {

class ByteSource {
public:
    virtual ~ByteSource() = default;
    // Reads up to size bytes; returns 0 only at the end. Throws ece::Error naming the source on failure.
    virtual std::size_t read(char* buffer, std::size_t size) = 0;
    // Path or URL, for error messages.
    virtual const std::string& name() const = 0;
};

// Called with every raw block before it is decompressed (the content hash is over the bytes as stored).
using RawObserver = std::function<void(const char* data, std::size_t size)>;

// A local file, read from byte offset on.
std::unique_ptr<ByteSource> open_file(const std::string& path, std::uint64_t offset = 0, RawObserver observer = {});

// The body of GET url, read while it arrives (a download thread and a bounded buffer of a few MB, no file). A
// failure before any byte arrived is retried by lib/http; a body cut off later fails the read with ece::Error
// (network): a load in progress cannot start over. Non-2xx statuses fail with the status.
std::unique_ptr<ByteSource> open_url(const std::string& url, const http::ClientOptions& options = {},
                                     RawObserver observer = {});

// url as it may be shown and stored: no credentials, no query (signed URLs carry tokens there).
std::string shown_url(const std::string& url);

// Decompresses a gzip stream (multi-member files included).
std::unique_ptr<ByteSource> gunzip(std::unique_ptr<ByteSource> compressed);

// Size of a local file in bytes; throws ece::Error(input) when missing.
std::uint64_t file_size(const std::string& path);

}  // namespace ece::stage
