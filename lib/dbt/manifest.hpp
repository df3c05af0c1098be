#pragma once
// dbt's manifest.json (schema v7..v12, dbt 1.3..1.12), reduced to what the state comparison needs.
// Strings are views into the manifest's own arena; values dbt compares as Python objects (unrendered config,
// quoting, freshness, constraints, versions) are kept as canonical JSON text (object keys sorted), so that
// equality of the text is equality of the value.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dbt/arena.hpp"

namespace ece::dbt {

enum class ResourceType : std::uint8_t {
    model,
    seed,
    snapshot,
    test,
    analysis,
    operation,  // on-run-start/end hooks: in manifest.nodes, never selected
    source,
    exposure,
    unit_test,
    metric,
    semantic_model,
    saved_query,
    other,
};

ResourceType resource_type_from(std::string_view name);
std::string_view to_string(ResourceType type);

// The version in a dbt artifact's dbt_schema_version URL ("https://schemas.getdbt.com/dbt/manifest/v12.json" -> 12),
// for manifests and run_results alike; 0 when the URL names none.
int schema_version_of(std::string_view url);

// A key with a canonical JSON value, e.g. {"materialized", "\"table\""}.
struct KeyValue {
    std::string_view key;
    std::string_view value;
};

struct Column {
    std::string_view name;
    std::string_view description;
    std::string_view data_type;
    std::string_view constraints;  // canonical JSON, empty when absent
    std::string_view meta;         // canonical JSON, empty when absent (e.g. {"sensitive":true})
};

struct Node {
    std::string_view unique_id;
    std::string_view resource_type_name;
    ResourceType type = ResourceType::other;
    std::string_view name;
    std::string_view package_name;
    std::string_view path;
    std::string_view original_file_path;
    std::string_view checksum_name;  // "sha256", "path" (seeds over dbt's size limit), "none" (generic tests)
    std::string_view checksum;
    std::string_view raw_code;  // raw_code, or raw_sql in older manifests
    std::vector<std::string_view> fqn;
    std::vector<std::string_view> tags;  // the rendered tags (dbt's tag: selector)
    std::string_view patch_path;         // "project://models/schema.yml": the YAML describing the node

    // Rendered config: only what decides how dbt compares.
    std::string_view materialized;
    bool enabled = true;
    bool persist_relation_docs = false;
    bool persist_column_docs = false;
    // unrendered_config, sorted by key: what dbt's same_config and same_database_representation compare.
    std::vector<KeyValue> unrendered_config;

    std::string_view database;
    std::string_view schema;
    std::string_view alias;
    std::string_view relation_name;
    std::string_view unrendered_schema;  // sources (dbt 1.9+): the schema as written, e.g. "{{ env_var(...) }}"
    std::string_view description;
    std::vector<Column> columns;  // in manifest order
    std::string_view meta;        // the node's meta, canonical JSON, empty when absent (e.g. {"ece":{"key":["id"]}})

    bool contract_enforced = false;
    std::string_view contract_checksum;

    std::vector<std::string_view> depends_on_nodes;
    std::vector<std::string_view> depends_on_macros;

    std::string_view test_name;  // test_metadata.name (generic tests only)
    std::string_view test_namespace;
    std::string_view attached_node;
    std::string_view column_name;
    std::string_view source_name;

    // Other fields dbt compares, as canonical JSON, sorted by key: for models access, constraints,
    // deprecation_date, latest_version, version, group; for sources identifier, quoting, freshness,
    // loaded_at_field, external; for exposures type, owner, maturity, url, label; for metrics type, label; for
    // semantic models model, defaults, entities, dimensions, measures, primary_entity, group, config (the rendered
    // config, which dbt compares whole); for saved queries query_params, exports, label, group, config.
    std::vector<KeyValue> extras;

    bool is_generic_test() const { return type == ResourceType::test && !test_name.empty(); }
    // The value of key in unrendered_config or extras, or nullptr when absent.
    const std::string_view* unrendered(std::string_view key) const;
    const std::string_view* extra(std::string_view key) const;
};

struct Macro {
    std::string_view unique_id;
    std::string_view name;
    std::string_view package_name;
    std::string_view macro_sql;
    std::vector<std::string_view> depends_on_macros;
};

// unique_id -> position, for ids that live as long as the index (views into a manifest's arena). Open addressing
// over one flat array whose slots hold the id, its hash and the position: a lookup touches one slot and compares
// strings only on a hash match (std::unordered_map chased a pointer per bucket and cost a tenth of a load).
class IdIndex {
public:
    void reserve(std::size_t count);
    // Adds id at position unless it is there already (the first position wins).
    void insert(std::string_view id, std::uint32_t position);
    std::optional<std::uint32_t> find(std::string_view id) const;
    std::size_t size() const noexcept { return size_; }

private:
    struct Slot {
        std::string_view id;
        std::uint32_t hash = 0;
        std::uint32_t position = 0;
        bool used = false;
    };
    static std::uint32_t hash_of(std::string_view id);
    void grow(std::size_t capacity);

    std::vector<Slot> slots_;  // a power of two in size, at most half full
    std::size_t size_ = 0;
};

struct Manifest {
    std::filesystem::path file;
    std::string schema_version_url;  // metadata.dbt_schema_version
    int schema_version = 0;          // 12 for .../manifest/v12.json, 0 when unknown
    std::string dbt_version;
    std::string adapter_type;
    std::string project_name;
    std::uint64_t size_bytes = 0;
    // The fields the comparison reads that this manifest has (in some node, or as a top-level map such as
    // unit_tests), sorted: older dbt versions lack some, which plan_changes names in a warning.
    std::vector<std::string> fields;

    // How load_manifest read it: when it started and finished, and the CPU time of the thread that read it
    // (on a shared machine the CPU time is the work done; the interval shows whether two loads ran at once).
    std::chrono::steady_clock::time_point load_started{};
    std::chrono::steady_clock::time_point load_finished{};
    double load_cpu_seconds = 0;

    // Graph members, in file order: manifest nodes, sources, exposures, metrics, semantic models, saved queries and
    // unit tests (dbt's graph links all of them through depends_on.nodes).
    std::vector<Node> nodes;
    IdIndex node_index;
    std::vector<Macro> macros;
    IdIndex macro_index;

    Arena arena;

    const Node* find(std::string_view unique_id) const;
    const Macro* find_macro(std::string_view unique_id) const;
};

// Oldest and newest manifest schema this reader knows.
inline constexpr int min_schema_version = 7;
inline constexpr int max_schema_version = 12;

// Reads and reduces manifest.json. Throws ece::Error(input) naming the file, the byte offset and the JSON
// path when the file is malformed or truncated, or not a dbt manifest.
Manifest load_manifest(const std::filesystem::path& file);
// The same from text in memory (file names the origin in errors).
Manifest parse_manifest(std::string_view json, const std::filesystem::path& file = "manifest.json");

struct ManifestPair {
    Manifest branch;
    Manifest production;
};

// Both manifests, read in parallel (one thread each).
ManifestPair load_manifest_pair(const std::filesystem::path& branch, const std::filesystem::path& production);

}  // namespace ece::dbt
