#include "openapi.hpp"

#include "support.hpp"

#include <boost/json.hpp>
#include <boost/process.hpp>

#include <algorithm>
#include <cctype>
#include <regex>
#include <stdexcept>

namespace ece::test {

namespace json = boost::json;
namespace bp = boost::process;

namespace {

std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> out;
    std::size_t start = 1;
    while (start <= path.size()) {
        auto slash = path.find('/', start);
        if (slash == std::string::npos) slash = path.size();
        out.push_back(path.substr(start, slash - start));
        start = slash + 1;
    }
    return out;
}

std::string percent_decode(const std::string& text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
            out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
}

// Every query parameter name, decoded, in order.
std::vector<std::pair<std::string, std::string>> query_pairs(const std::string& query) {
    std::vector<std::pair<std::string, std::string>> out;
    std::size_t start = 0;
    while (start < query.size()) {
        auto amp = query.find('&', start);
        if (amp == std::string::npos) amp = query.size();
        auto pair = query.substr(start, amp - start);
        auto eq = pair.find('=');
        out.emplace_back(percent_decode(pair.substr(0, eq)),
                         eq == std::string::npos ? std::string() : percent_decode(pair.substr(eq + 1)));
        start = amp + 1;
    }
    return out;
}

json::value scalar_to_json(const YAML::Node& node) {
    const auto& text = node.Scalar();
    if (node.Tag() == "!") return json::string(text);  // quoted: a string whatever it looks like
    if (text == "true") return true;
    if (text == "false") return false;
    if (text == "null" || text == "~" || text.empty()) return nullptr;
    static const std::regex integer("^-?[0-9]+$");
    static const std::regex number("^-?[0-9]+\\.[0-9]+([eE][-+]?[0-9]+)?$");
    if (std::regex_match(text, integer)) return static_cast<std::int64_t>(std::stoll(text));
    if (std::regex_match(text, number)) return std::stod(text);
    return json::string(text);
}

json::value to_json(const YAML::Node& node) {
    switch (node.Type()) {
    case YAML::NodeType::Map: {
        json::object o;
        for (const auto& item : node) o[item.first.as<std::string>()] = to_json(item.second);
        return o;
    }
    case YAML::NodeType::Sequence: {
        json::array a;
        for (const auto& item : node) a.push_back(to_json(item));
        return a;
    }
    case YAML::NodeType::Scalar:
        return scalar_to_json(node);
    default:
        return nullptr;
    }
}

}  // namespace

std::string yaml_to_json(const YAML::Node& node) { return json::serialize(to_json(node)); }

// ---------------------------------------------------------------------------------------------------------------

OpenApiSpec::OpenApiSpec(const std::filesystem::path& root_file)
    : root_file_(std::filesystem::weakly_canonical(root_file)) {
    root_ = load(root_file_);
    if (!root_["paths"].IsMap()) throw std::runtime_error("no paths in " + root_file.string());
}

OpenApiSpec OpenApiSpec::digitalocean(const std::filesystem::path& dir) {
    auto tarball = fixture("real/digitalocean/openapi/digitalocean-openapi-specification.tar.xz");
    // Only the root file and what the database and tag operations refer to: 430 of the 3,200 files, which keeps
    // every test process (CTest runs each test alone) from spending a second creating files.
    int rc = bp::system(bp::search_path("tar"), "-xJf", tarball.string(), "-C", dir.string(), "--wildcards",
                        "*/specification/DigitalOcean-public.v2.yaml", "*/specification/resources/databases/*",
                        "*/specification/resources/tags/*", "*/specification/shared/*", bp::std_out > bp::null,
                        bp::std_err > bp::null);
    if (rc != 0) throw std::runtime_error("tar -xJf " + tarball.string() + " failed");
    auto root = dir / "digitalocean-openapi-specification" / "specification" / "DigitalOcean-public.v2.yaml";
    OpenApiSpec spec(root);
    // tags_resource.yml's enum lists droplet, image, volume, volume_snapshot, but the operations' own text says
    // "resource_type is expected to be the string droplet, database, image, volume or volume_snapshot".
    spec.allow_enum_value("resource_type", "database");
    return spec;
}

void OpenApiSpec::allow_enum_value(const std::string& property, const std::string& value) {
    extra_enum_values_[property].insert(value);
}

const YAML::Node& OpenApiSpec::load(const std::filesystem::path& file) const {
    auto key = std::filesystem::weakly_canonical(file);
    auto it = files_.find(key);
    if (it == files_.end()) it = files_.emplace(key, YAML::LoadFile(key.string())).first;
    return it->second;
}

OpenApiSpec::Located OpenApiSpec::deref(Located at) const {
    for (int depth = 0; at.node.IsMap() && at.node["$ref"]; ++depth) {
        if (depth > 32) throw std::runtime_error("$ref loop in " + at.file.string());
        auto ref = at.node["$ref"].as<std::string>();
        auto hash = ref.find('#');
        auto file_part = ref.substr(0, hash);
        auto pointer = hash == std::string::npos ? std::string() : ref.substr(hash + 1);
        auto file = file_part.empty() ? at.file : at.file.parent_path() / file_part;
        // yaml-cpp's Node::operator= writes into the node it refers to; reset() is what re-points a handle.
        YAML::Node node;
        node.reset(load(file));
        for (auto& segment : split_path(pointer.empty() ? "" : pointer)) {
            if (segment.empty()) continue;
            std::string key;
            for (std::size_t i = 0; i < segment.size(); ++i) {
                if (segment[i] == '~' && i + 1 < segment.size()) {
                    key += segment[i + 1] == '1' ? '/' : '~';
                    ++i;
                } else {
                    key += segment[i];
                }
            }
            YAML::Node next = node[key];
            node.reset(next);
            if (!node) throw std::runtime_error("$ref " + ref + " from " + at.file.string() + " points nowhere");
        }
        at.node.reset(node);
        at.file = std::filesystem::weakly_canonical(file);
    }
    return at;
}

std::optional<std::string> OpenApiSpec::path_template(const std::string& method, const std::string& path) const {
    auto got = split_path(path);
    std::optional<std::string> best;
    int best_literals = -1;
    for (const auto& entry : root_["paths"]) {
        auto pattern = entry.first.as<std::string>();
        if (!entry.second[lower(method)]) continue;
        auto want = split_path(pattern);
        if (want.size() != got.size()) continue;
        int literals = 0;
        bool ok = true;
        for (std::size_t i = 0; i < want.size() && ok; ++i) {
            bool variable = want[i].size() > 2 && want[i].front() == '{' && want[i].back() == '}';
            if (variable) ok = !got[i].empty();
            else if (want[i] == got[i]) ++literals;
            else ok = false;
        }
        if (ok && literals > best_literals) {
            best = pattern;
            best_literals = literals;
        }
    }
    return best;
}

std::optional<OpenApiSpec::Located> OpenApiSpec::operation(const std::string& method,
                                                           const std::string& path_template) const {
    auto node = root_["paths"][path_template][lower(method)];
    if (!node) return std::nullopt;
    return deref({node, root_file_});
}

// ---------------------------------------------------------------------------------------------------------------
// Schema checks

namespace {

// A schema with its allOf parts merged.
struct Shape {
    std::string type;
    bool nullable = false;
    bool read_only = false;
    std::map<std::string, OpenApiSpec::Located> properties;
    std::set<std::string> required;
    std::vector<std::string> enum_values;
    bool has_enum = false;
    std::string pattern;
    std::optional<std::size_t> max_length;
    std::optional<OpenApiSpec::Located> items;
    bool additional_properties = false;
    std::vector<OpenApiSpec::Located> alternatives;  // anyOf / oneOf
};

class Checker {
public:
    Checker(const OpenApiSpec& spec, bool request, const std::map<std::string, std::set<std::string>>& extra,
            std::vector<std::string>& problems)
        : spec_(spec), request_(request), extra_(extra), problems_(problems) {}

    void check(const json::value& v, const OpenApiSpec::Located& schema, const std::string& where,
               const std::string& property) {
        Shape shape;
        merge(shape, schema);
        check_shape(v, shape, where, property);
    }

private:
    void merge(Shape& shape, const OpenApiSpec::Located& raw) {
        auto at = spec_.deref(raw);
        const auto& n = at.node;
        if (!n.IsMap()) return;
        if (n["type"] && shape.type.empty()) shape.type = n["type"].as<std::string>();
        if (n["nullable"] && n["nullable"].as<bool>()) shape.nullable = true;
        if (n["readOnly"] && n["readOnly"].as<bool>()) shape.read_only = true;
        if (n["properties"]) {
            for (const auto& p : n["properties"]) shape.properties.emplace(p.first.as<std::string>(), OpenApiSpec::Located{p.second, at.file});
        }
        if (n["required"]) {
            for (const auto& r : n["required"]) shape.required.insert(r.as<std::string>());
        }
        if (n["enum"] && !shape.has_enum) {
            shape.has_enum = true;
            for (const auto& e : n["enum"]) shape.enum_values.push_back(e.as<std::string>());
        }
        if (n["pattern"] && shape.pattern.empty()) shape.pattern = n["pattern"].as<std::string>();
        if (n["maxLength"]) shape.max_length = n["maxLength"].as<std::size_t>();
        if (n["items"] && !shape.items) shape.items = OpenApiSpec::Located{n["items"], at.file};
        if (n["additionalProperties"] && !(n["additionalProperties"].IsScalar() &&
                                           n["additionalProperties"].as<std::string>() == "false")) {
            shape.additional_properties = true;
        }
        if (n["allOf"]) {
            for (const auto& part : n["allOf"]) merge(shape, {part, at.file});
        }
        for (const char* key : {"anyOf", "oneOf"}) {
            if (n[key]) {
                for (const auto& part : n[key]) shape.alternatives.push_back({part, at.file});
            }
        }
    }

    void problem(const std::string& where, const std::string& what) { problems_.push_back(where + ": " + what); }

    static bool type_matches(const json::value& v, const std::string& type) {
        if (type == "string") return v.is_string();
        if (type == "integer") return v.is_int64() || v.is_uint64();
        if (type == "number") return v.is_number();
        if (type == "boolean") return v.is_bool();
        if (type == "array") return v.is_array();
        if (type == "object") return v.is_object();
        return true;
    }

    void check_shape(const json::value& v, const Shape& shape, const std::string& where, const std::string& property) {
        if (v.is_null()) {
            if (!shape.nullable && !shape.type.empty()) problem(where, "null, but the schema is not nullable");
            return;
        }
        if (!shape.alternatives.empty()) {
            bool any = false;
            for (const auto& alternative : shape.alternatives) {
                std::vector<std::string> scratch;
                Checker(spec_, request_, extra_, scratch).check(v, alternative, where, property);
                if (scratch.empty()) {
                    any = true;
                    break;
                }
            }
            if (!any) problem(where, "fits none of the anyOf/oneOf alternatives");
        }
        std::string type = shape.type;
        if (type.empty() && !shape.properties.empty()) type = "object";
        if (!type.empty() && !type_matches(v, type)) {
            problem(where, "expected " + type + ", got " + json::serialize(v));
            return;
        }
        if (shape.has_enum) {
            std::string text = v.is_string() ? std::string(v.as_string()) : json::serialize(v);
            bool listed = std::find(shape.enum_values.begin(), shape.enum_values.end(), text) != shape.enum_values.end();
            auto extra = extra_.find(property);
            if (!listed && extra != extra_.end()) listed = extra->second.count(text) > 0;
            if (!listed) problem(where, "\"" + text + "\" is not one of the enum values");
        }
        if (v.is_string()) {
            std::string text(v.as_string());
            if (shape.max_length && text.size() > *shape.max_length) {
                problem(where, "longer than maxLength " + std::to_string(*shape.max_length));
            }
            if (!shape.pattern.empty()) {
                try {
                    if (!std::regex_search(text, std::regex(shape.pattern))) {
                        problem(where, "\"" + text + "\" does not match pattern " + shape.pattern);
                    }
                } catch (const std::regex_error&) {
                    // a pattern std::regex cannot read: not checked
                }
            }
        }
        if (v.is_array() && shape.items) {
            std::size_t i = 0;
            for (const auto& item : v.as_array()) check(item, *shape.items, where + "[" + std::to_string(i++) + "]", property);
        }
        if (v.is_object()) {
            const auto& o = v.as_object();
            for (const auto& name : shape.required) {
                if (!o.contains(name)) problem(where, "required property \"" + name + "\" is missing");
            }
            for (const auto& [key, value] : o) {
                std::string name(key);
                auto it = shape.properties.find(name);
                if (it == shape.properties.end()) {
                    // JSON Schema allows unknown properties unless told otherwise, and DigitalOcean's answers carry
                    // some (its own example of GET /options has default_version): only requests are held to the
                    // declared ones, where an unknown name is a typo DigitalOcean would silently ignore.
                    if (request_ && !shape.additional_properties && !shape.properties.empty()) {
                        problem(where + "." + name, "not a property of the schema");
                    }
                    continue;
                }
                if (request_) {
                    Shape inner;
                    merge(inner, it->second);
                    if (inner.read_only) problem(where + "." + name, "read-only, must not be sent");
                }
                check(value, it->second, where + "." + name, name);
            }
        }
    }

    const OpenApiSpec& spec_;
    bool request_;
    const std::map<std::string, std::set<std::string>>& extra_;
    std::vector<std::string>& problems_;
};

}  // namespace

std::vector<std::string> OpenApiSpec::check_request(const std::string& method, const std::string& target,
                                                    const std::string& body) const {
    std::vector<std::string> problems;
    auto q = target.find('?');
    auto path = target.substr(0, q);
    auto query = q == std::string::npos ? std::string() : target.substr(q + 1);
    std::string what = method + " " + target;
    auto tpl = path_template(method, path);
    if (!tpl) {
        problems.push_back(what + ": no such operation in the description");
        return problems;
    }
    auto op = operation(method, *tpl);
    std::vector<std::string> errors;
    Checker checker(*this, true, extra_enum_values_, errors);

    // Parameters: query names declared, required ones present, path and query values fit their schemas.
    std::map<std::string, Located> query_params;
    std::set<std::string> required_query;
    auto want = split_path(*tpl);
    auto got = split_path(path);
    if (op->node["parameters"]) {
        for (const auto& raw : op->node["parameters"]) {
            auto p = deref({raw, op->file});
            auto in = p.node["in"].as<std::string>();
            auto name = p.node["name"].as<std::string>();
            if (in == "query") {
                query_params.emplace(name, Located{p.node["schema"], p.file});
                if (p.node["required"] && p.node["required"].as<bool>()) required_query.insert(name);
            } else if (in == "path") {
                for (std::size_t i = 0; i < want.size(); ++i) {
                    if (want[i] == "{" + name + "}" && p.node["schema"]) {
                        checker.check(json::string(percent_decode(got[i])), {p.node["schema"], p.file},
                                      "path parameter " + name, name);
                    }
                }
            }
        }
    }
    for (const auto& [name, value] : query_pairs(query)) {
        auto it = query_params.find(name);
        if (it == query_params.end()) {
            errors.push_back("query parameter " + name + ": not declared");
        } else if (it->second.node) {
            checker.check(json::string(value), it->second, "query parameter " + name, name);
        }
        required_query.erase(name);
    }
    for (const auto& name : required_query) errors.push_back("query parameter " + name + ": required, missing");

    // Body.
    auto request_body = op->node["requestBody"] ? std::optional(deref({op->node["requestBody"], op->file})) : std::nullopt;
    if (!request_body) {
        if (!body.empty()) errors.push_back("body: the operation takes none");
    } else if (body.empty()) {
        if (request_body->node["required"] && request_body->node["required"].as<bool>()) {
            errors.push_back("body: required, missing");
        }
    } else {
        auto schema = request_body->node["content"]["application/json"]["schema"];
        boost::system::error_code ec;
        auto value = json::parse(body, ec);
        if (ec) errors.push_back("body: not JSON (" + ec.message() + ")");
        else if (schema) checker.check(value, {schema, request_body->file}, "$", "");
    }
    for (auto& e : errors) problems.push_back(what + " (" + *tpl + "): " + e);
    return problems;
}

std::vector<std::string> OpenApiSpec::check_response(const std::string& method, const std::string& path, int status,
                                                     const std::string& body) const {
    std::vector<std::string> problems;
    std::string what = method + " " + path + " -> " + std::to_string(status);
    auto tpl = path_template(method, path);
    if (!tpl) return {what + ": no such operation in the description"};
    auto op = operation(method, *tpl);
    auto responses = op->node["responses"];
    YAML::Node declared;
    declared.reset(responses[std::to_string(status)]);
    if (!declared) declared.reset(responses["default"]);
    if (!declared) return {what + ": status not declared"};
    auto response = deref({declared, op->file});
    auto schema = response.node["content"] ? response.node["content"]["application/json"]["schema"] : YAML::Node();
    if (!schema || body.empty()) {
        if (schema && status != 204) problems.push_back(what + ": body missing");
        return problems;
    }
    boost::system::error_code ec;
    auto value = json::parse(body, ec);
    if (ec) return {what + ": body is not JSON"};
    std::vector<std::string> errors;
    Checker(*this, false, extra_enum_values_, errors).check(value, {schema, response.file}, "$", "");
    for (auto& e : errors) problems.push_back(what + ": " + e);
    return problems;
}

}  // namespace ece::test
