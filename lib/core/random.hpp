#pragma once
// Unpredictable bytes (OpenSSL's RAND_bytes) for passwords, output delimiters and names an attacker must not guess.
#include <cstddef>
#include <string>
#include <vector>

namespace ece {

// count bytes from OpenSSL's CSPRNG; throws ece::Error (internal) if it cannot produce them.
std::vector<unsigned char> random_bytes(std::size_t count);

// count random bytes as 2 * count lowercase hexadecimal digits.
std::string random_hex(std::size_t count);

}  // namespace ece
