#pragma once
// Byte streams ece stages from. A local file now; an https body later (lib/http) plugs in the same way.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

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

// Decompresses a gzip stream (multi-member files included).
std::unique_ptr<ByteSource> gunzip(std::unique_ptr<ByteSource> compressed);

// Size of a local file in bytes; throws ece::Error(input) when missing.
std::uint64_t file_size(const std::string& path);

}  // namespace ece::stage
