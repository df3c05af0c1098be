#pragma once
// A fresh directory only the current user can enter (mkdtemp: 0700), removed with its contents on destruction.
// Holds what must not be seen by others: dbt's profiles.yml and HOME, production manifests fetched for --state.
// Named ece-dbt-<pid>-XXXXXX: creating one first removes those of this user whose process no longer exists (left by
// an ece killed with SIGKILL).
#include <filesystem>

namespace ece::dbt {

class PrivateDir {
public:
    PrivateDir();
    ~PrivateDir();
    PrivateDir(const PrivateDir&) = delete;
    PrivateDir& operator=(const PrivateDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace ece::dbt
