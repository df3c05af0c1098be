#pragma once
// The CSV record scanner behind scan(): one state machine that validates RFC 4180 records, counts physical lines,
// feeds every field to the type inference and marks record boundaries. Internal to lib/stage.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "stage/scan.hpp"
#include "stage/table.hpp"
#include "stage/types.hpp"

namespace ece::stage::detail {

// Bytes a buffer given to CsvParser::parse must have readable (any value) beyond its end.
inline constexpr std::size_t parse_padding = 64;

class CsvParser {
public:
    struct Settings {
        std::string file;             // for error messages
        CsvOptions csv;
        std::map<std::string, std::string> declared;  // column types
        bool infer = true;            // false: only find records
        bool check_utf8 = true;
        std::uint64_t chunk_bytes = 64ull << 20;
        std::uint64_t first_line = 1;  // line number of the first byte
        bool data_only = false;        // the input starts after the header (a chunk)
        std::size_t columns = 0;       // with data_only: the number of columns
    };
    explicit CsvParser(Settings settings);

    // Parses the complete records in data[0, size); returns how many bytes they take. The rest (one partial
    // record) must be passed again, followed by more data. With at_end, everything is consumed.
    std::size_t parse(const char* data, std::size_t size, bool at_end);

    // The columns' names once the header (without one: the first record) is complete; empty before.
    const std::vector<std::string>& column_names() const { return in_header_ || discovering_ ? no_names_ : names_; }

    // Finishes the scan: columns with their types, chunks. Call after parse(..., at_end = true).
    void finish(ScanResult& result);

    // While parsing: the data records so far, the chunks complete so far, and the columns with the types every
    // value so far fits (what finish() would say if the file ended here; empty before the header is complete).
    std::uint64_t records() const { return records_; }
    const std::vector<Chunk>& chunks() const { return chunks_; }
    std::vector<Column> columns() const;

private:
    void end_field(const char* begin, const char* end, bool quoted, bool plain, std::uint64_t record_line);
    void end_record(std::uint64_t end_offset, std::uint64_t record_line, std::uint64_t next_line);
    void take_header_field(std::string_view raw, bool quoted, std::uint64_t line);
    void add_column(std::string name);
    void forget_columns();
    // Throws ece::Error(input) "file:line: column NAME: message" (the column when index names one).
    [[noreturn]] void fail(std::uint64_t line, const std::string& message, std::size_t column = SIZE_MAX) const;

    Settings s_;
    std::uint64_t line_;                // physical line at the parse position
    std::uint64_t consumed_ = 0;        // bytes before the current buffer
    std::uint64_t records_ = 0;         // data records complete
    bool in_header_;
    bool discovering_;                  // no header: the first record decides the number of columns
    std::uint64_t data_end_ = 0;        // offset just past the last complete record
    std::size_t field_index_ = 0;

    std::vector<std::string> names_;
    const std::vector<std::string> no_names_{};
    std::vector<TypeSet> candidates_;       // per column: types still possible
    std::vector<DeclaredCheck> checks_;     // per column: declared type checks
    std::vector<std::uint8_t> is_declared_;

    std::vector<Chunk> chunks_;
    Chunk current_{};
};

}  // namespace ece::stage::detail
