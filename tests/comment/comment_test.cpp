#include "comment/markdown.hpp"
#include "comment/marker.hpp"
#include "comment/render.hpp"
#include "core/error.hpp"
#include "core/secrets.hpp"
#include "support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

namespace ece::comment {
namespace {

using namespace std::chrono_literals;
using testing::HasSubstr;
using testing::IsEmpty;
using testing::Not;

std::filesystem::path source_dir() { return ECE_SOURCE_DIR; }

// Compares text with tests/comment/golden/<name>; ECE_UPDATE_GOLDEN=1 rewrites the file instead.
void expect_golden(const std::string& name, const std::string& text) {
    auto path = source_dir() / "tests/comment/golden" / name;
    const char* update = std::getenv("ECE_UPDATE_GOLDEN");
    if (update && std::string(update) == "1") {
        std::ofstream(path, std::ios::binary) << text;
        return;
    }
    ASSERT_TRUE(std::filesystem::exists(path)) << path << " missing; run with ECE_UPDATE_GOLDEN=1 to create it";
    EXPECT_EQ(test::read_file(path), text) << "golden " << name << " differs; rerun with ECE_UPDATE_GOLDEN=1 "
                                           << "and review the diff";
}

const cost::PriceCatalogue& prices() {
    static auto catalogue = cost::load_catalogue(source_dir() / "data/prices.json");
    return catalogue;
}

plan::Plan fixture_plan(const std::string& name) { return plan::read_plan(test::fixture("real/terraform/" + name)); }

DbtPlan fixture_dbt_plan() {
    auto path = source_dir() / "tests/comment/fixtures/dbt_plan.json";
    return parse_dbt_plan(test::read_file(path), path.string());
}

Header pr12_header(Status status) {
    return {"pr-12", "feature/patients", status, "4f2a9c1e0b7d3a5c6e8f9a0b1c2d3e4f5a6b7c8d", 12,
            "https://github.com/acme/analytics/actions/runs/9876543210"};
}

std::vector<DbtResult> build_results() {
    return {
        {"model.ece_demo.stg_patients", "model", "success", 0.41, 1000, "CREATE VIEW"},
        {"model.ece_demo.distinct_patients", "model", "success", 1.27, 982, "SELECT 982"},
        {"model.ece_demo.patients_by_sex", "model", "success", 0.88, 2, "SELECT 2"},
        {"test.ece_demo.not_null_distinct_patients_patid.5b1c2a", "test", "pass", 0.12, std::nullopt, ""},
        {"test.ece_demo.unique_distinct_patients_patid.9e8d7f", "test", "fail", 0.15, std::nullopt,
         "Got 3 results, configured to fail if != 0"},
        {"test.ece_demo.accepted_values_patients_by_sex_label.1a2b3c", "test", "pass", 0.09, std::nullopt, ""},
    };
}

std::vector<DataChange> data_changes() {
    return {
        {"model.ece_demo.stg_patients", 1000, 1000, {}},
        {"model.ece_demo.distinct_patients", 982, 1000,
         {{ColumnChange::Kind::added, "birth_decade", "", "integer"},
          {ColumnChange::Kind::retyped, "patid", "integer", "bigint"},
          {ColumnChange::Kind::removed, "legacy_flag", "boolean", ""}}},
        {"model.ece_demo.patients_by_sex", 2, std::nullopt, {}},
    };
}

// A data diff of two models: one changed (rows, a column, examples with a sensitive value), one unchanged.
diff::DiffRun data_diff() {
    diff::ModelDiff orders;
    orders.model = "model.ece_demo.orders";
    orders.environment_relation = "ece_pr_12.orders";
    orders.production_relation = "analytics.orders";
    orders.key = {"order_id"};
    orders.key_source = "primary_key constraint";
    orders.rows_production = 1000;
    orders.rows_environment = 1002;
    orders.only_production = 3;
    orders.only_environment = 5;
    orders.changed = 12;
    orders.unchanged = 985;
    diff::ColumnDiff amount{"amount", "numeric", "numeric", false, 12, 0, 0, 800, 806};
    diff::ColumnDiff email{"email", "text", "text", true, 2, 10, 12, std::nullopt, std::nullopt};
    diff::ColumnDiff status{"status", "text", "character varying(20)", false, 0, 0, 0, std::nullopt, std::nullopt};
    diff::ColumnDiff id{"order_id", "bigint", "bigint", false, 0, 0, 0, std::nullopt, std::nullopt};
    orders.columns = {id, amount, email, status};
    diff::ExampleRow changed{diff::ExampleRow::Kind::changed, {{"order_id", "42"}},
                             {{"amount", "10.00", "12.50", false}, {"email", std::nullopt, std::nullopt, true}}};
    diff::ExampleRow removed{diff::ExampleRow::Kind::only_production, {{"order_id", "7"}}, {}};
    diff::ExampleRow added{diff::ExampleRow::Kind::only_environment, {{"order_id", "Zoë | 東京"}}, {}};
    orders.examples = {changed, removed, added};
    diff::ModelDiff customers;
    customers.model = "model.ece_demo.customers";
    customers.rows_production = customers.rows_environment = customers.unchanged = 50;
    customers.production_relation = "analytics.customers";
    customers.method = diff::Method::full_row;
    diff::DiffRun run;
    run.models = {orders, customers};
    return run;
}

Report full_report() {
    Report r;
    r.header = pr12_header(Status::failed);
    r.environment_plan = {{"create", "schema analytics_pr_12", "owned by role ece_pr_12"},
                          {"resize", "cluster ece-pr-12", "db-s-1vcpu-1gb -> db-s-1vcpu-2gb"}};
    r.terraform = TerraformSection{fixture_plan("tfjson-action-reason-replace.plan.json")};
    auto do_plan = plan::parse_plan(R"({"format_version":"1.2","resource_changes":[
      {"address":"digitalocean_database_cluster.env","mode":"managed","type":"digitalocean_database_cluster","name":"env",
       "change":{"actions":["update"],"before":{"engine":"pg","size":"db-s-1vcpu-1gb","node_count":1,"password":"x"},
                 "after":{"engine":"pg","size":"db-s-1vcpu-2gb","node_count":1,"password":"x"},"after_unknown":{},
                 "before_sensitive":{"password":true},"after_sensitive":{"password":true}}}]})", "do.plan.json");
    CostSection cost;
    cost.terraform = cost::estimate_plan_cost(do_plan, prices());
    cost.environment = cost::cluster_environment_cost(prices().do_database_cluster_monthly("db-s-1vcpu-2gb", 1),
                                                      "db-s-1vcpu-2gb x 1 node", 26h, 7 * 24h);
    cost.prices_note = catalogue_note(prices());
    r.cost = cost;
    r.dbt_plan = fixture_dbt_plan();
    r.dbt_results = build_results();
    r.data_changes = data_changes();
    r.warnings = {"production manifest is 3 days older than main"};
    return r;
}

// ---- dbt plan JSON -------------------------------------------------------------------------------------------

TEST(DbtPlanJson, ParsesTheContract) {
    auto p = fixture_dbt_plan();
    EXPECT_EQ(p.selector, "state:modified+");
    EXPECT_FALSE(p.full_build);
    ASSERT_EQ(p.selected.size(), 6u);
    EXPECT_EQ(p.selected[0].unique_id, "model.ece_demo.stg_patients");
    EXPECT_EQ(p.selected[0].reasons, std::vector<std::string>{"body changed"});
    EXPECT_EQ(p.counts.at("model"), 3);
    EXPECT_EQ(p.counts.at("test"), 3);
    EXPECT_EQ(p.deferred, 12);
    EXPECT_EQ(p.removed, std::vector<std::string>{"model.ece_demo.old_patients"});
    EXPECT_EQ(p.warnings.size(), 1u);
}

TEST(DbtPlanJson, ErrorsNameFileAndPath) {
    try {
        parse_dbt_plan(R"({"selected":[{"unique_id":"model.a.b","reasons":"body changed"}]})", "plan.json");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.where().file, "plan.json");
        EXPECT_EQ(e.where().field, "$.selected[0].reasons");
    }
    EXPECT_THROW(parse_dbt_plan(R"({"counts":{}})", "plan.json"), Error);
    try {
        parse_dbt_plan("{\"selected\": [}", "broken.json");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.where().byte_offset, 14u);
    }
}

TEST(DbtPlanComment, NamesTheAffectedMetricsAndExposures) {
    Report r;
    r.dbt_plan = fixture_dbt_plan();
    r.dbt_plan->selected.push_back({"metric.ece_demo.revenue", "metric", "revenue", {"child of orders"}});
    r.dbt_plan->selected.push_back({"exposure.ece_demo.dashboard", "exposure", "dashboard", {"child of orders"}});
    r.dbt_plan->selected.push_back({"unit_test.ece_demo.orders.t", "unit_test", "t", {"test of orders"}});
    r.dbt_plan->counts["unit_test"] = 1;
    const auto markdown = render_comment(r).markdown;
    EXPECT_THAT(markdown, testing::HasSubstr("Affected metrics and exposures: 1 metric (`revenue`); 1 exposure "
                                             "(`dashboard`)."));
    EXPECT_THAT(markdown, testing::HasSubstr("1 unit test"));
}

// ---- golden renderings ----------------------------------------------------------------------------------------

TEST(CommentRender, DataDiffFoldsEachChangedModelAndHidesSensitiveValues) {
    Report r;
    r.header = pr12_header(Status::ready);
    r.data_changes = data_changes();
    r.data_diff = data_diff();
    auto markdown = render_comment(r).markdown;
    expect_golden("data_diff.comment.md", markdown);
    EXPECT_THAT(markdown, HasSubstr("Data diff: 2 models compared with production, 1 changed"));
    EXPECT_THAT(markdown, HasSubstr("*sensitive*"));
    EXPECT_THAT(markdown, testing::Not(HasSubstr("Rows (env) | Rows (prod) | Difference")));  // the diff replaces it
}

TEST(Golden, FullReportComment) {
    auto rendered = render_comment(full_report());
    EXPECT_FALSE(rendered.shortened);
    expect_golden("full_report.comment.md", rendered.markdown);
}

TEST(Golden, FullReportJobSummaryHasSameContent) {
    auto comment = render_comment(full_report());
    auto summary = render_job_summary(full_report());
    EXPECT_EQ(comment.markdown, summary.markdown) << "a report that fits renders the same in both places";
}

TEST(Golden, PlanningWithDbtPlanOnly) {
    Report r;
    r.header = pr12_header(Status::planning);
    r.header.run_url.clear();
    r.dbt_plan = fixture_dbt_plan();
    expect_golden("planning_dbt_plan.comment.md", render_comment(r).markdown);
}

TEST(Golden, DestroyedMinimal) {
    Report r;
    r.header = {"pr-7", "fix/typo", Status::destroyed, "", 7, ""};
    r.environment_plan = {{"destroy", "schema analytics_pr_7", "and role ece_pr_7"}};
    expect_golden("destroyed.comment.md", render_comment(r).markdown);
}

class GoldenTerraform : public testing::TestWithParam<const char*> {};

TEST_P(GoldenTerraform, PlanAndCost) {
    std::string name = GetParam();
    Report r;
    r.header = pr12_header(Status::ready);
    r.terraform = TerraformSection{fixture_plan(name)};
    r.cost = CostSection{cost::estimate_plan_cost(r.terraform->plan, prices()), std::nullopt, catalogue_note(prices())};
    auto rendered = render_comment(r);
    auto stem = name.substr(0, name.find(".plan.json"));
    expect_golden("terraform/" + stem + ".comment.md", rendered.markdown);
    EXPECT_LE(rendered.markdown.size(), github_comment_limit);
}

INSTANTIATE_TEST_SUITE_P(RealPlans, GoldenTerraform,
                         testing::Values("infracost-aws-rds-terraform-0.12.plan.json",
                                         "infracost-aws-rds-terraform-0.14.plan.json",
                                         "infracost-azure-firewall.plan.json",
                                         "infracost-example-terraform-1.0.5.plan.json",
                                         "infracost-plan-with-target.plan.json",
                                         "infracost-terraform-1.1-format-1.0.plan.json",
                                         "tfjson-action-reason-replace.plan.json", "tfjson-checks-tf1.5.plan.json",
                                         "tfjson-identity-update-tf1.13.plan.json", "tfjson-moved-block.plan.json",
                                         "tfjson-no-changes.plan.json", "tfjson-read-create-tf0.13.plan.json",
                                         "tfjson-replace-and-noop.plan.json"),
                         [](const auto& info) {
                             std::string n = info.param;
                             n = n.substr(0, n.find(".plan.json"));
                             for (auto& c : n) {
                                 if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                             }
                             return n;
                         });

// ---- content ----------------------------------------------------------------------------------------------------

TEST(Render, SummaryLineFirst) {
    Report r;
    r.header = pr12_header(Status::ready);
    r.dbt_plan = fixture_dbt_plan();
    auto results = build_results();
    results[4].status = "pass";
    r.dbt_results = results;
    CostSection cost;
    cost.terraform = cost::estimate_plan_cost(plan::parse_plan(R"({"format_version":"1.0","resource_changes":[
      {"address":"digitalocean_database_cluster.env","mode":"managed","type":"digitalocean_database_cluster",
       "name":"env","change":{"actions":["create"],"before":null,
       "after":{"engine":"pg","size":"db-s-1vcpu-1gb","node_count":1},"after_unknown":{}}}]})", "p.json"), prices());
    r.cost = cost;
    EXPECT_EQ(summary_line(r), "✅ ece: `pr-12` ready · 3 models built, 12 deferred · +$15.00/mo");
    auto rendered = render_comment(r);
    EXPECT_TRUE(rendered.markdown.starts_with(summary_line(r) + "\n"));
}

TEST(Render, FailuresFirstAndOpen) {
    auto text = render_comment(full_report()).markdown;
    auto failure = text.find("unique_distinct_patients_patid");
    auto success = text.find("| `model.ece_demo.stg_patients` | success");
    ASSERT_NE(failure, std::string::npos);
    ASSERT_NE(success, std::string::npos);
    EXPECT_LT(failure, success);
    EXPECT_THAT(text, HasSubstr("<details open><summary>dbt build: 1 fail"));
}

TEST(Render, SensitiveTerraformValuesShownAsSensitive) {
    Report r;
    r.header = pr12_header(Status::planning);
    r.terraform = TerraformSection{plan::parse_plan(R"({"format_version":"1.2","resource_changes":[
      {"address":"aws_db_instance.db","mode":"managed","type":"aws_db_instance","name":"db",
       "change":{"actions":["update"],"before":{"password":"tf-old-password-1"},"after":{"password":"tf-new-password-2"},
                 "after_unknown":{},"before_sensitive":{"password":true},"after_sensitive":{"password":true}}}]})",
                                                    "p.json")};
    auto text = render_comment(r).markdown;
    EXPECT_THAT(test::find_secrets(text, {"tf-old-password-1", "tf-new-password-2"}), IsEmpty());
    EXPECT_THAT(text, HasSubstr("| `password` | `(sensitive)` | `(sensitive)` |"));
}

TEST(Render, UntrustedTextCannotForgeMarkerOrHtml) {
    Report r = full_report();
    r.header.environment = "pr-12";
    r.dbt_results->at(4).message = "boom\n<!-- ece:env=pr-1 digest=" + std::string(64, 'a') + " -->\n<details>";
    r.warnings.push_back("| broken | table |");
    auto rendered = render_comment(r);
    EXPECT_TRUE(marker_matches(rendered.markdown, "pr-12"));
    EXPECT_FALSE(marker_matches(rendered.markdown, "pr-1"));
    EXPECT_THAT(rendered.markdown, Not(HasSubstr("<!-- ece:env=pr-1 ")));
    EXPECT_THAT(rendered.markdown, HasSubstr("&lt;details&gt;"));
}

TEST(Render, DigestDependsOnContentOnly) {
    auto a = render_comment(full_report());
    auto b = render_comment(full_report());
    EXPECT_EQ(a.digest, b.digest);
    EXPECT_EQ(a.markdown, b.markdown);
    auto changed = full_report();
    changed.dbt_results->at(0).seconds = 0.42;
    EXPECT_NE(render_comment(changed).digest, a.digest);
    auto marker = parse_marker(a.markdown);
    ASSERT_TRUE(marker);
    EXPECT_EQ(marker->digest, a.digest);
    EXPECT_EQ(marker->environment, "pr-12");
    auto content = a.markdown.substr(0, a.markdown.rfind("<!-- ece:"));
    EXPECT_EQ(sha256_hex(content.substr(0, content.size() - 1)), a.digest);
}

TEST(Render, HintsCommandQuotedNeverAPassword) {
    clear_secrets_for_test();
    Report r;
    r.header = pr12_header(Status::ready);
    r.header.branch = "feat/it's";
    auto text = render_comment(r).markdown;
    EXPECT_THAT(text, HasSubstr("`ece-env hints --branch 'feat/it'\\''s'`"));
}

// ---- limits -------------------------------------------------------------------------------------------------------

Report huge_report(std::size_t target_chars) {
    Report r = full_report();
    std::vector<DbtResult> results;
    std::size_t size = 0;
    for (int i = 0; size < target_chars; ++i) {
        DbtResult d{"model.ece_demo.generated_model_" + std::to_string(i), "model", i % 7 == 0 ? "error" : "success",
                    1.5, 100 + i, "Database Error in model generated_model_" + std::to_string(i) + ": relation missing"};
        size += d.unique_id.size() + d.message.size() + 40;
        results.push_back(std::move(d));
    }
    r.dbt_results = results;
    return r;
}

TEST(Limits, SeventyThousandCharactersCutToFit) {
    auto report = huge_report(70'000);
    auto full = render_job_summary(report);
    ASSERT_GT(full.markdown.size(), 70'000u) << "the input must be over the comment limit";
    EXPECT_FALSE(full.shortened);
    auto rendered = render_comment(report);
    EXPECT_TRUE(rendered.shortened);
    EXPECT_LE(rendered.markdown.size(), github_comment_limit);
    EXPECT_TRUE(rendered.markdown.starts_with(summary_line(report) + "\n"));
    EXPECT_THAT(rendered.markdown, HasSubstr("65,536-character limit"));
    EXPECT_THAT(rendered.markdown, HasSubstr("The full report is in the job summary of [the workflow run]("));
    EXPECT_THAT(rendered.markdown, testing::ContainsRegex("… and [0-9,]+ more"));
    EXPECT_TRUE(marker_matches(rendered.markdown, "pr-12"));
    // failures come first, so the cut keeps them
    EXPECT_THAT(rendered.markdown, HasSubstr("generated_model_0`"));
}

TEST(Limits, ShortenedGolden) {
    // The same cutting at a small limit, kept as a golden file so the shape of a cut comment can be reviewed.
    auto rendered = render(huge_report(20'000), {8000, false});
    EXPECT_TRUE(rendered.shortened);
    EXPECT_LE(rendered.markdown.size(), 8000u);
    expect_golden("shortened_8000.comment.md", rendered.markdown);
}

TEST(Limits, JobSummaryCappedAtOneMebibyte) {
    auto report = huge_report(1'200'000);
    auto rendered = render_job_summary(report);
    EXPECT_TRUE(rendered.shortened);
    EXPECT_LE(rendered.markdown.size(), job_summary_limit);
    EXPECT_TRUE(rendered.markdown.starts_with(summary_line(report) + "\n"));
    EXPECT_THAT(rendered.markdown, HasSubstr("1 MiB limit"));
}

TEST(Limits, SummaryLineSurvivesWhenNothingElseFits) {
    auto report = full_report();
    report.warnings.assign(3, std::string(200'000, 'w'));
    auto rendered = render(report, {4000, false});
    EXPECT_LE(rendered.markdown.size(), 4000u);
    EXPECT_TRUE(rendered.markdown.starts_with(summary_line(report) + "\n"));
    EXPECT_TRUE(marker_matches(rendered.markdown, "pr-12"));
}

// ---- secrets ------------------------------------------------------------------------------------------------------

TEST(Secrets, PlantedSecretNeverRendered) {
    clear_secrets_for_test();
    const std::string password = "pr12-Sup3r-s3cret-pw";
    const std::string url = "postgresql://ece_pr_12:" + password + "@db.example.com:25060/analytics";
    const std::string token = "ghs_planted0token0value0abcdef";
    register_secret(url);
    register_secret(token);
    auto report = full_report();
    report.dbt_results->at(4).message = "connection to " + url + " failed: password " + password;
    report.warnings.push_back("token " + token + " was rejected");
    report.environment_plan.push_back({"create", "role ece_pr_12", "password " + password});
    report.dbt_plan->warnings.push_back("state from " + url);
    report.data_changes[0].columns.push_back({ColumnChange::Kind::added, password, "", "text"});
    std::vector<std::string> secrets = {password, url, token};
    EXPECT_THAT(test::find_secrets(summary_line(report), secrets), IsEmpty());
    EXPECT_THAT(test::find_secrets(render_comment(report).markdown, secrets), IsEmpty());
    EXPECT_THAT(test::find_secrets(render_job_summary(report).markdown, secrets), IsEmpty());
    auto huge = huge_report(70'000);
    huge.dbt_results->at(0).message = password;
    huge.header.environment = "pr-12";
    EXPECT_THAT(test::find_secrets(render_comment(huge).markdown, secrets), IsEmpty());
    EXPECT_THAT(render_comment(report).markdown, HasSubstr("***"));
    clear_secrets_for_test();
}

TEST(Secrets, EscapingOrClippingCannotSplitASecret) {
    clear_secrets_for_test();
    const std::string password = "pw_with<special>*chars*_and|pipes";
    register_secret(password);
    auto report = full_report();
    // long enough that the message is clipped in the middle of the password
    report.dbt_results->at(4).message = std::string(990, 'x') + password;
    report.warnings.push_back("role password " + password);
    report.data_changes[0].columns.push_back({ColumnChange::Kind::added, password, "", "text"});
    for (const auto& text : {render_comment(report).markdown, render_job_summary(report).markdown}) {
        for (const auto& form : {password, md::text(password), md::cell(password), md::code(password),
                                 std::string("pw_with"), md::text("pw_with")}) {
            EXPECT_THAT(test::find_secrets(text, {form}), IsEmpty()) << form;
        }
    }
    clear_secrets_for_test();
}

TEST(Render, CatalogFactsAndEstimatedCounts) {
    auto report = full_report();
    report.header.schemas = {"ece_pr_12", "ece_pr_12_staging"};
    report.header.created_at = "2024-05-01T10:00:00Z";
    report.header.expires_at = "2024-05-04T10:00:00Z";
    report.data_changes = {{"model.ece_demo.big", 2500000, 2400000, {}, true, false}};
    auto markdown = render_comment(report).markdown;
    EXPECT_THAT(markdown, HasSubstr("schemas `ece_pr_12`, `ece_pr_12_staging`"));
    EXPECT_THAT(markdown, HasSubstr("expires 2024-05-04T10:00:00Z"));
    EXPECT_THAT(markdown, HasSubstr("| ~2,500,000 | 2,400,000 | ~+100,000 |"));
}

// ---- markdown helpers -------------------------------------------------------------------------------------------

TEST(Markdown, EscapingAndClipping) {
    EXPECT_EQ(md::code("pr-12"), "`pr-12`");
    EXPECT_EQ(md::code("a|b<c>"), "<code>a&#124;b&lt;c&gt;</code>");
    EXPECT_EQ(md::cell("a|b\nc"), "a\\|b<br>c");
    EXPECT_EQ(md::text("*bold* <b>"), "\\*bold\\* &lt;b&gt;");
    EXPECT_EQ(md::clip("héllo", 2), "h…");
    EXPECT_EQ(md::link("run", "javascript:alert(1)"), "run");
    EXPECT_EQ(md::link("run", "https://x/y (z)"), "[run](https://x/y%20%28z%29)");
}

}  // namespace
}  // namespace ece::comment
