// ece-dbt plan, run as a user runs it: on a scenario of the example project, as JSON and text, and without a
// production manifest.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sys/wait.h>

#include <boost/json/parse.hpp>

#include "support.hpp"

namespace {

using ece::test::fixture;
using ece::test::read_file;
using ece::test::TempDir;
using testing::HasSubstr;

struct CommandResult {
    int exit_code;
    std::string output;
};

CommandResult run(const std::string& args) {
    const std::string command = std::string(ECE_DBT_BINARY) + " " + args + " 2>&1";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), &pclose);
    std::string output;
    std::array<char, 4096> buffer{};
    std::size_t n;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0) output.append(buffer.data(), n);
    int status = pclose(pipe.release());
    return {WEXITSTATUS(status), output};
}

std::string scenario(const std::string& name) { return fixture("dbt/scenarios/" + name).string(); }

TEST(PlanCommand, JsonPlanOfAMacroChange) {
    TempDir dir;
    const auto out = dir / "plan.json";
    const CommandResult r = run("plan --branch feature --manifest " + scenario("macro_change") + "/manifest.json --state " +
                      scenario("base") + " --format json --out " + out.string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto plan = boost::json::parse(read_file(out)).as_object();
    EXPECT_EQ(plan.at("selector"), "state:modified+");
    EXPECT_EQ(plan.at("full_build"), false);
    EXPECT_EQ(plan.at("full_build_reason"), "");
    EXPECT_THAT(std::string(plan.at("state_source").as_string().c_str()), HasSubstr("base/manifest.json"));
    const auto& selected = plan.at("selected").as_array();
    ASSERT_EQ(selected.size(), 6u);
    const auto& first = selected[0].as_object();
    EXPECT_EQ(first.at("unique_id"), "model.ece_demo.female_patients");
    EXPECT_EQ(first.at("resource_type"), "model");
    EXPECT_EQ(first.at("name"), "female_patients");
    EXPECT_EQ(first.at("reasons").as_array(), boost::json::array({"macro patients_of_sex changed"}));
    const auto& counts = plan.at("counts").as_object();
    EXPECT_EQ(counts.at("model"), 2);
    EXPECT_EQ(counts.at("test"), 4);
    EXPECT_EQ(counts.at("seed"), 0);
    EXPECT_EQ(counts.at("snapshot"), 0);
    EXPECT_EQ(plan.at("deferred"), 7);
    EXPECT_TRUE(plan.at("removed").as_array().empty());
    EXPECT_TRUE(plan.at("warnings").as_array().empty());
    // The contract's key order.
    std::vector<std::string> keys;
    for (const auto& member : plan) keys.emplace_back(member.key());
    EXPECT_THAT(keys, testing::ElementsAre("selector", "state_source", "full_build", "full_build_reason", "selected",
                                           "counts", "deferred", "removed", "warnings"));
}

TEST(PlanCommand, AlsoSelectAddsTheNodesOfEachDbtSelectorWithTheReason) {
    const std::string common = "plan --branch feature --manifest " + scenario("body_change") + "/manifest.json --state " +
                               scenario("base");
    const CommandResult r = run(common + " --also-select sex_codes --also-select 'tag:none resource_type:seed'");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("seed sex_codes: also selected by --select sex_codes; also selected by --select "
                                    "tag:none resource_type:seed"));
    EXPECT_THAT(r.output, HasSubstr("seed 1"));

    const CommandResult bad = run(common + " --also-select colour:red");
    EXPECT_EQ(bad.exit_code, 2) << bad.output;  // usage
    EXPECT_THAT(bad.output, HasSubstr("selector 'colour:red'"));
}

TEST(PlanCommand, TextPlanWithReasonsCountsAndRemovedNodes) {
    CommandResult r = run("plan --branch feature --manifest " + scenario("config_change") + "/manifest.json --state " +
                scenario("base"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("model distinct_providers: config materialized: table -> view"));
    EXPECT_THAT(r.output, HasSubstr("Counts: model 1, seed 0, snapshot 0, test 2"));
    EXPECT_THAT(r.output, HasSubstr("Deferred to production: 8"));

    r = run("plan --branch feature --manifest " + scenario("removed_model") + "/manifest.json --state " +
            scenario("base"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("Nothing to build"));
    EXPECT_THAT(r.output, HasSubstr("model.ece_demo.male_patients"));
}

TEST(PlanCommand, SubSelector) {
    // No --branch: like dbt ls, a plan from two manifests needs neither a branch nor a database.
    const CommandResult r = run("plan --manifest " + scenario("body_change") + "/manifest.json --state " +
                      scenario("base") + " --select state:modified.body --format json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto plan = boost::json::parse(r.output).as_object();
    ASSERT_EQ(plan.at("selected").as_array().size(), 1u);
    EXPECT_EQ(plan.at("selected").as_array()[0].at("reasons").as_array(), boost::json::array({"body changed"}));
}

TEST(PlanCommand, NoProductionManifestMeansFullBuild) {
    TempDir empty_state;
    const CommandResult r = run("plan --branch b --manifest " + scenario("base") + "/manifest.json --state " +
                      empty_state.path().string() + " --format json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto plan = boost::json::parse(r.output).as_object();
    EXPECT_EQ(plan.at("full_build"), true);
    EXPECT_THAT(std::string(plan.at("full_build_reason").as_string().c_str()),
                HasSubstr("no production manifest found"));
    EXPECT_EQ(plan.at("counts").at("model"), 8);
    EXPECT_EQ(plan.at("counts").at("seed"), 1);
    EXPECT_EQ(plan.at("counts").at("test"), 10);
}

TEST(PlanCommand, UsageErrors) {
    CommandResult r = run("plan --branch b --manifest x.json --state s --select state:modified.colour");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.output, HasSubstr("unsupported selector"));
    r = run("plan --state s");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.output, HasSubstr("--manifest"));
    r = run("frobnicate");
    EXPECT_EQ(r.exit_code, 2);
}

TEST(PlanCommand, ProjectDirWithoutDbtSaysSo) {
    TempDir dir;
    const CommandResult r = run("plan --branch b --project-dir " + dir.path().string() + " --state " +
                                scenario("base") + " --dbt " + (dir / "no/dbt").string());
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.output, HasSubstr("--dbt names " + (dir / "no/dbt").string() + ", which is not an executable file"));
    EXPECT_THAT(r.output, HasSubstr("scripts/install-deps.sh"));
}

TEST(PlanCommand, MalformedManifestErrorNamesOffsetAndPath) {
    TempDir dir;
    const std::string full = read_file(scenario("base") + "/manifest.json");
    std::ofstream(dir / "manifest.json", std::ios::binary) << full.substr(0, 5000);
    const CommandResult r = run("plan --branch b --manifest " + (dir / "manifest.json").string() + " --state " + scenario("base"));
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_THAT(r.output, HasSubstr("manifest.json: byte 5000: $.nodes"));
}

}  // namespace
