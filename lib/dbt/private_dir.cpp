#include "dbt/private_dir.hpp"

#include <cstdlib>
#include <string>

#include "core/error.hpp"

namespace ece::dbt {

PrivateDir::PrivateDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "ece-dbt-XXXXXX").string();
    if (!::mkdtemp(pattern.data()))
        throw Error(ErrorKind::external, "cannot create a private temporary directory under " +
                                             std::filesystem::temp_directory_path().string());
    path_ = pattern;
}

PrivateDir::~PrivateDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

}  // namespace ece::dbt
