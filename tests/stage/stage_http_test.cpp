// https sources, against the local HTTPS test server and the test cluster: streamed into COPY while hashed,
// the same content table as the same bytes from a file, and nothing left behind when the download breaks off.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>

#include "core/error.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "stage/stage.hpp"
#include "support.hpp"
#include "test_server.hpp"

namespace ece::stage {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string gzip(const std::string& data) {
    uLongf size = compressBound(static_cast<uLong>(data.size())) + 64;
    std::string out(size, '\0');
    z_stream z{};
    deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // 15 + 16: a gzip header
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

// Rows with every inferred type and quoted newlines.
std::string events_csv(int rows) {
    std::string csv = "id,amount,day,ok,note\n";
    for (int i = 1; i <= rows; ++i) {
        csv += std::to_string(i) + "," + std::to_string(i % 1000) + "." + std::to_string(i % 10) + "5,2024-0" +
               std::to_string(1 + i % 9) + "-1" + std::to_string(i % 10) + "," + (i % 2 ? "true" : "false") +
               (i % 7 == 0 ? ",\"two\nlines, \"\"quoted\"\"\"\n" : ",plain\n");
    }
    return csv;
}

class StageHttp : public ::testing::Test {
protected:
    void SetUp() override {
        url_ = test::fresh_database("stage_http");
        conn_ = pg::connect_owned(url_, "stage http test");
        options_.http.ca_file = server_.ca_file();
        options_.http.proxy_from_environment = false;
        options_.http.read_timeout = std::chrono::seconds(5);
        options_.http.retry.initial_backoff = std::chrono::milliseconds(10);
    }
    void serve(const std::string& path, const std::string& body) {
        server_.route("GET", path, [body](const test::ServerRequest&) { return test::ServerResponse{.status = 200, .body = body}; });
    }
    std::string value(const std::string& sql) {
        pqxx::nontransaction tx(*conn_);
        auto r = tx.exec(sql);
        return r.empty() || r[0][0].is_null() ? "<null>" : r[0][0].as<std::string>();
    }
    std::vector<std::string> content_tables() { return test::content_tables(*conn_); }

    test::TestServer server_;
    test::TempDir dir_;
    std::string url_;
    std::unique_ptr<pqxx::connection> conn_;
    StageOptions options_{};
    Environment a_{.name = "pr-1", .raw_schema = "ece_pr_1_raw"};
    Environment b_{.name = "pr-2", .raw_schema = "ece_pr_2_raw"};
};

TEST_F(StageHttp, StreamsTheBodyIntoCopyAndHashesItLikeTheSameFile) {
    std::string csv = events_csv(30000);
    serve("/data/events.csv", csv);
    TableDecl remote{.name = "events", .source = server_.url("/data/events.csv"), .primary_key = {"id"}};
    auto staged = stage_tables(url_, a_, {remote}, options_);
    ASSERT_EQ(staged.size(), 1u);
    EXPECT_TRUE(staged[0].loaded);
    EXPECT_EQ(staged[0].rows, 30000u);
    EXPECT_EQ(staged[0].file_bytes, csv.size());
    EXPECT_EQ(staged[0].sha256, pg::sha256_hex(csv));
    EXPECT_EQ(value("SELECT count(*) FROM ece_pr_1_raw.events"), "30000");
    EXPECT_EQ(value("SELECT count(*) FROM ece_pr_1_raw.events WHERE note = E'two\\nlines, \"quoted\"'"), "4285");
    EXPECT_EQ(value("SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) FROM "
                    "information_schema.columns WHERE table_schema = 'ece_pr_1_raw' AND table_name = 'events'"),
              "id:bigint,amount:numeric,day:date,ok:boolean,note:text");
    EXPECT_EQ(value("SELECT source FROM ece.staged_files"), server_.url("/data/events.csv"));
    EXPECT_THAT(content_tables(), ::testing::ElementsAre(staged[0].content_table));  // no loading table left

    // The same bytes from a local file are the same content: nothing is loaded.
    auto path = (dir_ / "events.csv").string();
    std::ofstream(path, std::ios::binary) << csv;
    TableDecl local{.name = "events", .source = path, .primary_key = {"id"}};
    auto again = stage_tables(url_, b_, {local}, options_);
    EXPECT_FALSE(again[0].loaded);
    EXPECT_EQ(again[0].content_table, staged[0].content_table);
}

TEST_F(StageHttp, SameContentAgainDropsTheDownloadedCopy) {
    serve("/a.csv", events_csv(500));
    TableDecl remote{.name = "events", .source = server_.url("/a.csv")};
    auto first = stage_tables(url_, a_, {remote}, options_);
    auto second = stage_tables(url_, b_, {remote}, options_);
    EXPECT_FALSE(second[0].loaded);
    EXPECT_EQ(second[0].content_table, first[0].content_table);
    EXPECT_EQ(content_tables().size(), 1u);
    EXPECT_EQ(value("SELECT count(*) FROM ece_pr_2_raw.events"), "500");
}

TEST_F(StageHttp, GzipBodyIsInflatedWhileItStreams) {
    std::string csv = events_csv(20000);
    std::string compressed = gzip(csv);
    serve("/events.csv.gz", compressed);
    TableDecl remote{.name = "events", .source = server_.url("/events.csv.gz") + "?token=abc"};
    auto staged = stage_tables(url_, a_, {remote}, options_);
    EXPECT_EQ(staged[0].rows, 20000u);
    EXPECT_EQ(staged[0].sha256, pg::sha256_hex(compressed));  // over the bytes as stored
    EXPECT_EQ(value("SELECT sum(id) FROM ece_pr_1_raw.events"), std::to_string(20000LL * 20001 / 2));
    // The query (a token, in signed URLs) is neither stored nor shown.
    EXPECT_EQ(value("SELECT source FROM ece.staged_files"), server_.url("/events.csv.gz") + "?...");
}

TEST_F(StageHttp, ACutConnectionLeavesNothingBehind) {
    std::string old = "id\n1\n";
    serve("/events.csv", old);
    stage_tables(url_, a_, {TableDecl{.name = "events", .source = server_.url("/events.csv")}}, options_);
    auto before = content_tables();

    std::string csv = events_csv(50000);
    server_.route("GET", "/events.csv", [csv](const test::ServerRequest&) {
        return test::ServerResponse{.status = 200, .body = csv, .fault = test::Fault::cut_body};
    });
    auto error = test::expect_error([&] {
        stage_tables(url_, a_, {TableDecl{.name = "events", .source = server_.url("/events.csv")}}, options_);
    });
    EXPECT_EQ(error.kind(), ErrorKind::network);
    EXPECT_THAT(error.what(), HasSubstr(server_.url("/events.csv") + ": the connection broke off after "));
    EXPECT_THAT(error.what(), HasSubstr("nothing was staged"));
    EXPECT_EQ(content_tables(), before);
    EXPECT_EQ(value("SELECT count(*) FROM ece_pr_1_raw.events"), "1");
}

TEST_F(StageHttp, HttpErrorsAndBadRowsNameTheUrl) {
    server_.route("GET", "/missing.csv", [](const test::ServerRequest&) { return test::ServerResponse::error(404, "Not Found"); });
    auto missing = test::expect_error([&] {
        stage_tables(url_, a_, {TableDecl{.name = "x", .source = server_.url("/missing.csv")}}, options_);
    });
    EXPECT_EQ(missing.where().http_status, 404);
    EXPECT_THAT(missing.what(), HasSubstr("/missing.csv"));

    // A value the scan cannot see is wrong (the declared varchar(3) is left to PostgreSQL): line of the file.
    serve("/codes.csv", "code,label\nA00,\"multi\nline\"\nA01,x\nTOOLONG,y\n");
    TableDecl codes{.name = "codes", .source = server_.url("/codes.csv"), .column_types = {{"code", "varchar(3)"}}};
    auto rejected = test::expect_error([&] { stage_tables(url_, a_, {codes}, options_); });
    EXPECT_EQ(std::string(rejected.what()),
              server_.url("/codes.csv") + ":5: column code: value too long for type character varying(3)");

    serve("/bad.csv", "id,n\n1,2\n2,\"open\n");
    auto malformed = test::expect_error([&] {
        stage_tables(url_, a_, {TableDecl{.name = "bad", .source = server_.url("/bad.csv")}}, options_);
    });
    EXPECT_THAT(malformed.what(), HasSubstr(server_.url("/bad.csv") + ":3: column n: unterminated quoted field"));
    EXPECT_THAT(content_tables(), IsEmpty());
}

}  // namespace
}  // namespace ece::stage
