#include "stage/table.hpp"

#include <filesystem>

#include "core/error.hpp"

namespace ece::stage {
namespace {

std::vector<std::string> split_commas(const std::string& text) {
    std::vector<std::string> out;
    for (std::size_t start = 0; start <= text.size();) {
        auto comma = text.find(',', start);
        if (comma == std::string::npos) comma = text.size();
        out.push_back(text.substr(start, comma - start));
        start = comma + 1;
    }
    return out;
}

TableDecl& table_named(std::vector<TableDecl>& tables, const std::string& name, const std::string& flag) {
    for (auto& t : tables)
        if (t.name == name) return t;
    throw Error(ErrorKind::usage, flag + ": no table \"" + name + "\" is declared in ece.yml or given with --table");
}

}  // namespace

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

void apply_type_flag(std::vector<TableDecl>& tables, const std::string& flag) {
    auto dot = flag.find('.'), eq = flag.find('=');
    if (dot == std::string::npos || eq == std::string::npos || dot == 0 || dot + 1 >= eq || eq + 1 == flag.size())
        throw Error(ErrorKind::usage, "expected --type TABLE.COLUMN=TYPE, got \"" + flag + "\"");
    table_named(tables, flag.substr(0, dot), "--type " + flag).column_types[flag.substr(dot + 1, eq - dot - 1)] =
        flag.substr(eq + 1);
}

void apply_primary_key_flag(std::vector<TableDecl>& tables, const std::string& flag) {
    auto eq = flag.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == flag.size())
        throw Error(ErrorKind::usage, "expected --pk TABLE=col[,col], got \"" + flag + "\"");
    auto columns = split_commas(flag.substr(eq + 1));
    for (const auto& c : columns)
        if (c.empty()) throw Error(ErrorKind::usage, "--pk " + flag + ": empty column name");
    table_named(tables, flag.substr(0, eq), "--pk " + flag).primary_key = columns;
}

bool is_url(const std::string& source) {
    return source.rfind("https://", 0) == 0 || source.rfind("http://", 0) == 0;
}

bool is_gzip(const TableDecl& table) {
    if (table.csv.gzip) return *table.csv.gzip;
    std::string s = table.source;
    if (is_url(s)) s = s.substr(0, s.find_first_of("?#"));
    return s.size() > 3 && s.compare(s.size() - 3, 3, ".gz") == 0;
}

void resolve_source(TableDecl& table, const std::string& root) {
    if (is_url(table.source) || root.empty()) return;
    std::filesystem::path path(table.source);
    if (path.is_relative()) table.source = (std::filesystem::path(root) / path).lexically_normal().string();
}

}  // namespace ece::stage
