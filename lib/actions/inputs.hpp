#pragma once
// Action inputs as GitHub hands them to a container action: one INPUT_<NAME> environment variable per input.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ece::actions {

class Commands;

// Looks up one environment variable; std::nullopt when unset. Tests pass a map-backed lookup.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The real process environment.
EnvLookup process_env();

// GitHub's rule: "INPUT_" + name upper-cased with spaces replaced by '_' (dashes are kept): "github-token" ->
// "INPUT_GITHUB-TOKEN".
std::string input_variable(std::string_view input_name);

class Inputs {
public:
    explicit Inputs(EnvLookup env = process_env());

    // The value with surrounding whitespace trimmed (as actions/toolkit does); nullopt when unset or empty.
    std::optional<std::string> get(std::string_view name) const;
    std::string get_or(std::string_view name, std::string_view fallback) const;

    // Throws ece::Error(usage) "input 'name' is required ..." when unset or empty.
    std::string required(std::string_view name) const;

    // YAML 1.2 core schema booleans, as actions/toolkit's getBooleanInput: true|True|TRUE|false|False|FALSE.
    // Anything else throws ece::Error(usage) naming the input and the accepted spellings.
    std::optional<bool> get_bool(std::string_view name) const;
    bool get_bool_or(std::string_view name, bool fallback) const;

    // A whole number; anything else throws ece::Error(usage) naming the input.
    std::optional<long long> get_int(std::string_view name) const;

    // Non-empty lines, each trimmed (for inputs such as select: one selector per line).
    std::vector<std::string> get_lines(std::string_view name) const;

    // An input holding a credential: registered with ece::register_secret before it is returned.
    // (The ::add-mask:: for it is Commands::add_mask's job; this keeps every error and output free of it.)
    std::optional<std::string> get_secret(std::string_view name) const;
    // The same, and the runner is told to mask it (::add-mask:: through commands) before anything prints it.
    std::optional<std::string> get_secret(std::string_view name, Commands& commands) const;

    // The database-url input (masked) for the chain a run carries out. publish, gc and destroy act on production and
    // the catalog: without a URL they would "succeed" against an embedded server that vanishes with the job, so an
    // empty value is an error there naming the secret ECE_DATABASE_URL, unless catalog_optional (the digitalocean
    // provider keeps its state in the clusters' tags). preview, hints and demo may use the embedded server.
    std::optional<std::string> database_url_for(std::string_view chain, bool catalog_optional, Commands& commands) const;

private:
    EnvLookup env_;
};

}  // namespace ece::actions
