#include "plan/plan.hpp"

#include "core/error.hpp"
#include "plan/json_input.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

namespace json = boost::json;

namespace ece::plan {

std::string_view action_name(Action action) {
    switch (action) {
        case Action::create: return "create";
        case Action::update: return "update";
        case Action::destroy: return "delete";
        case Action::replace: return "replace";
        case Action::read: return "read";
        case Action::no_op: return "no-op";
    }
    return "no-op";
}

ActionCounts Plan::counts() const {
    ActionCounts c;
    for (const auto& r : resource_changes) {
        switch (r.action) {
            case Action::create: ++c.create; break;
            case Action::update: ++c.update; break;
            case Action::destroy: ++c.destroy; break;
            case Action::replace: ++c.replace; break;
            case Action::read: ++c.read; break;
            case Action::no_op: ++c.no_op; break;
        }
        if (r.moved()) ++c.moved;
    }
    return c;
}

bool Plan::no_changes() const {
    auto c = counts();
    return c.changed() == 0 && c.moved == 0;
}

namespace {

const json::value null_value;

bool is_true(const json::value* v) { return v && v->is_bool() && v->get_bool(); }

bool is_container(const json::value* v) { return v && (v->is_object() || v->is_array()); }

bool absent_or_null(const json::value* v) { return !v || v->is_null(); }

const json::value* child(const json::value* v, std::string_view key) {
    if (!v || !v->is_object()) return nullptr;
    return v->get_object().if_contains(key);
}

const json::value* child(const json::value* v, std::size_t index) {
    if (!v || !v->is_array() || index >= v->get_array().size()) return nullptr;
    return &v->get_array()[index];
}

bool is_identifier(std::string_view key) {
    if (key.empty()) return false;
    return std::all_of(key.begin(), key.end(),
                       [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
}

std::string key_path(const std::string& prefix, std::string_view key) {
    if (is_identifier(key)) return prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
    return prefix + "[" + json::serialize(json::value(key)) + "]";
}

std::string index_path(const std::string& prefix, std::size_t index) {
    return prefix + "[" + std::to_string(index) + "]";
}

std::string value_text(const json::value* v, bool sensitive) {
    if (!v) return {};
    if (sensitive) return std::string(sensitive_text);
    return json::serialize(*v);
}

// One value of each input at the same path, walked in parallel.
struct Node {
    const json::value* before;
    const json::value* after;
    const json::value* before_sensitive;
    const json::value* after_sensitive;
    const json::value* after_unknown;
    bool before_hidden;  // an ancestor is sensitive
    bool after_hidden;
};

class Differ {
public:
    explicit Differ(std::vector<AttributeChange>& out) : out_(out) {}

    void walk(const std::string& path, const Node& n) {
        bool before_hidden = n.before_hidden || is_true(n.before_sensitive);
        bool after_hidden = n.after_hidden || is_true(n.after_sensitive);
        if (is_true(n.after_unknown)) {
            emit(path, value_text(n.before, before_hidden), std::string(unknown_text));
            return;
        }
        bool recurse = !before_hidden && !after_hidden &&
                       (is_container(n.before) || is_container(n.after) || is_container(n.after_unknown));
        if (recurse) {
            walk_children(path, n);
            return;
        }
        if (absent_or_null(n.before) && absent_or_null(n.after)) return;
        bool same = n.before && n.after && *n.before == *n.after;
        if (same) return;
        // Empty containers appearing or vanishing carry nothing worth a line.
        emit(path, value_text(n.before, before_hidden), value_text(n.after, after_hidden));
    }

private:
    void walk_children(const std::string& path, const Node& n) {
        bool objects = (n.before && n.before->is_object()) || (n.after && n.after->is_object()) ||
                       (n.after_unknown && n.after_unknown->is_object());
        if (objects) {
            std::set<std::string> keys;
            for (const auto* v : {n.before, n.after, n.after_unknown}) {
                if (v && v->is_object()) {
                    for (const auto& kv : v->get_object()) keys.insert(std::string(kv.key()));
                }
            }
            for (const auto& key : keys) {
                walk(key_path(path, key), Node{child(n.before, key), child(n.after, key),
                                               child(n.before_sensitive, key), child(n.after_sensitive, key),
                                               child(n.after_unknown, key), false, false});
            }
            return;
        }
        std::size_t size = 0;
        for (const auto* v : {n.before, n.after, n.after_unknown}) {
            if (v && v->is_array()) size = std::max(size, v->get_array().size());
        }
        for (std::size_t i = 0; i < size; ++i) {
            walk(index_path(path, i), Node{child(n.before, i), child(n.after, i), child(n.before_sensitive, i),
                                           child(n.after_sensitive, i), child(n.after_unknown, i), false, false});
        }
    }

    void emit(const std::string& path, std::string before, std::string after) {
        out_.push_back({path.empty() ? std::string("(whole value)") : path, std::move(before), std::move(after)});
    }

    std::vector<AttributeChange>& out_;
};

// A copy of value with every sensitive part replaced by sensitive_text.
json::value redact(const json::value& value, const json::value* sensitive) {
    if (is_true(sensitive)) return json::value(sensitive_text);
    if (value.is_object()) {
        json::object out;
        for (const auto& kv : value.get_object()) out[kv.key()] = redact(kv.value(), child(sensitive, kv.key()));
        return out;
    }
    if (value.is_array()) {
        json::array out;
        const auto& in = value.get_array();
        for (std::size_t i = 0; i < in.size(); ++i) out.push_back(redact(in[i], child(sensitive, i)));
        return out;
    }
    return value;
}

bool contains_word(std::string_view text, std::string_view word) { return text.find(word) != std::string_view::npos; }

}  // namespace

bool secret_by_name(std::string_view attribute) {
    std::string key(attribute);
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    key.erase(std::remove(key.begin(), key.end(), '-'), key.end());
    for (std::string_view word : {"password", "passwd", "secret", "token", "privatekey", "private_key", "apikey",
                                  "api_key", "credential", "connection_string", "connectionstring"}) {
        if (contains_word(key, word)) return true;
    }
    return false;
}

namespace {

// What a plan without before_/after_sensitive (Terraform before 0.15, some providers) is taken to say: every
// attribute whose name is a secret's (secret_by_name) is sensitive, at any depth.
json::value sensitive_by_name(const json::value& value) {
    if (value.is_object()) {
        json::object marks;
        for (const auto& kv : value.get_object())
            // A flag named after a secret (get_password_data = false) says nothing secret.
            marks[kv.key()] = secret_by_name(kv.key()) && !kv.value().is_bool() ? json::value(true)
                                                                                 : sensitive_by_name(kv.value());
        return marks;
    }
    if (value.is_array()) {
        json::array marks;
        for (const auto& item : value.get_array()) marks.push_back(sensitive_by_name(item));
        return marks;
    }
    return json::value(false);
}

std::string string_field(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

Error plan_error(const std::string& source, const std::string& field, const std::string& message) {
    return Error(ErrorKind::input, message, {.file = source, .field = field});
}

void parse_actions(const json::value* actions, ResourceChange& r, const std::string& source,
                   const std::string& field) {
    if (!actions || !actions->is_array()) throw plan_error(source, field, "expected an array of actions");
    std::vector<std::string> names;
    for (const auto& a : actions->get_array()) {
        if (!a.is_string()) throw plan_error(source, field, "expected action names as strings");
        names.emplace_back(a.get_string());
    }
    using V = std::vector<std::string>;
    if (names == V{"no-op"}) r.action = Action::no_op;
    else if (names == V{"create"}) r.action = Action::create;
    else if (names == V{"read"}) r.action = Action::read;
    else if (names == V{"update"}) r.action = Action::update;
    else if (names == V{"delete"}) r.action = Action::destroy;
    else if (names == V{"delete", "create"}) r.action = Action::replace;
    else if (names == V{"create", "delete"}) {
        r.action = Action::replace;
        r.create_before_destroy = true;
    } else {
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ",") + n;
        throw plan_error(source, field, "unsupported action combination [" + list + "]");
    }
}

std::vector<std::string> replace_paths(const json::value* paths) {
    std::vector<std::string> out;
    if (!paths || !paths->is_array()) return out;
    for (const auto& p : paths->get_array()) {
        if (!p.is_array()) continue;
        std::string path;
        for (const auto& step : p.get_array()) {
            if (step.is_string()) path = key_path(path, step.get_string());
            else if (step.is_int64()) path = index_path(path, static_cast<std::size_t>(step.get_int64()));
        }
        out.push_back(path);
    }
    return out;
}

ResourceChange parse_resource_change(const json::value& v, const std::string& source, std::size_t index) {
    std::string field = "$.resource_changes[" + std::to_string(index) + "]";
    if (!v.is_object()) throw plan_error(source, field, "expected an object");
    const auto& o = v.get_object();
    ResourceChange r;
    r.address = string_field(o, "address");
    if (r.address.empty()) throw plan_error(source, field + ".address", "missing resource address");
    r.previous_address = string_field(o, "previous_address");
    r.mode = string_field(o, "mode");
    r.type = string_field(o, "type");
    r.name = string_field(o, "name");
    r.provider_name = string_field(o, "provider_name");
    r.action_reason = string_field(o, "action_reason");
    const auto* change = o.if_contains("change");
    if (!change || !change->is_object()) throw plan_error(source, field + ".change", "missing change object");
    const auto& c = change->get_object();
    parse_actions(c.if_contains("actions"), r, source, field + ".change.actions");
    r.replace_paths = replace_paths(c.if_contains("replace_paths"));

    const auto* before = c.if_contains("before");
    const auto* after = c.if_contains("after");
    const auto* before_sensitive = c.if_contains("before_sensitive");
    const auto* after_sensitive = c.if_contains("after_sensitive");
    const auto* after_unknown = c.if_contains("after_unknown");
    if (before && before->is_null()) before = nullptr;
    if (after && after->is_null()) after = nullptr;
    // The plan does not say what is sensitive: secrets are judged by their names, so that no password is shown.
    json::value before_by_name, after_by_name;
    if (!before_sensitive && before) before_sensitive = &(before_by_name = sensitive_by_name(*before));
    if (!after_sensitive && after) after_sensitive = &(after_by_name = sensitive_by_name(*after));
    if (r.action != Action::destroy && r.action != Action::no_op) {
        Differ differ(r.changes);
        differ.walk("", Node{before, after, before_sensitive, after_sensitive, after_unknown, false, false});
    }
    r.before = before ? redact(*before, before_sensitive) : json::value(nullptr);
    r.after = after ? redact(*after, after_sensitive) : json::value(nullptr);
    return r;
}

bool looks_like_wrapper_output(std::string_view text) {
    return text.starts_with("[command]") || text.find("\n::set-output") != std::string_view::npos ||
           text.find("::debug::") != std::string_view::npos;
}

void check_format_version(const std::string& version, const std::string& source) {
    auto dot = version.find('.');
    auto major = version.substr(0, dot);
    if (major != "0" && major != "1") {
        throw plan_error(source, "$.format_version",
                         "unsupported plan format_version \"" + version + "\" (ece reads 0.x and 1.x)");
    }
}

}  // namespace

std::vector<AttributeChange> diff_attributes(const json::value& before, const json::value& after,
                                             const json::value& before_sensitive,
                                             const json::value& after_sensitive, const json::value& after_unknown,
                                             Action action) {
    std::vector<AttributeChange> out;
    if (action == Action::destroy || action == Action::no_op) return out;
    Differ differ(out);
    differ.walk("", Node{before.is_null() ? nullptr : &before, after.is_null() ? nullptr : &after,
                         &before_sensitive, &after_sensitive, &after_unknown, false, false});
    return out;
}

Plan parse_plan(std::string_view text, const std::string& source_name) {
    std::string hint = looks_like_wrapper_output(text)
        ? "this looks like terraform output captured through hashicorp/setup-terraform's wrapper (lines such as "
          "\"[command]...\" and \"::set-output\"); set `terraform_wrapper: false` on the setup-terraform step, "
          "or write the plan with `terraform show -json plan.tfplan > plan.json` in a step without the wrapper"
        : "expected the output of `terraform show -json PLANFILE` or `tofu show -json PLANFILE`";
    auto doc = parse_json_document(text, source_name, hint);
    if (!doc.is_object()) throw plan_error(source_name, "$", "expected a JSON object (a plan); " + hint);
    const auto& root = doc.get_object();
    Plan plan;
    plan.source = source_name;
    plan.format_version = string_field(root, "format_version");
    if (plan.format_version.empty()) {
        throw plan_error(source_name, "$.format_version", "missing format_version: not a Terraform plan; " + hint);
    }
    check_format_version(plan.format_version, source_name);
    plan.terraform_version = string_field(root, "terraform_version");
    if (const auto* changes = root.if_contains("resource_changes")) {
        if (!changes->is_array()) throw plan_error(source_name, "$.resource_changes", "expected an array");
        const auto& array = changes->get_array();
        for (std::size_t i = 0; i < array.size(); ++i) {
            plan.resource_changes.push_back(parse_resource_change(array[i], source_name, i));
        }
    }
    return plan;
}

Plan read_plan(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(ErrorKind::input, "cannot read the plan file", {.file = path.string()});
    std::ostringstream text;
    text << in.rdbuf();
    return parse_plan(text.str(), path.string());
}

}  // namespace ece::plan
