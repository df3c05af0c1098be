#pragma once
// Fixture manifests for the dbt tests: the real ones are stored xz-compressed.
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "support.hpp"

namespace ece::test {

// A fixture manifest, decompressed into dir when it is an .xz original.
inline std::filesystem::path plain(const std::filesystem::path& file, const TempDir& dir) {
    if (file.extension() != ".xz") return file;
    auto out = dir / file.stem().string();
    const std::string command = "xz -dc '" + file.string() + "' > '" + out.string() + "'";
    if (std::system(command.c_str()) != 0) throw std::runtime_error("cannot decompress " + file.string());
    return out;
}

}  // namespace ece::test
