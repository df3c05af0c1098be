#include "stage/stage.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>

#include "core/error.hpp"
#include "pg/connect.hpp"
#include "pg/lock.hpp"

#include <atomic>
#include <thread>
#include "pg_support.hpp"
#include "support.hpp"

namespace ece::stage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class StageDb : public ::testing::Test {
protected:
    void SetUp() override {
        url_ = test::fresh_database("stage");
        conn_ = pg::connect_owned(url_, "stage test");
    }
    TableDecl write(const std::string& table, const std::string& file, const std::string& content) {
        auto path = dir_ / file;
        std::ofstream(path, std::ios::binary) << content;
        return TableDecl{.name = table, .source = path.string()};
    }
    std::int64_t scalar(const std::string& sql) {
        pqxx::nontransaction tx(*conn_);
        return tx.exec1(sql)[0].as<std::int64_t>();
    }
    std::vector<std::string> content_tables() { return test::content_tables(*conn_); }
    std::string error_of(const std::function<void()>& f) {
        try {
            f();
        } catch (const Error& e) {
            return e.what();
        }
        ADD_FAILURE() << "no error";
        return {};
    }
    static std::string patients_csv(int rows, int first = 1) {
        std::string csv = "patid,sex,birth_year\n";
        for (int i = first; i < first + rows; ++i) csv += std::to_string(i) + (i % 2 ? ",F," : ",M,") + std::to_string(1900 + i % 100) + "\n";
        return csv;
    }

    test::TempDir dir_;
    std::string url_;
    std::unique_ptr<pqxx::connection> conn_;
    Environment a_{.name = "pr-1", .raw_schema = "ece_pr_1_raw"};
    Environment b_{.name = "pr-2", .raw_schema = "ece_pr_2_raw"};
};

TEST_F(StageDb, SecondEnvironmentLoadsNothingAndAddsNoBytes) {
    auto patients = write("patients", "patients.csv", patients_csv(1000));
    auto icd10 = write("icd10", "icd10.csv", "code,description\nA00,\"Cholera, unspecified\"\nB01,Varicella\n");
    auto first = stage_tables(url_, a_, {patients, icd10});
    EXPECT_TRUE(first[0].loaded);
    EXPECT_TRUE(first[1].loaded);
    auto tables = content_tables();
    auto bytes = scalar("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE nspname = 'ece_content'");

    auto second = stage_tables(url_, b_, {patients, icd10});
    EXPECT_FALSE(second[0].loaded);
    EXPECT_FALSE(second[1].loaded);
    EXPECT_EQ(second[0].content_table, first[0].content_table);
    EXPECT_EQ(content_tables(), tables);
    EXPECT_EQ(scalar("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                     "ON n.oid = c.relnamespace WHERE nspname = 'ece_content'"), bytes);
    EXPECT_EQ(scalar("SELECT count(*) FROM ece_pr_1_raw.patients"), 1000);
    EXPECT_EQ(scalar("SELECT count(*) FROM ece_pr_2_raw.patients WHERE sex = 'F'"), 500);
    EXPECT_EQ(scalar("SELECT count(*) FROM ece_pr_2_raw.icd10 WHERE description = 'Cholera, unspecified'"), 1);
    EXPECT_EQ(scalar("SELECT count(*) FROM ece.staged_usage"), 4);

    auto files = status(*conn_);
    ASSERT_EQ(files.size(), 2u);
    EXPECT_THAT(files[1].used_by, ElementsAre("pr-1 (ece_pr_1_raw.patients)", "pr-2 (ece_pr_2_raw.patients)"));
    EXPECT_EQ(files[1].rows, 1000u);
}

TEST_F(StageDb, InferredTypesBecomeColumnTypes) {
    auto t = write("events", "events.csv", "id,amount,at,ok\n1,2.50,2024-01-01 10:00:00,true\n2,,2024-02-29 00:00:00,false\n");
    stage_tables(url_, a_, {t});
    pqxx::nontransaction tx(*conn_);
    auto r = tx.exec("SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) "
                     "FROM information_schema.columns WHERE table_schema = 'ece_pr_1_raw' AND table_name = 'events'");
    EXPECT_EQ(r[0][0].as<std::string>(), "id:bigint,amount:numeric,at:timestamp without time zone,ok:boolean");
}

TEST_F(StageDb, ChangedFileLoadsOnlyThatOneAndRepointsTheView) {
    auto patients = write("patients", "patients.csv", patients_csv(100));
    auto icd10 = write("icd10", "icd10.csv", "code\nA00\n");
    stage_tables(url_, a_, {patients, icd10});
    auto changed = write("patients", "patients2.csv", patients_csv(150));
    auto staged = stage_tables(url_, a_, {changed, icd10});
    EXPECT_TRUE(staged[0].loaded);
    EXPECT_FALSE(staged[1].loaded);
    EXPECT_EQ(scalar("SELECT count(*) FROM ece_pr_1_raw.patients"), 150);
    EXPECT_EQ(content_tables().size(), 3u);
    // The first patients table is no longer used: gc drops exactly that one.
    auto dropped = gc(*conn_);
    ASSERT_EQ(dropped.size(), 1u);
    EXPECT_THAT(dropped[0], HasSubstr("patients_"));
    EXPECT_EQ(content_tables().size(), 2u);
    EXPECT_EQ(scalar("SELECT count(*) FROM ece_pr_1_raw.patients"), 150);
}

// Many chunks over three connections, a gzip file with quoted newlines: every row arrives exactly once. About
// 5.6 MB inflated, so six chunks of 1 MB (the smallest), two in each connection's COPY.
TEST_F(StageDb, ParallelChunksLoadEveryRowOnce) {
    std::string csv = "id,note\n";
    long long sum = 0;
    for (int i = 1; i <= 400000; ++i) {
        csv += std::to_string(i) + (i % 10 == 0 ? ",\"two\nlines, \"\"quoted\"\"\"\n" : ",plain\n");
        sum += i;
    }
    ASSERT_GT(csv.size(), 5u << 20);
    auto path = (dir_ / "notes.csv.gz").string();
    gzFile gz = gzopen(path.c_str(), "wb1");
    gzwrite(gz, csv.data(), static_cast<unsigned>(csv.size()));
    gzclose(gz);
    TableDecl t{.name = "notes", .source = path, .primary_key = {"id"}};
    auto staged = stage_tables(url_, a_, {t}, StageOptions{.connections = 3});
    EXPECT_EQ(staged[0].rows, 400000u);
    EXPECT_EQ(scalar("SELECT count(*) FROM ece_pr_1_raw.notes"), 400000);
    EXPECT_EQ(scalar("SELECT sum(id) FROM ece_pr_1_raw.notes"), sum);
    EXPECT_EQ(scalar("SELECT count(*) FROM ece_pr_1_raw.notes WHERE note = E'two\\nlines, \"quoted\"'"), 40000);
}

// PostgreSQL rejects a value in a late chunk: the error names the file's line and the column, and the
// environment keeps its previous version with no table left behind.
TEST_F(StageDb, CopyErrorNamesFileLineAndChangesNothing) {
    auto good = write("codes", "codes.csv", "code,label\nA00,x\n");
    good.column_types = {{"code", "varchar(3)"}};
    stage_tables(url_, a_, {good});
    auto before = content_tables();

    // About 3.9 MB, so four chunks of 1 MB (the smallest), all in one connection's COPY: the rejected record is in
    // the fourth, and PostgreSQL counts rows (binary) or lines (CSV) from the first. Record r (0-based) starts on
    // line 2 + r + the multi-line records before it (those with r % 3 != 0).
    int records = 300000, record = 280000;
    int line = 2 + record + (record - (record + 2) / 3);
    std::string csv = "code,label\n";
    for (int i = 0; i < records; ++i) {
        std::string code = i == record ? "TOOLONG" : (i % 3 ? "A01" : "B02");
        csv += code + (i % 3 ? ",\"multi\nline\"\n" : ",y\n");
    }
    ASSERT_GT(csv.size(), 3u << 20);
    auto bad = write("codes", "codes2.csv", csv);
    bad.column_types = {{"code", "varchar(3)"}};
    for (bool binary : {true, false}) {
        auto message = error_of([&] {
            stage_tables(url_, a_, {bad},
                         StageOptions{.connections = 1, .copy_format = binary ? CopyFormat::binary : CopyFormat::csv});
        });
        EXPECT_EQ(message, bad.source + ":" + std::to_string(line) +
                               ": column code: value too long for type character varying(3)")
            << (binary ? "binary COPY" : "CSV COPY");
    }
    EXPECT_EQ(content_tables(), before);
    EXPECT_EQ(scalar("SELECT count(*) FROM ece_pr_1_raw.codes"), 1);
}

TEST_F(StageDb, PrimaryKeyViolationKeepsPreviousVersion) {
    auto good = write("patients", "p.csv", patients_csv(10));
    good.primary_key = {"patid"};
    stage_tables(url_, a_, {good});
    auto before = content_tables();
    auto dup = write("patients", "p2.csv", patients_csv(10) + "5,F,1950\n");
    dup.primary_key = {"patid"};
    auto message = error_of([&] { stage_tables(url_, a_, {dup}); });
    EXPECT_THAT(message, HasSubstr("p2.csv: primary key (patid) does not hold: Key (patid)=(5) is duplicated."));
    EXPECT_EQ(content_tables(), before);
    EXPECT_EQ(scalar("SELECT count(*) FROM ece_pr_1_raw.patients"), 10);
}

TEST_F(StageDb, MalformedCsvFailsBeforeTouchingTheDatabase) {
    auto bad = write("patients", "bad.csv", "patid,birth_year\n1,1950\n2,19x0\n");
    bad.column_types = {{"birth_year", "integer"}};
    auto message = error_of([&] { stage_tables(url_, a_, {bad}); });
    EXPECT_EQ(message, bad.source + ":3: column birth_year: invalid input syntax for type integer: \"19x0\"");
    EXPECT_THAT(content_tables(), IsEmpty());
}

// Binary COPY (the encoder on the client) and CSV COPY (PostgreSQL's input functions) give the same values, for
// every inferred type, the declared ones the encoder knows, NULLs, quoting and the edges of each type.
TEST_F(StageDb, BinaryCopyGivesTheSameValuesAsCsv) {
    std::string csv =
        "id,small,big,amount,ratio,day,at,ok,label,code\n"
        "1,-32768,9223372036854775807,-0.0001,1e-5,0001-01-01,2024-02-29 23:59:59.999999,true,\"a,b\",A00\n"
        "2,32767,-9223372036854775808,12345678.90,NaN,1999-12-31,1970-01-01T00:00,f,\"line\nbreak \"\"q\"\"\",B1\n"
        "3,0,0,0,-Infinity,2000-01-01,2000-01-01 00:00:00.5,YES,,\n"
        "4,,,-0,,,,,\"\",C\n"
        "5,7,+42,+10000.0001,-1.5E+300,2024-01-01,1899-12-31 12:34:56,N,ünïcødé,D\n";
    auto t = write("types", "types.csv", csv);
    t.column_types = {{"small", "smallint"}, {"code", "varchar(3)"}};
    auto rows = [&] {
        pqxx::nontransaction tx(*conn_);
        std::string out;
        for (const auto& r : tx.exec("SELECT t::text FROM ece_pr_1_raw.types t ORDER BY id")) out += r[0].as<std::string>() + "\n";
        return out;
    };
    stage_tables(url_, a_, {t}, StageOptions{.copy_format = CopyFormat::binary});
    std::string binary = rows();
    {
        pqxx::work tx(*conn_);
        tx.exec0("DROP SCHEMA ece_pr_1_raw CASCADE");
        tx.commit();
    }
    ASSERT_EQ(gc(*conn_).size(), 1u);
    stage_tables(url_, a_, {t}, StageOptions{.copy_format = CopyFormat::csv});
    EXPECT_EQ(binary, rows());
    EXPECT_THAT(binary, HasSubstr("(1,-32768,9223372036854775807,-0.0001,1e-05,0001-01-01,\"2024-02-29 23:59:59.999999\",t,\"a,b\",A00)"));
    EXPECT_THAT(binary, HasSubstr("(4,,,0,,,,,\"\",C)"));
}

// A value the encoder cannot convert names its line like any other error.
TEST_F(StageDb, BinaryCopyErrorsNameTheLine) {
    auto ok = write("days", "days_ok.csv", "id,day\n1,2024-01-01\n2,0000-01-01\n");
    auto message = error_of([&] { stage_tables(url_, a_, {ok}); });
    EXPECT_EQ(message, ok.source + ":3: column day: date/time field value out of range: \"0000-01-01\"");
    EXPECT_THAT(content_tables(), IsEmpty());
}

// A staging holds the gc lock shared from its load until its views point at the new table: gc waits for it.
TEST_F(StageDb, GcWaitsForAStagingInProgress) {
    auto t = write("patients", "p.csv", patients_csv(10));
    stage_tables(url_, a_, {t});
    auto staging = pg::connect_owned(url_, "a staging in progress");
    pqxx::nontransaction(*staging).exec_params("SELECT pg_advisory_lock_shared($1)", pg::AdvisoryLock::key_for("stage:gc"));
    std::atomic<bool> done{false};
    std::thread collector([&] {
        auto conn = pg::connect_owned(url_, "gc");
        gc(*conn);
        done = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    EXPECT_FALSE(done);
    pqxx::nontransaction(*staging).exec_params("SELECT pg_advisory_unlock_shared($1)", pg::AdvisoryLock::key_for("stage:gc"));
    collector.join();
    EXPECT_TRUE(done);
}

TEST_F(StageDb, GcDropsLeftoversOfInterruptedLoads) {
    auto t = write("patients", "p.csv", patients_csv(10));
    stage_tables(url_, a_, {t});
    {
        pqxx::work tx(*conn_);
        tx.exec0("CREATE TABLE ece_content.loading_patients_dead (x int)");
        tx.commit();
    }
    auto dropped = gc(*conn_);
    EXPECT_THAT(dropped, ElementsAre("loading_patients_dead"));
    EXPECT_EQ(content_tables().size(), 1u);
}

// A staging drops the loading tables of processes that died mid-load, but not one a live staging holds (its session's
// advisory lock on the table), so a re-run after kill -9 leaves nothing behind even before gc.
TEST_F(StageDb, StagingDropsAbandonedLoadingTablesButNotALiveOnes) {
    stage_tables(url_, a_, {write("patients", "p.csv", patients_csv(10))});
    auto live = pg::connect_owned(url_, "a staging still loading");
    {
        pqxx::work tx(*conn_);
        tx.exec0("CREATE TABLE ece_content.loading_patients_dead (x int)");
        tx.exec0("CREATE TABLE ece_content.loading_patients_live (x int)");
        tx.commit();
        pqxx::nontransaction(*live).exec_params(
            "SELECT pg_advisory_lock($1)", pg::AdvisoryLock::key_for("stage:loading:loading_patients_live"));
    }
    stage_tables(url_, b_, {write("patients", "p.csv", patients_csv(10))});
    const auto tables = content_tables();
    EXPECT_THAT(tables, testing::Not(testing::Contains("loading_patients_dead")));
    EXPECT_THAT(tables, testing::Contains("loading_patients_live"));
    EXPECT_EQ(tables.size(), 2u);  // the content table and the live loading table
}

// The COPY starts while the scan goes on, with the types the first block suggests. A value near the end that
// widens a type (bigint to text here) discards the rows loaded ahead and loads again: the table has the final type,
// every row once, and no loading table is left behind.
TEST_F(StageDb, TypeWideningNearTheEndLoadsAgainWithTheFinalType) {
    std::string csv = "id,code,amount\n";
    const int rows = 150000;  // ~3 MB: several 1 MB blocks and chunks before the widening
    for (int i = 1; i < rows; ++i) csv += std::to_string(i) + "," + std::to_string(i % 977) + "," + std::to_string(i % 13) + "\n";
    csv += std::to_string(rows) + ",X1,2.5\n";
    auto t = write("codes", "codes.csv", csv);
    auto staged = stage_tables(url_, a_, {t}, StageOptions{.connections = 2, .chunk_bytes = 1 << 20});
    EXPECT_EQ(staged[0].rows, static_cast<std::uint64_t>(rows));
    EXPECT_EQ(content_tables().size(), 1u);
    pqxx::nontransaction tx(*conn_);
    auto types = tx.exec("SELECT column_name || ' ' || data_type FROM information_schema.columns "
                         "WHERE table_schema = 'ece_pr_1_raw' AND table_name = 'codes' ORDER BY ordinal_position");
    ASSERT_EQ(types.size(), 3u);
    EXPECT_EQ(types[0][0].as<std::string>(), "id bigint");
    EXPECT_EQ(types[1][0].as<std::string>(), "code text");
    EXPECT_EQ(types[2][0].as<std::string>(), "amount numeric");
    EXPECT_EQ(tx.exec1("SELECT count(DISTINCT id) FROM ece_pr_1_raw.codes")[0].as<std::int64_t>(), rows);
    EXPECT_EQ(tx.exec1("SELECT sum(id) FROM ece_pr_1_raw.codes")[0].as<std::int64_t>(),
              static_cast<std::int64_t>(rows) * (rows + 1) / 2);
    EXPECT_EQ(tx.exec1("SELECT code || ' ' || amount FROM ece_pr_1_raw.codes WHERE id = " + std::to_string(rows))[0]
                  .as<std::string>(),
              "X1 2.5");
    EXPECT_EQ(tx.exec1("SELECT code FROM ece_pr_1_raw.codes WHERE id = 978")[0].as<std::string>(), "1");
}

// A malformed line near the end of a file that was loading while it was scanned: the scan's error (with the line)
// is the one reported, even though PostgreSQL rejected an earlier row meanwhile, and nothing is left behind.
TEST_F(StageDb, ScanErrorNearTheEndWinsOverAnEarlierCopyErrorAndLeavesNothing) {
    std::string csv = "code,label\n";
    const int rows = 150000;
    for (int i = 0; i < rows; ++i) csv += (i == 10 ? "TOOLONG" : "A01") + std::string(",label\n");
    csv += "B02,\"unterminated\n";
    auto t = write("codes", "codes.csv", csv);
    t.column_types = {{"code", "varchar(3)"}};
    auto message = error_of([&] { stage_tables(url_, a_, {t}, StageOptions{.connections = 2}); });
    EXPECT_EQ(message, t.source + ":" + std::to_string(rows + 2) + ": column label: unterminated quoted field");
    EXPECT_THAT(content_tables(), IsEmpty());

    // Without the malformed line, PostgreSQL's error names the line of the long value.
    csv.resize(csv.size() - std::string("B02,\"unterminated\n").size());
    auto fine_but_long = write("codes", "codes2.csv", csv);
    fine_but_long.column_types = t.column_types;
    message = error_of([&] { stage_tables(url_, a_, {fine_but_long}, StageOptions{.connections = 2}); });
    EXPECT_EQ(message, fine_but_long.source + ":12: column code: value too long for type character varying(3)");
    EXPECT_THAT(content_tables(), IsEmpty());
}

// A table loaded while it was scanned is not kept when a later table of the same staging fails.
TEST_F(StageDb, RowsLoadedAheadAreDroppedWhenALaterTableFails) {
    auto big = write("patients", "p.csv", patients_csv(150000));
    auto bad = write("codes", "bad.csv", "code,n\nA00,1\nB01,\"2\n");
    auto message = error_of([&] { stage_tables(url_, a_, {big, bad}); });
    EXPECT_EQ(message, bad.source + ":3: column n: unterminated quoted field");
    EXPECT_THAT(content_tables(), IsEmpty());
}

}  // namespace
}  // namespace ece::stage
