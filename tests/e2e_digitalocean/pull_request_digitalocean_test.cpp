// A pull request's life on provider digitalocean, through the real `ece` binary as GitHub Actions runs it: the fake
// DigitalOcean API hands out clusters that are real PostgreSQL servers with TLS (tests/support_do), GitHub is
// FakeGitHub, real dbt builds the example project.
//   #1 opened -> its own cluster, data staged into it, the whole project built there, a comment with the cluster's
//      size and monthly cost; merged -> the cluster resized to production's size and tagged production, the old
//      production cluster deleted. #2 opened -> closed unmerged: its cluster deleted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "core/secrets.hpp"
#include "example_data.hpp"
#include "fake_digitalocean.hpp"
#include "fake_github.hpp"
#include "action_run.hpp"
#include "webhook_events.hpp"
#include "pg_support.hpp"
#include "process/process.hpp"
#include "support.hpp"

#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

namespace {

const fs::path source_dir = ECE_SOURCE_DIR;
constexpr const char* branch_size = "db-s-4vcpu-8gb";
constexpr const char* production_size = "db-s-1vcpu-2gb";

std::string sha_of(char c) { return std::string(40, c); }

class DigitalOceanPullRequest : public ::testing::Test {
protected:
    static ece::test::FakeDigitalOceanOptions real_clusters() {
        ece::test::FakeDigitalOceanOptions options;
        options.polls_until_online = 0;  // the binary really waits between polls
        options.polls_until_resized = 0;
        options.real_postgres = true;
        return options;
    }

    DigitalOceanPullRequest() : cloud_(real_clusters()) {}

    void SetUp() override {
        catalog_url_ = ece::test::fresh_database("e2e_do");
        ece::register_secret(catalog_url_);
        // One trust bundle for both local HTTPS servers (GitHub's and DigitalOcean's test CAs).
        std::ofstream(dir_ / "ca-bundle.pem") << ece::test::read_file(github_.ca_file())
                                              << ece::test::read_file(cloud_.ca_file());
        github_.add_pull({.number = 1, .head_ref = "feature/decades", .head_sha = sha_of('1')});
        github_.add_pull({.number = 2, .head_ref = "feature/other", .head_sha = sha_of('4')});
        cloud_.add_production_cluster("ece_demo");
    }

    // The example project as checked out for one run, on provider digitalocean; `decades` adds a column.
    fs::path workspace(const std::string& name, bool decades) {
        const fs::path ws = dir_ / name;
        fs::create_directories(ws);
        for (const auto& entry : fs::directory_iterator(source_dir / "examples/ece_demo")) {
            const auto file = entry.path().filename().string();
            if (file != "target" && file != "data" && file != "ece.yml") fs::copy(entry.path(), ws / file, fs::copy_options::recursive);
        }
        fs::copy(ece::test::example_data(), ws / "data", fs::copy_options::recursive);  // not a link: dbt refuses those
        std::ofstream(ws / "ece.yml") << "project: ece_demo\n"
                                         "production: {schemas: [analytics], role: ece_production, raw_schema: raw}\n"
                                         "environments: {provider: digitalocean, prefix: ece_, ttl: 72h}\n"
                                         "digitalocean: {region: fra1, version: \"16\", size: " << branch_size
                                      << ", production_size: " << production_size << "}\n"
                                         "stage:\n  tables:\n"
                                         "    - {name: patients, path: data/patients.csv, primary_key: [patid]}\n"
                                         "    - {name: icd10, path: data/icd10.csv, primary_key: [code]}\n"
                                         "    - {name: providers, path: data/providers.csv, primary_key: [npi]}\n"
                                         "    - {name: diagnoses, path: data/diagnoses.csv}\n";
        if (decades) {
            const auto model = ws / "models/staging/stg_patients.sql";
            auto text = ece::test::read_file(model);
            const auto at = text.find("    birth_year\n");
            EXPECT_NE(at, std::string::npos);
            text.replace(at, 15, "    birth_year,\n    (birth_year / 10) * 10 as birth_decade\n");
            std::ofstream(model, std::ios::trunc) << text;
        }
        return ws;
    }

    // A pull_request event from GitHub's own webhook examples; merged when merge_sha is given.
    fs::path event(const std::string& action, int number, const std::string& head_ref, const std::string& head_sha,
                   const std::string& merge_sha = "") {
        const fs::path file = dir_ / ("event-" + std::to_string(++runs_) + ".json");
        std::ofstream(file) << ece::test::pull_request_event_json({.action = action, .number = number,
                                                                   .head_ref = head_ref, .head_sha = head_sha,
                                                                   .merged = !merge_sha.empty(),
                                                                   .merge_sha = merge_sha});
        return file;
    }

    struct Run {
        int exit_code = 0;
        std::string log;
        std::string step;  // the step output
    };

    Run ece(const fs::path& event_file, const fs::path& ws, const std::string& sha) {
        const auto run = ece::test::run_action({.binary = ECE_BIN, .workspace = ws, .files = dir_.path(),
                                                .event = event_file, .sha = sha, .api_url = github_.api_url(),
                                                .token = github_.token(), .database_url = catalog_url_,
                                                .ca_file = dir_ / "ca-bundle.pem",
                                                .env = {{"DIGITALOCEAN_TOKEN", cloud_.token()},
                                                        {"DIGITALOCEAN_API_URL", cloud_.api_url()}},
                                                .timeout = std::chrono::minutes(3)});
        logs_ += run.printed;
        const auto step = run.outputs.find("step");
        return Run{run.exit_code, run.log, step == run.outputs.end() ? "" : step->second};
    }

    static std::vector<std::string> lines(const std::string& text) {
        std::vector<std::string> out;
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);) out.push_back(line);
        return out;
    }

    // One query's first column, on a cluster's database "ece" as its superuser.
    std::set<std::string> in_cluster(const std::string& cluster, const std::string& sql) {
        pqxx::connection conn(cloud_.superuser_url(cluster, "ece"));
        pqxx::read_transaction tx(conn);
        std::set<std::string> out;
        for (const auto& row : tx.exec(sql)) out.insert(row[0].c_str());
        return out;
    }

    std::size_t csv_rows(const std::string& name) {
        return lines(ece::test::read_file(ece::test::example_data() / name)).size() - 1;
    }

    std::vector<std::string> secrets() const {
        std::vector<std::string> out{catalog_url_, github_.token(), cloud_.token()};
        for (const auto& c : cloud_.clusters())
            for (const auto& [user, password] : c.users) out.push_back(password);
        return out;
    }

    ece::test::TempDir dir_;
    ece::test::FakeGitHub github_;
    ece::test::FakeDigitalOcean cloud_;
    std::string catalog_url_;
    int runs_ = 0;
    std::string logs_;
};


TEST_F(DigitalOceanPullRequest, OpenedBuildsOnItsOwnClusterMergedResizesClosedDeletes) {
    const std::string cluster = "ece-ece-demo-pr-1";

    // #1 opened.
    auto ws = workspace("pr1", true);
    auto run = ece(event("opened", 1, "feature/decades", sha_of('1')), ws, sha_of('1'));
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_EQ(run.step, "preview");
    auto created = cloud_.cluster_named(cluster);
    ASSERT_TRUE(created) << run.log;
    EXPECT_EQ(created->size, branch_size);
    EXPECT_THAT(created->tags, Contains("ece-env:pr-1"));
    // Staged into the cluster itself, read by dbt there; the whole project built (no defer across clusters).
    EXPECT_EQ(in_cluster(cluster, "SELECT count(*) FROM ece_pr_1_raw.patients"),
              std::set<std::string>{std::to_string(csv_rows("patients.csv"))});
    EXPECT_THAT(run.log, HasSubstr("cannot read production's relations"));
    const auto built = in_cluster(cluster, "SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = 'ece_pr_1' ORDER BY 1");
    for (const auto& model : {"stg_patients", "distinct_patients", "observed_diagnoses", "distinct_providers"})
        EXPECT_THAT(built, Contains(model)) << run.log;
    EXPECT_EQ(in_cluster(cluster, "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                                  "'ece_pr_1' AND table_name = 'stg_patients' AND column_name = 'birth_decade'")
                  .size(), 1u);
    // The comment: the cluster's shape and what it costs a month.
    auto comments = github_.comments(1);
    ASSERT_EQ(comments.size(), 1u);
    const auto opened = comments[0].body;
    EXPECT_THAT(opened, HasSubstr("ready"));
    EXPECT_THAT(opened, HasSubstr("create cluster " + cluster + " (PostgreSQL 16, " + branch_size)) << opened;
    EXPECT_THAT(opened, testing::ContainsRegex("\\$[0-9]+\\.[0-9]{2}/month")) << opened;

    // synchronize: the same cluster, its data unchanged (reused), the same comment updated.
    run = ece(event("synchronize", 1, "feature/decades", sha_of('2')), ws, sha_of('2'));
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_THAT(run.log, HasSubstr("repaired pr-1"));
    EXPECT_THAT(run.log, HasSubstr("(0 loaded, 4 reused)"));
    EXPECT_EQ(cloud_.cluster_named(cluster)->id, created->id);
    ASSERT_EQ(github_.comments(1).size(), 1u);
    EXPECT_THAT(github_.comments(1)[0].body, HasSubstr("reuse cluster " + cluster));

    // Merged: the cluster is resized in place and becomes production; the old production cluster is deleted.
    run = ece(event("closed", 1, "feature/decades", sha_of('2'), sha_of('3')), ws, sha_of('3'));
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_EQ(run.step, "publish");
    auto production = cloud_.cluster_named(cluster);
    ASSERT_TRUE(production);
    EXPECT_EQ(production->size, production_size);
    EXPECT_THAT(production->tags, Contains("ece-env:production"));
    EXPECT_THAT(production->tags, Not(Contains("ece-env:pr-1")));
    EXPECT_FALSE(cloud_.cluster_named("ece-ece-demo-production"));
    EXPECT_EQ(cloud_.clusters().size(), 1u);
    EXPECT_THAT(in_cluster(cluster, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'ece_pr_1'"),
                Contains("stg_patients")) << "the data built in the pull request serves production";
    comments = github_.comments(1);
    ASSERT_EQ(comments.size(), 1u);
    EXPECT_THAT(comments[0].body, HasSubstr("published"));
    EXPECT_THAT(comments[0].body, HasSubstr("resized to " + std::string(production_size)));
    EXPECT_THAT(comments[0].body, HasSubstr("deleted ece-ece-demo-production"));
    // The shipped price catalogue: the $120 branch cluster and the $30 old production before, $30 after.
    EXPECT_THAT(comments[0].body, HasSubstr("monthly $150.00 -&gt; $30.00")) << comments[0].body;

    // #2 opened, then closed unmerged: its cluster is deleted, production stays.
    ws = workspace("pr2", false);
    run = ece(event("opened", 2, "feature/other", sha_of('4')), ws, sha_of('4'));
    ASSERT_EQ(run.exit_code, 0) << run.log;
    ASSERT_TRUE(cloud_.cluster_named("ece-ece-demo-pr-2"));
    run = ece(event("closed", 2, "feature/other", sha_of('4')), ws, sha_of('4'));
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_EQ(run.step, "destroy");
    EXPECT_FALSE(cloud_.cluster_named("ece-ece-demo-pr-2"));
    EXPECT_TRUE(cloud_.cluster_named(cluster));
    ASSERT_EQ(github_.comments(2).size(), 1u);
    EXPECT_THAT(github_.comments(2)[0].body, HasSubstr("destroyed"));

    // Nothing printed or posted holds a secret.
    EXPECT_THAT(ece::test::find_secrets(logs_, secrets()), IsEmpty());
    for (int pr : {1, 2})
        for (const auto& c : github_.comments(pr)) EXPECT_THAT(ece::test::find_secrets(c.body, secrets()), IsEmpty());
}

}  // namespace
