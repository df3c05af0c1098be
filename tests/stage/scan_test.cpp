#include "stage/scan.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>

#include "core/error.hpp"
#include "stage/types.hpp"
#include "support.hpp"

namespace ece::stage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class Scan : public ::testing::Test {
protected:
    TableDecl write(const std::string& name, const std::string& content) {
        auto path = dir_ / name;
        std::ofstream(path, std::ios::binary) << content;
        return TableDecl{.name = "t", .source = path.string()};
    }
    std::string error_of(const TableDecl& table) {
        try {
            scan(table);
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::input);
            return e.what();
        }
        ADD_FAILURE() << "no error";
        return {};
    }
    std::vector<std::string> types(const ScanResult& r) {
        std::vector<std::string> out;
        for (const auto& c : r.columns) out.push_back(c.name + ":" + c.sql_type);
        return out;
    }
    test::TempDir dir_;
};

TEST_F(Scan, InfersNarrowestTypeOverWholeFile) {
    auto t = write("a.csv",
                   "id,amount,ratio,flag,day,at,label,empty\n"
                   "1,1.5,1e3,true,2024-02-29,2024-01-01 10:00:00,x,\n"
                   "2,2,NaN,F,2023-12-31,2024-01-01T10:00,y,\n"
                   "3,,0.5,yes,,2024-01-01,12,\n");
    auto r = scan(t);
    EXPECT_THAT(types(r), ElementsAre("id:bigint", "amount:numeric", "ratio:double precision", "flag:boolean",
                                      "day:date", "at:timestamp", "label:text", "empty:text"));
    EXPECT_EQ(r.rows, 3u);
    EXPECT_EQ(r.lines, 4u);
}

TEST_F(Scan, NarrowTypeWidensOnLaterValue) {
    // bigint until the last row, which overflows int64; a bad date turns the column to text.
    auto t = write("b.csv", "n,d\n1,2024-01-01\n9223372036854775807,2023-02-29\n9223372036854775808,2020-02-29\n");
    EXPECT_THAT(types(scan(t)), ElementsAre("n:numeric", "d:text"));
}

TEST_F(Scan, QuotedValuesFitTypesButQuotedEmptyIsText) {
    auto t = write("c.csv", "a,b\n\"12\",\"\"\n\"13\",\n");
    EXPECT_THAT(types(scan(t)), ElementsAre("a:bigint", "b:text"));
}

TEST_F(Scan, DeclaredTypesOverrideAndAreChecked) {
    auto t = write("d.csv", "patid,birth_year\n1,1950\n2,19x0\n");
    t.column_types = {{"patid", "text"}};
    auto r = scan(t);
    EXPECT_THAT(types(r), ElementsAre("patid:text", "birth_year:text"));
    t.column_types = {{"birth_year", "integer"}};
    EXPECT_EQ(error_of(t), t.source + ":3: column birth_year: invalid input syntax for type integer: \"19x0\"");
}

TEST_F(Scan, DeclaredIntegerRange) {
    auto t = write("e.csv", "n\n2147483647\n2147483648\n");
    t.column_types = {{"n", "integer"}};
    EXPECT_EQ(error_of(t), t.source + ":3: column n: value \"2147483648\" is out of range for type integer");
}

TEST_F(Scan, QuotedNewlinesCountPhysicalLines) {
    auto t = write("f.csv", "a,b\n\"x\ny\",1\n\"p\"\"q\",2\nz,bad\"\n");
    EXPECT_EQ(error_of(t), t.source + ":5: column b: quote inside an unquoted field");
}

TEST_F(Scan, UnterminatedQuoteNamesTheLineItStarts) {
    auto t = write("g.csv", "a,b\n1,2\n3,\"open\n4,5\n");
    EXPECT_EQ(error_of(t), t.source + ":3: column b: unterminated quoted field");
}

TEST_F(Scan, WrongColumnCount) {
    auto t = write("h.csv", "a,b\n1,2\n3\n");
    EXPECT_EQ(error_of(t), t.source + ":3: expected 2 columns, found 1");
    auto u = write("h2.csv", "a,b\n1,2,3\n");
    EXPECT_EQ(error_of(u), u.source + ":2: expected 2 columns, found 3");
}

TEST_F(Scan, BadUtf8) {
    auto t = write("i.csv", "a,b\n1,caf\xc3\xa9\n2,caf\xe9!\n");
    EXPECT_EQ(error_of(t), t.source + ":3: column b: invalid byte sequence for encoding \"UTF8\": 0xe9");
}

TEST_F(Scan, TextAfterClosingQuote) {
    auto t = write("j.csv", "a\n\"x\"y\n");
    EXPECT_EQ(error_of(t), t.source + ":2: column a: unexpected character after a closing quote");
}

TEST_F(Scan, CrLfAndNoFinalNewline) {
    auto t = write("k.csv", "a,b\r\n1,x\r\n2,\"y\"\r\n3,z");
    auto r = scan(t);
    EXPECT_EQ(r.rows, 3u);
    EXPECT_EQ(r.lines, 4u);
    EXPECT_THAT(types(r), ElementsAre("a:bigint", "b:text"));
    EXPECT_EQ(r.chunks.back().offset + r.chunks.back().bytes, r.data_bytes);
}

TEST_F(Scan, OptionsDelimiterNullNoHeader) {
    auto t = write("l.csv", "1|NA|'a|b'\n2|3|'it\\'s'\n");
    t.csv = CsvOptions{.header = false, .delimiter = '|', .quote = '\'', .escape = '\\', .null_string = "NA"};
    auto r = scan(t);
    EXPECT_THAT(types(r), ElementsAre("column1:bigint", "column2:bigint", "column3:text"));
    EXPECT_EQ(r.rows, 2u);
}

TEST_F(Scan, HashIsSha256OfStoredBytes) {
    auto t = write("m.csv", "a\n1\n");
    // printf 'a\n1\n' | sha256sum
    EXPECT_EQ(scan(t).sha256, "309b0e45a73d3fc5325e2b6ed0a01ef8b9cde6b05a5633c1f893f970d52bfddc");
    EXPECT_EQ(hash_file(t.source), scan(t).sha256);
}

TEST_F(Scan, GzipIsStreamedAndHashedAsStored) {
    std::string csv = "id,name\n";
    for (int i = 0; i < 200000; ++i) csv += std::to_string(i) + ",name " + std::to_string(i) + "\n";
    auto path = (dir_ / "n.csv.gz").string();
    gzFile gz = gzopen(path.c_str(), "wb1");
    gzwrite(gz, csv.data(), static_cast<unsigned>(csv.size()));
    gzclose(gz);
    TableDecl t{.name = "n", .source = path};
    auto r = scan(t);
    EXPECT_EQ(r.rows, 200000u);
    EXPECT_EQ(r.data_bytes, csv.size());
    EXPECT_EQ(r.file_bytes, std::filesystem::file_size(path));
    EXPECT_EQ(r.sha256, hash_file(path));
    EXPECT_THAT(types(r), ElementsAre("id:bigint", "name:text"));
}

// Records straddle the 1 MB read blocks, one record is longer than the carry headroom, and quoted fields
// hold newlines: chunks must still start exactly on records, with the right line numbers.
TEST_F(Scan, ChunksFallOnRecordBoundaries) {
    std::string csv = "id,note\n";
    std::uint64_t line = 2;
    std::vector<std::uint64_t> record_offsets, record_lines;
    for (int i = 0; i < 60000; ++i) {
        record_offsets.push_back(csv.size());
        record_lines.push_back(line);
        std::string note = (i % 7 == 0) ? "\"multi\nline, \"\"quoted\"\"\"" : "plain" + std::to_string(i);
        if (i == 30000) note = std::string(100000, 'x');
        line += (i % 7 == 0) ? 2 : 1;
        csv += std::to_string(i) + "," + note + "\n";
    }
    auto t = write("o.csv", csv);
    auto r = scan(t, ScanOptions{.chunk_bytes = 100000});
    EXPECT_EQ(r.rows, 60000u);
    EXPECT_EQ(r.lines, line - 1);
    ASSERT_GT(r.chunks.size(), 10u);
    std::uint64_t expected_offset = 8, expected_record = 0;
    for (const auto& chunk : r.chunks) {
        EXPECT_EQ(chunk.offset, expected_offset);
        EXPECT_EQ(chunk.first_record, expected_record);
        EXPECT_EQ(chunk.offset, record_offsets[chunk.first_record]);
        EXPECT_EQ(chunk.first_line, record_lines[chunk.first_record]);
        expected_offset += chunk.bytes;
        expected_record += chunk.records;
    }
    EXPECT_EQ(expected_offset, csv.size());
    EXPECT_EQ(expected_record, 60000u);
}

TEST(Types, FittingTypes) {
    EXPECT_EQ(fitting_types("-12", all_types), type_bigint | type_numeric | type_double | type_text);
    EXPECT_EQ(fitting_types(".5", all_types), type_numeric | type_double | type_text);
    EXPECT_EQ(fitting_types("1.5e-3", all_types), type_double | type_text);
    EXPECT_EQ(fitting_types("2024-13-01", all_types), type_text);
    EXPECT_EQ(fitting_types("2024-01-01 23:59:59.123456", all_types), type_timestamp | type_text);
    EXPECT_EQ(fitting_types("No", all_types), type_boolean | type_text);
    EXPECT_EQ(fitting_types("1.", all_types), type_numeric | type_double | type_text);
    EXPECT_EQ(fitting_types("-", all_types), type_text);
    EXPECT_EQ(narrowest(type_bigint | type_numeric | type_text), type_bigint);
}

}  // namespace
}  // namespace ece::stage
