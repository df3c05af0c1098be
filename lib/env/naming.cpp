#include "env/naming.hpp"

#include "core/error.hpp"
#include "pg/ident.hpp"

#include <regex>

namespace ece::env {
namespace {

bool is_pr_key(std::string_view key) {
    static const std::regex pattern("pr_[0-9]+");
    return std::regex_match(key.begin(), key.end(), pattern);
}

bool is_pr_name(std::string_view name) {
    static const std::regex pattern("pr-[0-9]+");
    return std::regex_match(name.begin(), name.end(), pattern);
}

std::string branch_key(std::string_view branch, std::size_t max_bytes) {
    std::string key = pg::slug(branch, max_bytes);
    // A branch "pr_12" would slug to pull request 12's key: make it distinct the way slug does for changed names.
    if (is_pr_key(key)) key = key.substr(0, max_bytes - 11) + "_" + pg::sha256_hex(branch).substr(0, 10);
    return key;
}

}  // namespace

void check_prefix(std::string_view prefix) {
    auto fail = [&](const std::string& rule) {
        throw Error(ErrorKind::usage, "environments.prefix \"" + std::string(prefix) + "\" " + rule,
                    ErrorLocation{.field = "environments.prefix"});
    };
    if (prefix.empty()) fail("must not be empty");
    if (prefix.size() > max_prefix_bytes) fail("is longer than " + std::to_string(max_prefix_bytes) + " bytes");
    for (char c : prefix) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) fail("may hold only a-z, 0-9 and _");
    }
    if (prefix[0] >= '0' && prefix[0] <= '9') fail("must not start with a digit");
    if (prefix.rfind("pg_", 0) == 0) fail("must not start with pg_ (reserved by PostgreSQL)");
}

Identity identify(std::string_view prefix, std::string_view branch, std::optional<int> pr) {
    check_prefix(prefix);
    if (branch.find('\0') != std::string_view::npos) throw Error(ErrorKind::usage, "a branch name must not hold a NUL byte");
    Identity id;
    id.branch = branch;
    id.pr = pr;
    std::string key;
    if (pr) {
        if (*pr < 1) throw Error(ErrorKind::usage, "a pull request number must be 1 or more");
        id.name = "pr-" + std::to_string(*pr);
        key = "pr_" + std::to_string(*pr);
    } else {
        if (branch.empty()) throw Error(ErrorKind::usage, "an environment needs a branch or a pull request number");
        if (is_pr_name(branch)) {
            throw Error(ErrorKind::usage, "the branch name \"" + std::string(branch) +
                                              "\" is reserved for pull request environments; pass --pr with it");
        }
        id.name = branch;
        key = branch_key(branch, max_base_bytes - prefix.size());
    }
    id.base_schema = std::string(prefix) + key;
    id.role = id.base_schema;
    return id;
}

std::string group_role(std::string_view prefix) { return std::string(prefix) + "_environments"; }

}  // namespace ece::env
