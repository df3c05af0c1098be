#pragma once
// Percent-encoding (RFC 3986 section 2.1), the one implementation: URLs, query values, markers, secret shapes.
#include <string>
#include <string_view>

namespace ece {

// RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~".
bool is_unreserved(unsigned char c);

// Every byte for which plain(byte) is false becomes %XX (upper-case hex, or lower-case when asked).
std::string percent_encode(std::string_view text, bool (*plain)(unsigned char) = is_unreserved,
                           bool lower_case_hex = false);

}  // namespace ece
