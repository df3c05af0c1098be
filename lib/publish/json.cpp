#include "publish/json.hpp"

#include "core/error.hpp"

#include <fstream>
#include <set>
#include <sstream>

namespace ece::publish {
namespace json = boost::json;

namespace {

struct Reader {
    const std::string& file;

    [[noreturn]] void fail(const std::string& path, const std::string& what) const {
        throw Error(ErrorKind::input, what, {.file = file, .field = path});
    }
    const json::object& object(const json::value& v, const std::string& path) const {
        if (!v.is_object()) fail(path, "expected an object");
        return v.get_object();
    }
    const json::array& array(const json::value& v, const std::string& path) const {
        if (!v.is_array()) fail(path, "expected a list");
        return v.get_array();
    }
    std::string string(const json::object& o, const std::string& path, const char* key, bool required) const {
        auto* v = o.if_contains(key);
        if (!v || v->is_null()) {
            if (required) fail(path + "." + key, "missing");
            return "";
        }
        if (!v->is_string()) fail(path + "." + key, "expected a string");
        return std::string(v->get_string());
    }
    NodeChecksums checksums(const json::value& v, const std::string& path) const {
        NodeChecksums out;
        for (const auto& [key, value] : object(v, path)) {
            if (!value.is_string()) fail(path + "[\"" + std::string(key) + "\"]", "expected a checksum string");
            out[std::string(key)] = std::string(value.get_string());
        }
        return out;
    }
    BuiltRelation relation(const json::value& v, const std::string& path) const {
        const auto& o = object(v, path);
        BuiltRelation r;
        r.environment_schema = string(o, path, "environment_schema", true);
        r.name = string(o, path, "name", true);
        auto kind = string(o, path, "kind", false);
        if (!kind.empty()) {
            try {
                r.kind = relation_kind_from(kind);
            } catch (const Error& e) {
                fail(path + ".kind", e.message());
            }
        }
        r.production_schema = string(o, path, "production_schema", true);
        r.unique_id = string(o, path, "unique_id", false);
        r.checksum = string(o, path, "checksum", false);
        return r;
    }
    std::vector<BuiltRelation> relations(const json::value& v, const std::string& path) const {
        std::vector<BuiltRelation> out;
        const auto& list = array(v, path);
        for (std::size_t i = 0; i < list.size(); ++i) out.push_back(relation(list[i], path + "[" + std::to_string(i) + "]"));
        return out;
    }
};

}  // namespace

json::value to_json(const QualifiedName& name) { return {{"schema", name.schema}, {"name", name.name}}; }

json::value to_json(const RelationMove& m) {
    json::object o;
    o["schema"] = m.production.schema;
    o["name"] = m.production.name;
    o["kind"] = std::string(to_string(m.kind));
    o["from_schema"] = m.from_schema;
    o["archive_schema"] = m.archive_schema ? json::value(*m.archive_schema) : json::value(nullptr);
    o["archived_kind"] = m.archived_kind ? json::value(std::string(to_string(*m.archived_kind))) : json::value(nullptr);
    o["unique_id"] = m.unique_id;
    o["oid"] = m.oid;
    o["archived_oid"] = m.archived_oid;
    o["incoming"] = m.incoming;
    return o;
}

RelationMove relation_move_from_json(const json::value& value) {
    const auto& o = value.as_object();
    RelationMove m;
    m.production = {std::string(o.at("schema").as_string()), std::string(o.at("name").as_string())};
    m.kind = relation_kind_from(o.at("kind").as_string());
    m.from_schema = std::string(o.at("from_schema").as_string());
    if (o.at("archive_schema").is_string()) m.archive_schema = std::string(o.at("archive_schema").as_string());
    if (o.at("archived_kind").is_string()) m.archived_kind = relation_kind_from(o.at("archived_kind").as_string());
    m.unique_id = std::string(o.at("unique_id").as_string());
    m.oid = json::value_to<std::uint32_t>(o.at("oid"));
    m.archived_oid = json::value_to<std::uint32_t>(o.at("archived_oid"));
    m.incoming = o.at("incoming").as_bool();
    return m;
}

json::value to_json(const StaleReport& report) {
    json::array nodes;
    for (const auto& n : report.nodes) {
        nodes.push_back({{"unique_id", n.unique_id},
                         {"reason", std::string(to_string(n.reason))},
                         {"built_checksum", n.built_checksum},
                         {"main_checksum", n.main_checksum},
                         {"production_checksum", n.production_checksum}});
    }
    return nodes;
}

json::value to_json(const Result& r) {
    json::object o;
    o["outcome"] = std::string(to_string(r.outcome));
    o["id"] = r.id;
    o["rolled_back_id"] = r.rolled_back_id ? json::value(*r.rolled_back_id) : json::value(nullptr);
    if (!r.production_state.empty()) o["production_state"] = r.production_state;
    o["environment"] = r.environment;
    json::array archives(r.archive_schemas.begin(), r.archive_schemas.end());
    o["archive_schemas"] = archives;
    json::array relations;
    for (const auto& m : r.relations) relations.push_back(to_json(m));
    o["relations"] = relations;
    json::array rebound;
    for (const auto& v : r.rebound_views) rebound.push_back(to_json(v));
    o["rebound_views"] = rebound;
    o["stale"] = to_json(r.stale);
    o["attempts"] = r.attempts;
    o["swap_ms"] = r.swap_duration.count();
    o["duration_ms"] = r.duration.count();
    json::array pruned(r.pruned_archives.begin(), r.pruned_archives.end());
    o["pruned_archives"] = pruned;
    o["prune_warning"] = r.prune_warning;
    return o;
}

json::value to_json(const PublishRecord& r) {
    json::object o;
    o["id"] = r.id;
    o["kind"] = r.kind;
    o["environment"] = r.environment;
    o["pr"] = r.pr ? json::value(*r.pr) : json::value(nullptr);
    o["sha"] = r.sha;
    o["archive_schema"] = r.archive_schema;
    json::array archives(r.archive_schemas.begin(), r.archive_schemas.end());
    o["archive_schemas"] = archives;
    json::array relations;
    for (const auto& m : r.relations) relations.push_back(to_json(m));
    o["relations"] = relations;
    o["status"] = r.status;
    o["error"] = r.error;
    o["started_at"] = r.started_at;
    o["finished_at"] = r.finished_at;
    o["duration_ms"] = r.duration_ms ? json::value(*r.duration_ms) : json::value(nullptr);
    o["rolls_back"] = r.rolls_back ? json::value(*r.rolls_back) : json::value(nullptr);
    o["rolled_back_at"] = r.rolled_back_at;
    o["rolled_back_by"] = r.rolled_back_by ? json::value(*r.rolled_back_by) : json::value(nullptr);
    o["archive_dropped"] = r.archive_dropped;
    return o;
}

PublishInput input_from_json(const json::value& value, const std::string& file) {
    Reader read{file};
    PublishInput input;
    if (value.is_array()) {
        input.relations = read.relations(value, "$");
        return input;
    }
    const auto& o = read.object(value, "$");
    static const std::set<std::string> known = {"environment",  "pr",
                                                "sha",          "production_role",
                                                "relations",    "staged_views",
                                                "main_checksums", "production_checksums",
                                                "rebindable_views", "tolerated_dependent_schemas",
                                                "environment_raw_schema", "production_raw_schema"};
    for (const auto& [key, _] : o) {
        if (!known.count(std::string(key))) read.fail("$." + std::string(key), "unknown key");
    }
    input.environment = read.string(o, "$", "environment", false);
    if (auto* pr = o.if_contains("pr"); pr && !pr->is_null()) {
        if (!pr->is_int64()) read.fail("$.pr", "expected a number");
        input.pr = pr->get_int64();
    }
    input.sha = read.string(o, "$", "sha", false);
    input.production_role = read.string(o, "$", "production_role", false);
    if (auto* v = o.if_contains("relations")) input.relations = read.relations(*v, "$.relations");
    if (auto* v = o.if_contains("staged_views")) input.staged_views = read.relations(*v, "$.staged_views");
    input.environment_raw_schema = read.string(o, "$", "environment_raw_schema", false);
    input.production_raw_schema = read.string(o, "$", "production_raw_schema", false);
    if (auto* v = o.if_contains("main_checksums"); v && !v->is_null()) {
        input.main_checksums = read.checksums(*v, "$.main_checksums");
    }
    if (auto* v = o.if_contains("production_checksums")) {
        input.production_checksums = read.checksums(*v, "$.production_checksums");
    }
    if (auto* v = o.if_contains("rebindable_views")) {
        const auto& list = read.array(*v, "$.rebindable_views");
        for (std::size_t i = 0; i < list.size(); ++i) {
            auto path = "$.rebindable_views[" + std::to_string(i) + "]";
            const auto& view = read.object(list[i], path);
            input.rebindable_views.push_back({read.string(view, path, "schema", true), read.string(view, path, "name", true)});
        }
    }
    if (auto* v = o.if_contains("tolerated_dependent_schemas")) {
        const auto& list = read.array(*v, "$.tolerated_dependent_schemas");
        for (std::size_t i = 0; i < list.size(); ++i) {
            if (!list[i].is_string()) read.fail("$.tolerated_dependent_schemas[" + std::to_string(i) + "]", "expected a string");
            input.tolerated_dependent_schemas.emplace_back(list[i].get_string());
        }
    }
    return input;
}

std::string environment_name(const PublishTarget& target) {
    if (target.pr) return "pr-" + std::to_string(*target.pr);
    if (target.branch) return *target.branch;
    return "";
}

JsonFileSource::JsonFileSource(std::filesystem::path file, std::string production_role)
    : file_(std::move(file)), production_role_(std::move(production_role)) {}

PublishInput JsonFileSource::load(const PublishTarget& target) {
    std::ifstream in(file_, std::ios::binary);
    if (!in) throw Error(ErrorKind::usage, "cannot read the relations file", {.file = file_.string()});
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    auto value = json::parse(text.str(), ec);
    if (ec) throw Error(ErrorKind::input, "not valid JSON: " + ec.message(), {.file = file_.string()});
    auto input = input_from_json(value, file_.string());
    if (input.environment.empty()) input.environment = environment_name(target);
    if (!input.pr && target.pr) input.pr = target.pr;
    if (target.sha) input.sha = *target.sha;
    if (input.production_role.empty()) input.production_role = production_role_;
    return input;
}

}  // namespace ece::publish
