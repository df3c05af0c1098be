#include "core/random.hpp"

#include "core/error.hpp"

#include <openssl/rand.h>

namespace ece {

std::vector<unsigned char> random_bytes(std::size_t count) {
    std::vector<unsigned char> bytes(count);
    if (RAND_bytes(bytes.data(), static_cast<int>(count)) != 1) {
        throw Error(ErrorKind::internal, "OpenSSL could not produce random bytes (RAND_bytes failed)");
    }
    return bytes;
}

std::string random_hex(std::size_t count) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    for (unsigned char b : random_bytes(count)) {
        hex += digits[b >> 4];
        hex += digits[b & 0xf];
    }
    return hex;
}

}  // namespace ece
