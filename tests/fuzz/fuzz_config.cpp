// libFuzzer target: the ece.yml reader. Any input must give a Config or an ece::Error, never a crash or another
// exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.hpp"
#include "core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        ece::config::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz/ece.yml");
    } catch (const ece::Error&) {
    }
    return 0;
}
