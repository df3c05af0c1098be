#include "actions/inputs.hpp"

#include <cctype>
#include <cstdlib>
#include <sstream>

#include "actions/commands.hpp"
#include "core/error.hpp"
#include "core/secrets.hpp"

namespace ece::actions {
namespace {

std::string trim(std::string_view text) {
    const char* space = " \t\r\n\f\v";
    auto first = text.find_first_not_of(space);
    if (first == std::string_view::npos) return {};
    auto last = text.find_last_not_of(space);
    return std::string(text.substr(first, last - first + 1));
}

Error input_error(std::string_view name, const std::string& message) {
    return Error(ErrorKind::usage, message, {.field = input_variable(name)});
}

}  // namespace

EnvLookup process_env() {
    return [](std::string_view name) -> std::optional<std::string> {
        const char* value = std::getenv(std::string(name).c_str());
        if (value == nullptr) return std::nullopt;
        return std::string(value);
    };
}

std::string input_variable(std::string_view input_name) {
    std::string variable = "INPUT_";
    for (char c : input_name) {
        variable += c == ' ' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return variable;
}

Inputs::Inputs(EnvLookup env) : env_(std::move(env)) {}

std::optional<std::string> Inputs::get(std::string_view name) const {
    auto raw = env_(input_variable(name));
    if (!raw) return std::nullopt;
    auto value = trim(*raw);
    if (value.empty()) return std::nullopt;
    return value;
}

std::string Inputs::get_or(std::string_view name, std::string_view fallback) const {
    auto value = get(name);
    return value ? *value : std::string(fallback);
}

std::string Inputs::required(std::string_view name) const {
    auto value = get(name);
    if (!value) throw input_error(name, "input '" + std::string(name) + "' is required and was not supplied (set it under with: in the workflow)");
    return *value;
}

std::optional<bool> Inputs::get_bool(std::string_view name) const {
    auto value = get(name);
    if (!value) return std::nullopt;
    if (*value == "true" || *value == "True" || *value == "TRUE") return true;
    if (*value == "false" || *value == "False" || *value == "FALSE") return false;
    throw input_error(name, "input '" + std::string(name) + "' is not a YAML 1.2 core schema boolean: '" + *value +
                                "' (use true | True | TRUE | false | False | FALSE)");
}

bool Inputs::get_bool_or(std::string_view name, bool fallback) const {
    auto value = get_bool(name);
    return value ? *value : fallback;
}

std::optional<long long> Inputs::get_int(std::string_view name) const {
    auto value = get(name);
    if (!value) return std::nullopt;
    std::size_t used = 0;
    long long number = 0;
    try {
        number = std::stoll(*value, &used, 10);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != value->size()) {
        throw input_error(name, "input '" + std::string(name) + "' is not a whole number: '" + *value + "'");
    }
    return number;
}

std::vector<std::string> Inputs::get_lines(std::string_view name) const {
    std::vector<std::string> lines;
    auto value = get(name);
    if (!value) return lines;
    std::istringstream in(*value);
    for (std::string line; std::getline(in, line);) {
        auto trimmed = trim(line);
        if (!trimmed.empty()) lines.push_back(std::move(trimmed));
    }
    return lines;
}

std::optional<std::string> Inputs::get_secret(std::string_view name) const {
    auto value = get(name);
    if (value) register_secret(*value);
    return value;
}

}  // namespace ece::actions

namespace ece::actions {

std::optional<std::string> Inputs::get_secret(std::string_view name, Commands& commands) const {
    auto value = get(name);
    if (value) commands.add_mask(*value);
    return value;
}

std::optional<std::string> Inputs::database_url_for(std::string_view chain, bool catalog_optional,
                                                    Commands& commands) const {
    auto url = get_secret("database-url", commands);
    const bool needs_production = chain == "publish" || chain == "gc" || chain == "destroy";
    if (!url && needs_production && !catalog_optional) {
        throw input_error("database-url",
                          "input 'database-url' is empty, and " + std::string(chain) +
                              " needs the server that holds production and ece's catalog: pass it from the secret "
                              "ECE_DATABASE_URL (database-url: ${{ secrets.ECE_DATABASE_URL }}); an empty value means "
                              "an embedded server that vanishes with the job, which only a preview or the demo may use");
    }
    return url;
}

}  // namespace ece::actions
