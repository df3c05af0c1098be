#pragma once
// What a staged table is declared as: in ece.yml (filled by the config code) or from `--table NAME=PATH`.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ece::stage {

// How the CSV file is written. Defaults follow RFC 4180 and PostgreSQL's CSV format.
struct CsvOptions {
    bool header = true;          // first record names the columns
    char delimiter = ',';
    char quote = '"';
    char escape = '"';           // inside quoted fields; equal to quote means "" is a literal quote
    std::string null_string{};   // an unquoted field equal to this is NULL (PostgreSQL's CSV default: empty)
    std::optional<bool> gzip{};  // unset: decided by the ".gz" extension
};

// One table to stage.
struct TableDecl {
    std::string name{};                               // the source table name dbt reads, e.g. "patients"
    std::string source{};                             // local path, or an https URL (later)
    std::map<std::string, std::string> column_types{};  // declared SQL types by column name; others are inferred
    std::vector<std::string> primary_key{};           // checked before the table becomes visible
    CsvOptions csv{};
};

// Parses "NAME=PATH" as given to `ece-stage load --table`; throws ece::Error(usage) when malformed.
TableDecl parse_table_flag(const std::string& flag);

// True when the source is read through gzip: csv.gzip when set, otherwise a ".gz" extension.
bool is_gzip(const TableDecl& table);

}  // namespace ece::stage
