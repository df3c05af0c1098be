#include "stage/table.hpp"

#include "core/error.hpp"

namespace ece::stage {

TableDecl parse_table_flag(const std::string& flag) {
    auto eq = flag.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == flag.size()) {
        throw Error(ErrorKind::usage, "expected --table NAME=PATH, got \"" + flag + "\"");
    }
    TableDecl table;
    table.name = flag.substr(0, eq);
    table.source = flag.substr(eq + 1);
    return table;
}

bool is_gzip(const TableDecl& table) {
    if (table.csv.gzip) return *table.csv.gzip;
    const auto& s = table.source;
    return s.size() > 3 && s.compare(s.size() - 3, 3, ".gz") == 0;
}

}  // namespace ece::stage
