#include "dbt/gzip.hpp"

#include <zlib.h>

#include <array>
#include <limits>

#include "core/error.hpp"

namespace ece::dbt {
namespace {

constexpr int gzip_window_bits = 15 + 16;  // 15-bit window, gzip header
constexpr int auto_window_bits = 15 + 32;  // detect gzip or zlib header

// zlib counts in uInt; feed large inputs in slices.
uInt slice(std::size_t left) {
    return static_cast<uInt>(std::min<std::size_t>(left, std::numeric_limits<uInt>::max()));
}

}  // namespace

std::string gzip_compress(std::string_view data) {
    z_stream stream{};
    if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip_window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw Error(ErrorKind::internal, "zlib: deflateInit2 failed");
    std::string out;
    out.resize(deflateBound(&stream, static_cast<uLong>(data.size())) + 64);
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    std::size_t in_left = data.size();
    std::size_t produced = 0;
    int status = Z_OK;
    while (status != Z_STREAM_END) {
        if (produced == out.size()) out.resize(out.size() * 2);
        stream.avail_in = slice(in_left);
        const uInt offered = stream.avail_in;
        stream.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
        stream.avail_out = slice(out.size() - produced);
        const uInt room = stream.avail_out;
        status = deflate(&stream, in_left == offered ? Z_FINISH : Z_NO_FLUSH);
        if (status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR) {
            deflateEnd(&stream);
            throw Error(ErrorKind::internal, "zlib: deflate failed");
        }
        in_left -= offered - stream.avail_in;
        produced += room - stream.avail_out;
    }
    deflateEnd(&stream);
    out.resize(produced);
    return out;
}

std::string gzip_decompress(std::string_view data, std::string_view what) {
    z_stream stream{};
    if (inflateInit2(&stream, auto_window_bits) != Z_OK) throw Error(ErrorKind::internal, "zlib: inflateInit2 failed");
    std::string out;
    std::array<char, 1 << 16> chunk{};
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    std::size_t in_left = data.size();
    int status = Z_OK;
    while (status != Z_STREAM_END) {
        stream.avail_in = slice(in_left);
        const uInt offered = stream.avail_in;
        stream.next_out = reinterpret_cast<Bytef*>(chunk.data());
        stream.avail_out = static_cast<uInt>(chunk.size());
        status = inflate(&stream, Z_NO_FLUSH);
        const bool stuck = status == Z_BUF_ERROR && stream.avail_in == offered && stream.avail_out == chunk.size();
        if ((status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR) || stuck) {
            inflateEnd(&stream);
            throw Error(ErrorKind::input, std::string(what) + " is not valid gzip data" +
                                              (stuck ? " (truncated)" : stream.msg ? std::string(": ") + stream.msg : ""));
        }
        in_left -= offered - stream.avail_in;
        out.append(chunk.data(), chunk.size() - stream.avail_out);
    }
    inflateEnd(&stream);
    return out;
}

}  // namespace ece::dbt
