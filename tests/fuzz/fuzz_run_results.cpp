// libFuzzer target: the dbt run_results.json reader. Any input must give a result or an ece::Error, never a crash or another exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dbt/run_results.hpp"
#include "core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        ece::dbt::parse_run_results(text, "fuzz/run_results.json");
    } catch (const ece::Error&) {
    }
    return 0;
}
