#include "pg/ident.hpp"

#include "core/error.hpp"

#include <openssl/evp.h>

#include <array>

namespace ece::pg {
namespace {

constexpr std::size_t hash_hex_digits = 10;
constexpr std::size_t suffix_bytes = 1 + hash_hex_digits;  // "_" + hash

bool is_clean_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }
bool is_hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// Lowercases ASCII letters, turns every other byte into '_' and collapses runs of '_' (so each UTF-8 character
// becomes one '_'), trims '_' at both ends, and keeps the result from starting with a digit or "pg_".
std::string clean(std::string_view name) {
    std::string out;
    out.reserve(name.size());
    for (char c : name) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (!is_clean_char(c)) c = '_';
        if (c == '_' && !out.empty() && out.back() == '_') continue;
        out.push_back(c);
    }
    while (!out.empty() && out.back() == '_') out.pop_back();
    std::size_t leading = 0;
    while (leading < out.size() && out[leading] == '_') ++leading;
    out.erase(0, leading);
    if (!out.empty() && ((out[0] >= '0' && out[0] <= '9') || out.rfind("pg_", 0) == 0)) out.insert(0, "x");
    return out;
}

// "..._0123456789": what a hashed slug ends with; a clean name that looks like this is hashed too, so it can
// never equal the slug of another name.
bool ends_like_hash_suffix(std::string_view s) {
    if (s.size() < suffix_bytes) return false;
    auto tail = s.substr(s.size() - suffix_bytes);
    if (tail[0] != '_') return false;
    for (char c : tail.substr(1)) {
        if (!is_hex_digit(c)) return false;
    }
    return true;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
        throw Error(ErrorKind::internal, "SHA-256 failed");
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < length; ++i) {
        out.push_back(hex[digest[i] >> 4]);
        out.push_back(hex[digest[i] & 0xf]);
    }
    return out;
}

std::string slug(std::string_view name, std::size_t max_bytes) {
    if (name.empty()) throw Error(ErrorKind::usage, "a name used as a database identifier must not be empty");
    if (max_bytes < 16 || max_bytes > max_identifier_bytes) {
        throw Error(ErrorKind::internal, "slug: max_bytes must be between 16 and 63");
    }
    std::string base = clean(name);
    if (base == name && base.size() <= max_bytes && !ends_like_hash_suffix(base)) return base;

    base.resize(std::min(base.size(), max_bytes - suffix_bytes));
    while (!base.empty() && base.back() == '_') base.pop_back();
    return base + "_" + sha256_hex(name).substr(0, hash_hex_digits);
}

std::string quote_ident(std::string_view safe_name) {
    if (safe_name.empty() || safe_name.find('\0') != std::string_view::npos ||
        safe_name.size() > max_identifier_bytes) {
        throw Error(ErrorKind::internal, "quote_ident: not a valid identifier (empty, NUL byte or over 63 bytes)");
    }
    std::string out = "\"";
    for (char c : safe_name) {
        if (c == '"') out.push_back('"');
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

std::string ident(std::string_view user_name) { return quote_ident(slug(user_name)); }

}  // namespace ece::pg
