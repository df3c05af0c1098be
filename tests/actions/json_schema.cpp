#include "json_schema.hpp"

#include <algorithm>

#include "support.hpp"

namespace json = boost::json;

namespace ece::test {
namespace {

class Validator {
public:
    explicit Validator(SchemaReport& report) : report_(report) {}

    void check(const json::value& value, const json::object& schema, const std::filesystem::path& base, const std::string& path) {
        if (const auto* ref = schema.if_contains("$ref")) {
            auto target = base.parent_path() / std::string(ref->as_string());
            // $ids in these schemas are relative to the schemas/ root ("common/x.schema.json"), refs relative to
            // the referring file; try both.
            if (!std::filesystem::exists(target)) target = root_ / std::string(ref->as_string());
            if (!std::filesystem::exists(target)) {
                report_.unresolved_refs.insert(std::string(ref->as_string()));
                return;
            }
            auto loaded = json::parse(read_file(target));
            check(value, loaded.as_object(), target, path);
            return;
        }
        if (const auto* type = schema.if_contains("type")) check_type(value, *type, path);
        if (const auto* allowed = schema.if_contains("enum")) {
            const auto& list = allowed->as_array();
            if (std::find(list.begin(), list.end(), value) == list.end()) fail(path, "not one of the enum values");
        }
        if (const auto* all = schema.if_contains("allOf")) {
            for (const auto& sub : all->as_array()) check(value, sub.as_object(), base, path);
        }
        for (const char* keyword : {"oneOf", "anyOf"}) {
            if (const auto* any = schema.if_contains(keyword)) {
                int matches = 0;
                for (const auto& sub : any->as_array()) matches += passes(value, sub.as_object(), base, path) ? 1 : 0;
                if (matches == 0) fail(path, std::string("matches none of ") + keyword);
            }
        }
        if (value.is_object()) check_object(value.get_object(), schema, base, path);
        if (value.is_array()) {
            if (const auto* items = schema.if_contains("items")) {
                const auto& array = value.get_array();
                for (std::size_t i = 0; i < array.size(); ++i) {
                    check(array[i], items->as_object(), base, path + "[" + std::to_string(i) + "]");
                }
            }
        }
    }

    std::filesystem::path root_;

private:
    bool passes(const json::value& value, const json::object& schema, const std::filesystem::path& base, const std::string& path) {
        SchemaReport trial;
        Validator sub(trial);
        sub.root_ = root_;
        sub.check(value, schema, base, path);
        report_.unresolved_refs.insert(trial.unresolved_refs.begin(), trial.unresolved_refs.end());
        return trial.violations.empty();
    }

    void check_object(const json::object& object, const json::object& schema, const std::filesystem::path& base, const std::string& path) {
        if (const auto* required = schema.if_contains("required")) {
            for (const auto& key : required->as_array()) {
                if (!object.contains(key.as_string())) fail(path, "missing required " + std::string(key.as_string()));
            }
        }
        const json::object* properties = nullptr;
        if (const auto* p = schema.if_contains("properties")) properties = &p->as_object();
        if (properties) {
            for (const auto& [key, sub] : *properties) {
                if (const auto* child = object.if_contains(key)) check(*child, sub.as_object(), base, path + "." + std::string(key));
            }
        }
        if (const auto* additional = schema.if_contains("additionalProperties"); additional && additional->is_bool() && !additional->get_bool()) {
            for (const auto& [key, unused] : object) {
                if (!properties || !properties->contains(key)) fail(path, "unexpected property " + std::string(key));
            }
        }
    }

    void check_type(const json::value& value, const json::value& type, const std::string& path) {
        auto matches = [&value](std::string_view name) {
            if (name == "null") return value.is_null();
            if (name == "boolean") return value.is_bool();
            if (name == "integer") return value.is_int64() || value.is_uint64();
            if (name == "number") return value.is_number();
            if (name == "string") return value.is_string();
            if (name == "array") return value.is_array();
            if (name == "object") return value.is_object();
            return false;
        };
        if (type.is_string()) {
            if (!matches(type.get_string())) fail(path, "expected " + std::string(type.get_string()));
            return;
        }
        for (const auto& one : type.as_array()) {
            if (matches(one.as_string())) return;
        }
        fail(path, "type matches none of " + json::serialize(type));
    }

    void fail(const std::string& path, const std::string& problem) { report_.violations.push_back(path + ": " + problem); }

    SchemaReport& report_;
};

}  // namespace

SchemaReport validate_json(const json::value& document, const std::filesystem::path& schema_file) {
    SchemaReport report;
    Validator validator(report);
    validator.root_ = schema_file.parent_path();
    auto schema = json::parse(read_file(schema_file));
    validator.check(document, schema.as_object(), schema_file, "$");
    return report;
}

}  // namespace ece::test
