#include "demo_data.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include "stage/scan.hpp"
#include "support.hpp"

namespace ece::demo {
namespace {

std::vector<std::vector<std::string>> rows_of(const std::filesystem::path& path) {
    // The generator writes quotes only around icd10 descriptions, which hold one comma and no quote.
    std::vector<std::vector<std::string>> rows;
    std::istringstream in(test::read_file(path));
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
        std::vector<std::string> fields;
        std::string field;
        bool quoted = false;
        for (char c : line) {
            if (c == '"') quoted = !quoted;
            else if (c == ',' && !quoted) fields.push_back(std::exchange(field, {}));
            else field += c;
        }
        fields.push_back(field);
        rows.push_back(fields);
    }
    return rows;
}

class DemoData : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new test::TempDir();
        written_ = generate(dir_->path() / "a", {.scale = 0.001, .seed = 7});
    }
    static void TearDownTestSuite() { delete dir_; }
    static test::TempDir* dir_;
    static std::vector<WrittenTable> written_;
};
test::TempDir* DemoData::dir_ = nullptr;
std::vector<WrittenTable> DemoData::written_;

TEST_F(DemoData, SameSeedSameBytesWhateverTheThreads) {
    auto again = generate(dir_->path() / "b", {.scale = 0.001, .seed = 7, .threads = 1});
    auto other = generate(dir_->path() / "c", {.scale = 0.001, .seed = 8, .tables = {"patients"}});
    ASSERT_EQ(again.size(), 4u);
    for (std::size_t k = 0; k < 4; ++k) {
        EXPECT_EQ(test::read_file(written_[k].path), test::read_file(again[k].path)) << written_[k].name;
    }
    EXPECT_NE(test::read_file(written_[0].path), test::read_file(other[0].path));
}

TEST_F(DemoData, RowCountsAndColumnsMatchTheDbtSources) {
    auto counts = demo_counts(0.001);
    EXPECT_EQ(counts.patients, 10'000u);
    EXPECT_EQ(counts.providers, 8'027u);
    EXPECT_EQ(counts.diagnoses, 100'000u);
    EXPECT_EQ(counts.icd10, 71'704u);
    std::map<std::string, std::string> expected_types{
        {"patients", "patid:bigint sex:text birth_year:bigint "},
        {"icd10", "code:text description:text chapter:text "},
        {"providers", "npi:bigint entity_type:bigint specialty:text state:text "},
        {"diagnoses", "patid:bigint npi:bigint dx_code:text dx_date:date "},
    };
    for (const auto& w : written_) {
        auto scanned = stage::scan({.name = w.name, .source = w.path.string()});
        EXPECT_EQ(scanned.rows, w.rows) << w.name;
        std::string types;
        for (const auto& c : scanned.columns) types += c.name + ":" + c.sql_type + " ";
        EXPECT_EQ(types, expected_types[w.name]);
    }
}

TEST_F(DemoData, RealisticShapes) {
    auto patients = rows_of(written_[0].path);
    std::map<std::string, int> sexes;
    std::set<std::string> patids;
    for (const auto& r : patients) {
        sexes[r[1]]++;
        patids.insert(r[0]);
    }
    EXPECT_EQ(patids.size(), patients.size());
    double female = sexes["F"] + sexes["f"], male = sexes["M"] + sexes["m"];
    EXPECT_NEAR(female / static_cast<double>(patients.size()), 0.5, 0.03);
    EXPECT_NEAR(male / static_cast<double>(patients.size()), 0.5, 0.03);

    std::set<std::string> codes, npis, observed_codes, active_npis;
    for (const auto& r : rows_of(written_[1].path)) codes.insert(r[0]);
    for (const auto& r : rows_of(written_[2].path)) {
        EXPECT_EQ(r[0].size(), 10u);
        EXPECT_TRUE(r[0][0] == '1' || r[0][0] == '2') << r[0];
        npis.insert(r[0]);
    }
    EXPECT_EQ(codes.size(), 71'704u);
    EXPECT_EQ(npis.size(), 8'027u);
    for (const auto& r : rows_of(written_[3].path)) {
        std::string code = r[2];
        for (auto& c : code) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        EXPECT_TRUE(codes.count(code)) << code;
        EXPECT_TRUE(npis.count(r[1])) << r[1];
        observed_codes.insert(code);
        active_npis.insert(r[1]);
    }
    EXPECT_EQ(observed_codes.size(), codes.size());  // 100,000 diagnoses allow every code to be seen
    EXPECT_NEAR(static_cast<double>(active_npis.size()) / static_cast<double>(npis.size()), 0.76, 0.005);
}

TEST_F(DemoData, GzipOutputHoldsTheSameCsv) {
    auto gz = generate(dir_->path() / "gz", {.scale = 0.001, .seed = 7, .gzip = true, .tables = {"diagnoses"}});
    auto plain = stage::scan({.name = "d", .source = written_[3].path.string()});
    auto zipped = stage::scan({.name = "d", .source = gz[0].path.string()});
    EXPECT_EQ(zipped.rows, plain.rows);
    EXPECT_EQ(zipped.data_bytes, plain.data_bytes);
    EXPECT_LT(zipped.file_bytes, plain.file_bytes / 2);
}

}  // namespace
}  // namespace ece::demo
