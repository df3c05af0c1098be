// The manifest reader's key handling: keys are kept as views into the block being parsed and copied only when a
// block ends or they came escaped, so a file streamed in 1 MB blocks must read exactly as the same text in one
// block, escaped keys must still be recognised, and error paths must name keys from earlier blocks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "dbt/manifest.hpp"
#include "dbt/state.hpp"
#include "support.hpp"

namespace ece::dbt {
namespace {

using ece::test::fixture;
using ece::test::read_file;
using ece::test::TempDir;

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
    const auto file = dir / "manifest.json";
    // "nodes" and the first node's id sit in the first 1 MB block; the error is two blocks later.
    const std::string json = R"({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
 "nodes": {"model.p.big": {"name": "big", "raw_code": ")" +
                             std::string(2u << 20, 'x') + R"("},
  "model.p.bad": {"name": "bad", "config": {"materialized": tabel}}}})";
    std::ofstream(file, std::ios::binary) << json;
    try {
        load_manifest(file);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.where().byte_offset, json.find("tabel"));
        EXPECT_EQ(e.where().field, "$.nodes[\"model.p.bad\"].config.materialized");
    }
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
    const auto file = dir / "manifest.json";
    const std::string truncated = R"({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
 "nodes": {}, "parent_map": {"model.p.a": ["model.p.b", )";
    std::ofstream(file, std::ios::binary) << truncated;
    try {
        load_manifest(file);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.where().byte_offset, truncated.size());
        EXPECT_EQ(e.where().field, "$.parent_map[\"model.p.a\"][1]");
        EXPECT_THAT(e.what(), testing::HasSubstr("truncated"));
    }
}

}  // namespace
}  // namespace ece::dbt
