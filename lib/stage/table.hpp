#pragma once
// What a staged table is declared as. One struct for both ways of declaring it: ece.yml's stage.tables (read by
// lib/config) and `ece-stage load --table NAME=PATH` (parsed here into the same struct).
#include <string>
#include <vector>

#include "config/config.hpp"

namespace ece::stage {

// How the CSV file is written (header, delimiter, quote, escape, null string, gzip). Defaults follow RFC 4180 and
// PostgreSQL's CSV format.
using CsvOptions = config::CsvOptions;

// One table to stage: name (the source table dbt reads), source (local path or https URL), declared column types
// (others are inferred), primary key (checked before the table becomes visible), CSV options, and the line of
// ece.yml that declared it (unset for --table).
using TableDecl = config::StagedTable;

// How a local file's rows travel to PostgreSQL. binary: re-encoded on the client (see binary.hpp), when every
// column type allows; csv: as they are; automatic: binary where it pays (see detail::wires_for).
enum class CopyFormat { automatic, binary, csv };

// Parses "NAME=PATH" as given to `ece-stage load --table`; throws ece::Error(usage) when malformed.
TableDecl parse_table_flag(const std::string& flag);

// Parses "TABLE.COLUMN=TYPE" (`--type`) and "TABLE=col[,col]" (`--pk`) into the table of that name in tables;
// throws ece::Error(usage) when malformed or when no such table is given.
void apply_type_flag(std::vector<TableDecl>& tables, const std::string& flag);
void apply_primary_key_flag(std::vector<TableDecl>& tables, const std::string& flag);

// True when the source is read through gzip: csv.gzip when set, otherwise a ".gz" extension (of a URL's path too).
bool is_gzip(const TableDecl& table);

// True when the source is an https:// (or http://) URL rather than a local path.
bool is_url(const std::string& source);

// Makes a relative local path absolute against root (where ece.yml is); URLs and absolute paths stay.
void resolve_source(TableDecl& table, const std::string& root);

}  // namespace ece::stage
