// Loading every real manifest (schema v7..v12), the diff-pair of consecutive Tuva versions, the synthetic N2000
// pair real dbt selected on, malformed or truncated files, and the reader's block and key handling.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <boost/json/parse.hpp>

#include "core/error.hpp"
#include "dbt/manifest.hpp"
#include "dbt/state.hpp"
#include "fixture_manifest.hpp"
#include "support.hpp"

namespace ece::dbt {

void PrintTo(const PlannedNode& node, std::ostream* os) { *os << node.unique_id; }

namespace {

using ece::test::fixture;
using ece::test::read_file;
using ece::test::TempDir;
using testing::HasSubstr;

using ece::test::plain;

std::vector<std::string> real_manifests() {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(fixture("real/dbt/manifests")))
        if (entry.is_regular_file()) names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    return names;
}

class RealManifest : public testing::TestWithParam<std::string> {};

TEST_P(RealManifest, LoadsWithEveryNodeAndMacro) {
    TempDir dir;
    const auto file = plain(fixture("real/dbt/manifests/" + GetParam()), dir);
    const Manifest m = load_manifest(file);
    // Cross-check counts with Boost.JSON's DOM parser.
    const auto doc = boost::json::parse(read_file(file)).as_object();
    std::size_t expected_nodes = 0;
    for (const char* map : {"nodes", "sources", "exposures", "metrics", "semantic_models", "saved_queries", "unit_tests"})
        if (doc.contains(map)) expected_nodes += doc.at(map).as_object().size();
    EXPECT_EQ(m.nodes.size(), expected_nodes);
    EXPECT_EQ(m.macros.size(), doc.at("macros").as_object().size());
    EXPECT_GE(m.schema_version, min_schema_version);
    EXPECT_LE(m.schema_version, max_schema_version);
    EXPECT_FALSE(m.dbt_version.empty());
    for (const Node& n : m.nodes) {
        EXPECT_NE(n.type, ResourceType::other) << n.unique_id;
        EXPECT_FALSE(n.name.empty()) << n.unique_id;
        EXPECT_FALSE(n.fqn.empty()) << n.unique_id;
        if (n.type == ResourceType::model) {
            EXPECT_FALSE(n.raw_code.empty()) << n.unique_id;
        }
        if (n.type == ResourceType::seed) {
            EXPECT_FALSE(n.checksum.empty()) << n.unique_id;
        }
        for (auto dep : n.depends_on_nodes) EXPECT_TRUE(m.find(dep)) << n.unique_id << " -> " << dep;
    }
    // A manifest compared with itself selects nothing.
    const Plan plan = plan_changes(m, m, parse_selector("state:modified+"), "self");
    EXPECT_THAT(plan.selected, testing::IsEmpty());
    EXPECT_THAT(plan.removed, testing::IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(Dbt, RealManifest, testing::ValuesIn(real_manifests()), [](const auto& info) {
    std::string name = info.param;
    for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return name;
});

TEST(DiffPair, TwelveAddedOneRemovedNineChangedThenNothing) {
    TempDir dir;
    const auto pair = fixture("real/dbt/manifests/diff-pair");
    const Manifest first = load_manifest(plain(pair / "tuva-2024-02-19-v8.manifest.json.xz", dir));
    const Manifest second = load_manifest(plain(pair / "tuva-2024-02-21-v8.manifest.json.xz", dir));
    const Manifest third = load_manifest(plain(pair / "tuva-2024-02-23-v8.manifest.json.xz", dir));

    const Plan added = plan_changes(second, first, parse_selector("state:new"), "first");
    const Plan modified = plan_changes(second, first, parse_selector("state:modified"), "first");
    std::size_t changed = 0;
    for (const auto& node : modified.selected)
        if (node.reasons.front() != "new" && node.reasons.front().rfind("test of", 0) != 0) ++changed;
    EXPECT_EQ(added.selected.size(), 12u);
    EXPECT_EQ(modified.removed.size(), 1u);
    EXPECT_EQ(changed, 9u);

    // Then nothing was added, removed or rewritten; only docs.node_color changed in dbt_project.yml, which dbt's
    // NodeConfig.same_contents counts as a config change (docs is not excluded), so dbt selects those nodes too.
    EXPECT_THAT(plan_changes(third, second, parse_selector("state:new"), "second").selected, testing::IsEmpty());
    EXPECT_THAT(plan_changes(third, second, parse_selector("state:modified.body"), "second").selected,
                testing::IsEmpty());
    const Plan configs = plan_changes(third, second, parse_selector("state:modified"), "second");
    EXPECT_THAT(configs.removed, testing::IsEmpty());
    ASSERT_FALSE(configs.selected.empty());
    for (const auto& node : configs.selected)
        EXPECT_THAT(node.reasons.front(), testing::AnyOf(testing::StartsWith("config docs:"),
                                                          testing::StartsWith("test of")))
            << node.unique_id;
    // Stricter than dbt, behind the option: a config key that cannot change the database is ignored.
    PlanOptions ignore_docs;
    ignore_docs.ignore_config_keys.insert("docs");
    EXPECT_THAT(plan_changes(third, second, parse_selector("state:modified+"), "second", ignore_docs).selected,
                testing::IsEmpty());
}

std::vector<std::string> expected_list(const boost::json::object& expected, const char* selector) {
    std::vector<std::string> ids;
    for (const auto& id : expected.at(selector).as_array()) ids.emplace_back(id.as_string().c_str());
    return ids;
}

TEST(Synthetic, N2000SelectsWhatDbtSelected) {
    TempDir dir;
    const auto base = fixture("dbt/synthetic/N2000");
    const Manifest prod = load_manifest(plain(base / "prod.manifest.json.xz", dir));
    const Manifest branch = load_manifest(plain(base / "branch.manifest.json.xz", dir));
    const auto expected = boost::json::parse(read_file(base / "expected.json")).as_object();
    for (const char* selector : {"state:modified", "state:modified+"}) {
        const Plan plan = plan_changes(branch, prod, parse_selector(selector), "prod");
        EXPECT_EQ(plan.selected_ids(), expected_list(expected, selector)) << selector;
    }
}

// The error names the file, the byte offset and the JSON path.
Error load_error(const std::string& json, const TempDir& dir) {
    const auto file = dir / "manifest.json";
    std::ofstream(file, std::ios::binary) << json;
    try {
        load_manifest(file);
    } catch (const Error& e) {
        return e;
    }
    throw std::runtime_error("no error for: " + json);
}

TEST(ManifestErrors, TruncatedNamesOffsetAndPath) {
    TempDir dir;
    const std::string full = read_file(fixture("dbt/scenarios/base/manifest.json"));
    const auto cut = full.find("\"raw_code\"", full.find("\"model.ece_demo.stg_patients\": {")) + 20;
    const Error e = load_error(full.substr(0, cut), dir);
    EXPECT_EQ(e.kind(), ErrorKind::input);
    EXPECT_EQ(e.where().byte_offset, cut);
    EXPECT_EQ(e.where().field, "$.nodes[\"model.ece_demo.stg_patients\"].raw_code");
    EXPECT_THAT(e.what(), HasSubstr("manifest.json"));
    EXPECT_THAT(e.what(), HasSubstr("truncated"));
}

TEST(ManifestErrors, MalformedNamesOffsetAndPath) {
    TempDir dir;
    const std::string json = R"({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
 "nodes": {"model.p.a": {"name": "a", "config": {"materialized": tabel}}}})";
    const Error e = load_error(json, dir);
    EXPECT_EQ(e.kind(), ErrorKind::input);
    EXPECT_EQ(e.where().byte_offset, json.find("tabel"));
    EXPECT_EQ(e.where().field, "$.nodes[\"model.p.a\"].config.materialized");
    EXPECT_THAT(e.what(), HasSubstr("malformed JSON"));
}

TEST(ManifestErrors, NotAManifest) {
    TempDir dir;
    EXPECT_THAT(load_error("[1, 2]", dir).what(), HasSubstr("JSON object"));
    EXPECT_THAT(load_error(R"({"results": []})", dir).what(), HasSubstr("not a dbt manifest"));
    EXPECT_THAT(load_error(R"({"metadata": {}} x)", dir).what(), HasSubstr("after the end"));
}

TEST(ManifestErrors, MissingFile) {
    try {
        load_manifest("/nonexistent/manifest.json");
        FAIL();
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("/nonexistent/manifest.json"));
    }
}

// The reader's key handling: keys are kept as views into the block being parsed and copied only when a block ends
// or they came escaped, so a file streamed in 1 MB blocks must read exactly as the same text in one block, escaped
// keys must still be recognised, and error paths must name keys from earlier blocks and from skipped parts.

// Everything the reader keeps of a node, as one text.
std::string describe(const Node& n) {
    std::ostringstream out;
    out << n.unique_id << '|' << n.resource_type_name << '|' << n.name << '|' << n.package_name << '|' << n.path << '|'
        << n.original_file_path << '|' << n.checksum_name << '|' << n.checksum << '|' << n.raw_code << '|'
        << n.materialized << '|' << n.enabled << n.persist_relation_docs << n.persist_column_docs << '|' << n.database
        << '|' << n.schema << '|' << n.alias << '|' << n.relation_name << '|' << n.unrendered_schema << '|'
        << n.description << '|' << n.contract_enforced << n.contract_checksum << '|' << n.test_name << '|'
        << n.test_namespace << '|' << n.attached_node << '|' << n.column_name << '|' << n.source_name << "|fqn";
    for (auto part : n.fqn) out << ' ' << part;
    out << "|config";
    for (const auto& kv : n.unrendered_config) out << ' ' << kv.key << '=' << kv.value;
    out << "|extras";
    for (const auto& kv : n.extras) out << ' ' << kv.key << '=' << kv.value;
    out << "|columns";
    for (const auto& c : n.columns) out << ' ' << c.name << ':' << c.description << ':' << c.data_type << ':' << c.constraints;
    out << "|nodes";
    for (auto dep : n.depends_on_nodes) out << ' ' << dep;
    out << "|macros";
    for (auto dep : n.depends_on_macros) out << ' ' << dep;
    return out.str();
}

TEST(ManifestReader, StreamedInBlocksReadsAsOneBlock) {
    TempDir dir;
    const auto file = dir / "manifest.json";
    const std::string command = "xz -dc '" +
                                fixture("real/dbt/manifests/tuva-2024-02-20-v11.manifest.json.xz").string() + "' > '" +
                                file.string() + "'";
    ASSERT_EQ(std::system(command.c_str()), 0);
    const std::string text = read_file(file);
    ASSERT_GT(text.size(), 3u << 20);  // several of load_manifest's 1 MB blocks

    const Manifest streamed = load_manifest(file);
    const Manifest whole = parse_manifest(text, file);
    ASSERT_EQ(streamed.nodes.size(), whole.nodes.size());
    ASSERT_GT(streamed.nodes.size(), 300u);
    for (std::size_t i = 0; i < whole.nodes.size(); ++i)
        ASSERT_EQ(describe(streamed.nodes[i]), describe(whole.nodes[i]));
    ASSERT_EQ(streamed.macros.size(), whole.macros.size());
    for (std::size_t i = 0; i < whole.macros.size(); ++i) {
        EXPECT_EQ(streamed.macros[i].unique_id, whole.macros[i].unique_id);
        EXPECT_EQ(streamed.macros[i].macro_sql, whole.macros[i].macro_sql);
        EXPECT_EQ(streamed.macros[i].depends_on_macros, whole.macros[i].depends_on_macros);
    }
}

TEST(ManifestReader, EscapedKeysAreRecognised) {
    const Manifest m = parse_manifest(R"({"metadata": {"dbt_schema_v\u0065rsion": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
 "nodes": {"model.p.a": {"resource_type": "model", "name": "a", "raw_\u0063ode": "select 1",
   "config": {"materi\u0061lized": "table"}, "unrendered_config": {"sch\u0065ma": "marts"},
   "acc\u0065ss": "public"}}})");
    ASSERT_EQ(m.nodes.size(), 1u);
    const Node& n = m.nodes.front();
    EXPECT_EQ(m.schema_version, 12);
    EXPECT_EQ(n.raw_code, "select 1");
    EXPECT_EQ(n.materialized, "table");
    ASSERT_NE(n.unrendered("schema"), nullptr);
    EXPECT_EQ(*n.unrendered("schema"), "\"marts\"");
    ASSERT_NE(n.extra("access"), nullptr);
    EXPECT_EQ(*n.extra("access"), "\"public\"");
}

TEST(ManifestReader, ErrorPathNamesKeysFromEarlierBlocks) {
    TempDir dir;
    // "nodes" and the first node's id sit in the first 1 MB block; the error is two blocks later.
    const std::string json = R"({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
 "nodes": {"model.p.big": {"name": "big", "raw_code": ")" +
                             std::string(2u << 20, 'x') + R"("},
  "model.p.bad": {"name": "bad", "config": {"materialized": tabel}}}})";
    const Error e = load_error(json, dir);
    EXPECT_EQ(e.where().byte_offset, json.find("tabel"));
    EXPECT_EQ(e.where().field, "$.nodes[\"model.p.bad\"].config.materialized");
}

// The reader skips what it never reads (meta, docs, parent_map, ...) without tracking keys there; an error inside
// such a part still names its full path (a second pass traces it).
TEST(ManifestReader, ErrorInASkippedPartNamesItsFullPath) {
    const std::string json = R"({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
 "nodes": {"model.p.a": {"name": "a", "meta": {"owners": [{"team": "x"}, {"team": tru}]}}}})";
    try {
        parse_manifest(json);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.where().byte_offset, json.find("tru}"));
        EXPECT_EQ(e.where().field, "$.nodes[\"model.p.a\"].meta.owners[1].team");
    }
    TempDir dir;
    const std::string truncated = R"({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
 "nodes": {}, "parent_map": {"model.p.a": ["model.p.b", )";
    const Error e = load_error(truncated, dir);
    EXPECT_EQ(e.where().byte_offset, truncated.size());
    EXPECT_EQ(e.where().field, "$.parent_map[\"model.p.a\"][1]");
    EXPECT_THAT(e.what(), testing::HasSubstr("truncated"));
}

}  // namespace
}  // namespace ece::dbt

namespace ece::dbt {
namespace {

TEST(OtherSchemaVersion, ComparedWithAWarning) {
    const Manifest v11 = load_manifest(ece::test::fixture("real/dbt/manifests/dbt-core-state-v11.manifest.json"));
    const Manifest v10 = load_manifest(ece::test::fixture("real/dbt/manifests/dbt-core-state-v10.manifest.json"));
    const Plan plan = plan_changes(v11, v10, parse_selector("state:modified+"), "v10");
    EXPECT_FALSE(plan.full_build);
    ASSERT_FALSE(plan.warnings.empty());
    EXPECT_THAT(plan.warnings.front(), testing::HasSubstr("schema v10"));
    EXPECT_THAT(plan.warnings.front(), testing::HasSubstr("compared where the fields allow"));
}

TEST(OtherSchemaVersion, WarningNamesTheFieldsOneSideLacks) {
    TempDir dir;
    const Manifest v12 = load_manifest(plain(fixture("real/dbt/manifests/jaffle_shop-dbt1.11-v12.manifest.json.xz"), dir));
    const Manifest v10 = load_manifest(fixture("real/dbt/manifests/dbt-core-state-v10.manifest.json"));
    const Plan plan = plan_changes(v12, v10, parse_selector("state:modified"), "v10");
    ASSERT_FALSE(plan.warnings.empty());
    EXPECT_THAT(plan.warnings.front(), HasSubstr("production's manifest has no"));
    EXPECT_THAT(plan.warnings.front(), HasSubstr("unit_tests"));
}

TEST(OtherSchemaVersion, UnknownSchemaMeansFullBuild) {
    const Manifest branch = load_manifest(ece::test::fixture("dbt/scenarios/base/manifest.json"));
    const Manifest future = parse_manifest(
        R"({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v99.json"}, "nodes": {}})");
    const Plan plan = plan_changes(branch, future, parse_selector("state:modified+"), "future");
    EXPECT_TRUE(plan.full_build);
    EXPECT_THAT(plan.full_build_reason, testing::HasSubstr("v99"));
    EXPECT_EQ(plan.counts.at("model"), 8u);
}

}  // namespace
}  // namespace ece::dbt
