#pragma once
// The hidden marker that identifies ece's comment for one environment:
//   <!-- ece:env=pr-12 digest=<sha256 hex of the content above it> -->
// The env part is compared whole, so the marker of pr-1 never matches pr-12.
#include <optional>
#include <string>
#include <string_view>

namespace ece::comment {

struct Marker {
    std::string environment;  // decoded
    std::string digest;       // 64 lowercase hex digits
};

// SHA-256 of text as 64 lowercase hex digits.
std::string sha256_hex(std::string_view text);

// The marker line (no trailing newline). Characters outside [A-Za-z0-9._/-] in the name are %-encoded.
std::string make_marker(std::string_view environment, std::string_view digest);

// The marker of a comment body: a line that is exactly a marker. The last one wins (ece writes it last).
std::optional<Marker> parse_marker(std::string_view body);

// True when body carries ece's marker for exactly this environment.
bool marker_matches(std::string_view body, std::string_view environment);

}  // namespace ece::comment
