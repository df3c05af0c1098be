// The key and sensitive columns of a model, from dbt's manifest (constraints, tests, meta) and ece.yml.
#include "diff/keys.hpp"

#include <gmock/gmock.h>

namespace ece::diff {
namespace {

using testing::ElementsAre;

// Models: pk (primary_key constraint on the model), colpk (on a column), tested (unique + not_null on id, unique
// alone on code), meta (meta ece.key), plain (nothing). Column ssn of pk is meta sensitive.
constexpr const char* manifest_json = R"({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
 "nodes": {
  "model.p.pk": {"resource_type": "model", "name": "pk", "meta": {}, "constraints": [{"type": "check", "expression": "a > 0"}, {"type": "primary_key", "columns": ["a", "b"]}],
     "columns": {"a": {"name": "a", "constraints": [], "meta": {}}, "ssn": {"name": "ssn", "meta": {"sensitive": true}}}},
  "model.p.colpk": {"resource_type": "model", "name": "colpk", "constraints": [],
     "columns": {"x": {"name": "x", "constraints": []}, "id": {"name": "id", "constraints": [{"type": "not_null"}, {"type": "primary_key"}]}}},
  "model.p.tested": {"resource_type": "model", "name": "tested", "columns": {}},
  "test.p.unique_tested_id": {"resource_type": "test", "name": "unique_tested_id", "attached_node": "model.p.tested", "column_name": "id", "test_metadata": {"name": "unique", "kwargs": {}}},
  "test.p.not_null_tested_id": {"resource_type": "test", "name": "not_null_tested_id", "attached_node": "model.p.tested", "column_name": "id", "test_metadata": {"name": "not_null", "kwargs": {}}},
  "test.p.unique_tested_code": {"resource_type": "test", "name": "unique_tested_code", "attached_node": "model.p.tested", "column_name": "code", "test_metadata": {"name": "unique", "kwargs": {}}},
  "test.p.not_null_meta_code": {"resource_type": "test", "name": "not_null_meta_code", "attached_node": "model.p.meta", "column_name": "code", "test_metadata": {"name": "not_null", "kwargs": {}}},
  "model.p.meta": {"resource_type": "model", "name": "meta", "meta": {"ece": {"key": ["region", "day"]}}, "config": {"meta": {"ignored": 1}}, "columns": {}},
  "model.p.plain": {"resource_type": "model", "name": "plain", "columns": {}}
 }})";

const dbt::Node& node(const dbt::Manifest& m, std::string_view id) {
    const auto* n = m.find(id);
    if (!n) throw std::runtime_error("no node " + std::string(id));
    return *n;
}

TEST(DiffKeys, PrefersConstraintsThenTestsThenMeta) {
    auto m = dbt::parse_manifest(manifest_json);
    auto pk = key_of(m, node(m, "model.p.pk"));
    EXPECT_THAT(pk.columns, ElementsAre("a", "b"));
    EXPECT_EQ(pk.source, "primary_key constraint");
    EXPECT_THAT(key_of(m, node(m, "model.p.colpk")).columns, ElementsAre("id"));
    auto tested = key_of(m, node(m, "model.p.tested"));
    EXPECT_THAT(tested.columns, ElementsAre("id"));
    EXPECT_EQ(tested.source, "unique + not_null tests");
    auto meta = key_of(m, node(m, "model.p.meta"));
    EXPECT_THAT(meta.columns, ElementsAre("region", "day"));
    EXPECT_EQ(meta.source, "meta ece.key");
    auto plain = key_of(m, node(m, "model.p.plain"));
    EXPECT_TRUE(plain.columns.empty());
    EXPECT_EQ(plain.source, "none");
}

TEST(DiffKeys, SensitiveFromColumnMetaAndEceYml) {
    auto m = dbt::parse_manifest(manifest_json);
    config::Config config;
    config.diff.sensitive_columns = {"email", "pk.phone", "other.card"};
    EXPECT_THAT(sensitive_columns(&node(m, "model.p.pk"), "pk", config), ElementsAre("email", "phone", "ssn"));
    EXPECT_THAT(sensitive_columns(nullptr, "patients", config), ElementsAre("email"));
}

}  // namespace
}  // namespace ece::diff
