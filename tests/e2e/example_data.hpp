#pragma once
// The example project's four tables at a tiny scale, written once per test process into a temporary folder that the
// end-to-end suites only read (each workspace copies it as data/).
#include "demo_data.hpp"
#include "support.hpp"

#include <filesystem>

namespace ece::test {

inline const std::filesystem::path& example_data() {
    static const TempDir dir;
    static const bool written = [] {
        demo::DemoOptions options;
        options.scale = 0.0005;
        demo::generate(dir.path(), options);
        return true;
    }();
    (void)written;
    return dir.path();
}

}  // namespace ece::test
