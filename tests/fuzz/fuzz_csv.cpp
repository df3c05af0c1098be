// libFuzzer target: lib/stage's CSV scan and type inference (the one pass over every staged file). The first two
// bytes choose the CSV options, declared types and where the data is cut into blocks; the rest is the file. Any
// input must give a ScanResult or an ece::Error, and the result must not depend on how the data arrived in blocks:
// parsed in one piece and in three, rows, columns, types and chunks are the same, and the chunks cover every record.
// Every fourth input also goes through scan() from a file (the reader and hashing around the parser).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "stage/csv_parser.hpp"
#include "stage/scan.hpp"
#include "stage/types.hpp"

namespace {

using ece::stage::ScanResult;
using ece::stage::detail::CsvParser;

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "fuzz_csv: invariant broken: %s\n", what);
    __builtin_trap();
}

// Feeds data in blocks ending at the cut points, carrying each block's partial last record, as scan() does.
std::optional<ScanResult> parse_in_blocks(const CsvParser::Settings& settings, const std::string& data,
                                          const std::vector<std::size_t>& cuts) {
    try {
        CsvParser parser(settings);
        std::string carry;
        std::size_t from = 0;
        for (std::size_t i = 0; i <= cuts.size(); ++i) {
            const std::size_t to = i < cuts.size() ? cuts[i] : data.size();
            const bool at_end = i == cuts.size();
            std::string block = carry + data.substr(from, to - from);
            const std::size_t size = block.size();
            block.resize(size + ece::stage::detail::parse_padding, '\0');
            const std::size_t used = parser.parse(block.data(), size, at_end);
            if (used > size) broken("parse consumed more than it was given");
            if (at_end && used != size) broken("parse at the end left bytes");
            carry.assign(block.data() + used, size - used);
            from = to;
        }
        ScanResult result;
        parser.finish(result);
        return result;
    } catch (const ece::Error&) {
        return std::nullopt;
    }
}

void check_chunks(const ScanResult& r) {
    std::uint64_t records = 0, next_record = 0, next_offset = 0;
    for (const auto& chunk : r.chunks) {
        if (chunk.first_record != next_record) broken("chunks skip or repeat records");
        if (chunk.records == 0) broken("empty chunk");
        if (!r.chunks.empty() && &chunk != &r.chunks.front() && chunk.offset != next_offset) broken("chunks not contiguous");
        records += chunk.records;
        next_record = chunk.first_record + chunk.records;
        next_offset = chunk.offset + chunk.bytes;
    }
    if (records != r.rows) broken("chunks do not cover every record");
    if (next_offset > r.data_bytes) broken("chunk beyond the data");
}

bool same(const ScanResult& a, const ScanResult& b) {
    if (a.rows != b.rows || a.lines != b.lines || a.data_bytes != b.data_bytes) return false;
    if (a.columns.size() != b.columns.size() || a.chunks.size() != b.chunks.size()) return false;
    for (std::size_t i = 0; i < a.columns.size(); ++i)
        if (a.columns[i].name != b.columns[i].name || a.columns[i].sql_type != b.columns[i].sql_type) return false;
    for (std::size_t i = 0; i < a.chunks.size(); ++i)
        if (a.chunks[i].offset != b.chunks[i].offset || a.chunks[i].records != b.chunks[i].records) return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    if (size < 2) return 0;
    const std::uint8_t flags = bytes[0], cut = bytes[1];
    const std::string data(reinterpret_cast<const char*>(bytes) + 2, size - 2);

    CsvParser::Settings settings;
    settings.file = "fuzz.csv";
    settings.csv.header = (flags & 1) == 0;
    const char delimiters[] = {',', ';', '\t', '|'};
    settings.csv.delimiter = delimiters[(flags >> 1) & 3];
    settings.csv.quote = (flags & 8) ? '\'' : '"';
    settings.csv.escape = (flags & 16) ? '\\' : settings.csv.quote;
    settings.csv.null_string = (flags & 32) ? "NULL" : "";
    if (flags & 64) settings.declared = {{"a", "integer"}, {"b", "date"}, {"c", "numeric(10,2)"}, {"d", "boolean"}};
    settings.chunk_bytes = 16 + cut % 64;  // small chunks: many boundaries

    const auto whole = parse_in_blocks(settings, data, {});
    std::vector<std::size_t> cuts;
    if (!data.empty()) {
        cuts.push_back(cut % (data.size() + 1));
        cuts.push_back(cuts[0] + (data.size() - cuts[0]) / 2);
    }
    const auto pieces = parse_in_blocks(settings, data, cuts);
    if (whole.has_value() != pieces.has_value()) broken("accepted in one piece but not in blocks (or the reverse)");
    if (whole) {
        check_chunks(*whole);
        if (!same(*whole, *pieces)) broken("result depends on the block boundaries");
    }

    if ((flags & 128) && (cut & 3) == 0) {
        static const std::string file = "/tmp/fuzz_csv_" + std::to_string(::getpid()) + ".csv";
        std::ofstream(file, std::ios::binary | std::ios::trunc) << data;
        ece::stage::TableDecl table;
        table.name = "t";
        table.source = file;
        table.csv = settings.csv;
        table.csv.gzip = false;
        table.column_types = settings.declared;
        try {
            const ScanResult scanned = ece::stage::scan(table, {.chunk_bytes = settings.chunk_bytes});
            check_chunks(scanned);
            if (scanned.sha256.size() != 64) broken("hash is not hex SHA-256");
        } catch (const ece::Error&) {
        }
    }
    // The type checks on one raw field.
    const std::string_view field(data.data(), std::min<std::size_t>(data.size(), 40));
    const auto fits = ece::stage::fitting_types(field, ece::stage::all_types);
    if (!(fits & ece::stage::type_text)) broken("text does not fit");
    for (const char* type : {"smallint", "integer", "bigint", "date", "timestamp", "boolean", "numeric", "real"}) {
        const auto check = ece::stage::declared_check(type);
        if (check.type != ece::stage::type_text) ece::stage::passes(check, field);
    }
    return 0;
}
