#include "core/percent.hpp"

#include <cctype>

namespace ece {

bool is_unreserved(unsigned char c) { return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

std::string percent_encode(std::string_view text, bool (*plain)(unsigned char), bool lower_case_hex) {
    const char* hex = lower_case_hex ? "0123456789abcdef" : "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (plain(c)) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xf];
        }
    }
    return out;
}

}  // namespace ece
