#include "comment/marker.hpp"

#include "core/percent.hpp"

#include <openssl/evp.h>

#include <cctype>
#include <memory>
#include <stdexcept>

namespace ece::comment {
namespace {

constexpr std::string_view prefix = "<!-- ece:env=";
constexpr std::string_view digest_key = " digest=";
constexpr std::string_view suffix = " -->";

bool plain_name_char(unsigned char c) { return std::isalnum(c) || c == '.' || c == '_' || c == '/' || c == '-'; }

std::string encode_name(std::string_view name) { return percent_encode(name, plain_name_char); }

std::optional<std::string> decode_name(std::string_view encoded) {
    std::string out;
    for (std::size_t i = 0; i < encoded.size(); ++i) {
        unsigned char c = encoded[i];
        if (c == '%') {
            if (i + 2 >= encoded.size()) return std::nullopt;
            auto digit = [](char h) -> int {
                if (h >= '0' && h <= '9') return h - '0';
                if (h >= 'A' && h <= 'F') return h - 'A' + 10;
                return -1;
            };
            int hi = digit(encoded[i + 1]), lo = digit(encoded[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (plain_name_char(c)) {
            out += static_cast<char>(c);
        } else {
            return std::nullopt;
        }
    }
    return out;
}

bool is_digest(std::string_view s) {
    if (s.size() != 64) return false;
    for (char c : s) {
        if (!std::isdigit(static_cast<unsigned char>(c)) && !(c >= 'a' && c <= 'f')) return false;
    }
    return true;
}

std::optional<Marker> parse_marker_line(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.starts_with(prefix) || !line.ends_with(suffix)) return std::nullopt;
    auto inner = line.substr(prefix.size(), line.size() - prefix.size() - suffix.size());
    auto at = inner.find(digest_key);
    if (at == std::string_view::npos) return std::nullopt;
    auto name = decode_name(inner.substr(0, at));
    auto digest = inner.substr(at + digest_key.size());
    if (!name || name->empty() || !is_digest(digest)) return std::nullopt;
    return Marker{*name, std::string(digest)};
}

}  // namespace

std::string sha256_hex(std::string_view text) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("SHA-256 failed");
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < length; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 15];
    }
    return out;
}

std::string make_marker(std::string_view environment, std::string_view digest) {
    return std::string(prefix) + encode_name(environment) + std::string(digest_key) + std::string(digest) +
           std::string(suffix);
}

std::optional<Marker> parse_marker(std::string_view body) {
    std::optional<Marker> found;
    std::size_t start = 0;
    while (start <= body.size()) {
        auto end = body.find('\n', start);
        auto line = body.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
        if (auto m = parse_marker_line(line)) found = std::move(m);
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return found;
}

bool marker_matches(std::string_view body, std::string_view environment) {
    auto m = parse_marker(body);
    return m && m->environment == environment;
}

}  // namespace ece::comment
