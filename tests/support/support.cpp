#include "support.hpp"

#include "core/secrets.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace ece::test {

std::filesystem::path fixture(std::string_view relative) {
    auto path = std::filesystem::path(ECE_SOURCE_DIR) / ".." / "shared" / "fixtures" / relative;
    if (!std::filesystem::exists(path)) {
        throw std::runtime_error("fixture missing: " + path.string() + " (is ../shared/ beside the checkout?)");
    }
    return path;
}

std::filesystem::path real_dbt() {
    auto path = std::filesystem::path(ECE_SOURCE_DIR) / ".." / "shared" / "tools" / "dbt" / "bin" / "dbt";
    if (!std::filesystem::exists(path)) {
        throw std::runtime_error("real dbt missing: " + path.string() +
                                 " (is ../shared/ beside the checkout? scripts/install-deps.sh installs its packages)");
    }
    return std::filesystem::weakly_canonical(path);
}

std::filesystem::path dbt_wrapper(const std::filesystem::path& dir, std::string_view before) {
    std::filesystem::create_directories(dir);
    const auto script = dir / "dbt";
    {
        std::ofstream out(script, std::ios::binary | std::ios::trunc);
        out << "#!/bin/sh\n# A test's wrapper around real dbt (not dbt itself): the fault or observation below, then dbt.\n"
            << before << "\nexec '" << real_dbt().string() << "' \"$@\"\n";
        if (!out.flush()) throw std::runtime_error("cannot write " + script.string());
    }
    // As root, ece runs dbt as its own unprivileged user (dbt/sandbox.hpp): the wrapper must be theirs to run.
    std::filesystem::permissions(script, std::filesystem::perms(0755));
    return script;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

TempDir::TempDir() {
    std::random_device rd;
    auto base = std::filesystem::temp_directory_path();
    for (int attempt = 0; attempt < 100; ++attempt) {
        auto candidate = base / ("ece-test-" + std::to_string(rd()));
        if (std::filesystem::create_directory(candidate)) {
            path_ = candidate;
            return;
        }
    }
    throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

std::vector<std::string> find_secrets(std::string_view text, const std::vector<std::string>& secrets) {
    std::vector<std::string> found;
    // In every shape masking covers (core/secrets.hpp): as is, percent-encoded, a URL's password decoded.
    for (const auto& secret : secrets) {
        if (secret.empty()) continue;
        for (const auto& form : secret_forms(secret)) {
            if (text.find(form) != std::string_view::npos) {
                found.push_back(secret);
                break;
            }
        }
    }
    return found;
}

Error expect_error(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "expected an ece::Error";
    return Error(ErrorKind::internal, "none");
}

}  // namespace ece::test
