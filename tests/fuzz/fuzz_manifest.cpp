// libFuzzer target: the dbt manifest loader (SAX handler). Any input must give a result or an ece::Error, never a crash or another exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dbt/manifest.hpp"
#include "core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        ece::dbt::parse_manifest(text, "fuzz/manifest.json");
    } catch (const ece::Error&) {
    }
    return 0;
}
