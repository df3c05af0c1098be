#pragma once
// Terraform / OpenTofu plans as written by `terraform show -json` / `tofu show -json` (format_version 0.1 to 1.x).
#include <boost/json/value.hpp>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ece::plan {

enum class Action { create, update, destroy, replace, read, no_op };

// "create", "update", "delete", "replace", "read", "no-op".
std::string_view action_name(Action action);

// What is shown for values Terraform hides or does not know yet.
inline constexpr std::string_view sensitive_text = "(sensitive)";
inline constexpr std::string_view unknown_text = "(known after apply)";

// One changed leaf attribute, its path dotted ("tags.Name", "ebs_block_device[0].volume_size").
// Values are rendered JSON ("\"gp2\"", "20", "null"), or sensitive_text / unknown_text; empty when absent
// on that side (before of a create, after of a delete).
struct AttributeChange {
    std::string path;
    std::string before;
    std::string after;
};

struct ResourceChange {
    std::string address;
    std::string previous_address;  // set when moved
    std::string mode;              // "managed" or "data"
    std::string type;
    std::string name;
    std::string provider_name;
    Action action = Action::no_op;
    bool create_before_destroy = false;  // replace as ["create","delete"]
    std::string action_reason;           // e.g. "replace_because_tainted"
    std::vector<std::string> replace_paths;
    std::vector<AttributeChange> changes;
    // Attribute values with every sensitive leaf replaced by sensitive_text, for pricing. Null when absent.
    boost::json::value before;
    boost::json::value after;

    bool moved() const { return !previous_address.empty() && previous_address != address; }
};

struct ActionCounts {
    std::size_t create = 0, update = 0, destroy = 0, replace = 0, read = 0, no_op = 0, moved = 0;
    std::size_t changed() const { return create + update + destroy + replace + read; }
};

struct Plan {
    std::string source;  // file name, for messages
    std::string format_version;
    std::string terraform_version;
    std::vector<ResourceChange> resource_changes;

    ActionCounts counts() const;
    // True when nothing would change (every resource no-op and nothing moved).
    bool no_changes() const;
};

// Parses plan JSON. Throws ece::Error(input) naming source_name (and line/byte for broken JSON, with a hint when
// the text looks like the output of hashicorp/setup-terraform's wrapper).
Plan parse_plan(std::string_view text, const std::string& source_name);
Plan read_plan(const std::filesystem::path& path);

// Whether an attribute's name says it holds a secret (password, secret, token, private key, API key, credential,
// connection string; any case, '-' or '_'). A plan without before_sensitive / after_sensitive (Terraform before
// 0.15, some providers) has such attributes shown as sensitive_text, at any depth.
bool secret_by_name(std::string_view attribute);

// The changed leaf attributes between before and after (exposed for tests).
std::vector<AttributeChange> diff_attributes(const boost::json::value& before, const boost::json::value& after,
                                             const boost::json::value& before_sensitive,
                                             const boost::json::value& after_sensitive,
                                             const boost::json::value& after_unknown, Action action);

}  // namespace ece::plan
