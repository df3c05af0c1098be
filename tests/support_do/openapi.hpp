#pragma once
// Reads an OpenAPI 3 description spread over many YAML files ($ref across files, JSON pointers) and checks HTTP
// requests and responses against it: the method + path template exist, query parameters are declared, and a JSON
// body fits the schema (required properties, types, enum values, patterns, lengths, no unknown or read-only
// properties in a request). Enough of JSON Schema for the DigitalOcean API description, not all of it.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ece::test {

class OpenApiSpec {
public:
    // Loads the root file (its $refs are followed lazily, relative to the file they appear in).
    explicit OpenApiSpec(const std::filesystem::path& root_file);

    // The DigitalOcean description from ../shared/fixtures/real/digitalocean/openapi/: the multi-file tarball is
    // extracted with `tar -xJf` into dir (e.g. a TempDir), and its DigitalOcean-public.v2.yaml is the root. Only
    // the files of the database and tag operations (and the shared ones) are extracted; checking a request of
    // another area fails with a clear "bad file" error naming the missing file.
    static OpenApiSpec digitalocean(const std::filesystem::path& dir);

    // The path template ("/v2/databases/{database_cluster_uuid}") the path matches for method, preferring the
    // template with the most literal segments; nullopt when none does.
    std::optional<std::string> path_template(const std::string& method, const std::string& path) const;

    // Every way the request departs from the description (empty: it conforms). target = path + "?" + query.
    std::vector<std::string> check_request(const std::string& method, const std::string& target,
                                           const std::string& body) const;
    // The same for a response: the status is declared (or "default"), and a JSON body fits its schema.
    std::vector<std::string> check_response(const std::string& method, const std::string& path, int status,
                                            const std::string& body) const;

    // A value the description's enum omits but its own prose documents (e.g. tags' resource_type "database"):
    // accepted for properties of that name.
    void allow_enum_value(const std::string& property, const std::string& value);

    // Number of files read so far (for tests that the $ref walk really crossed files).
    std::size_t files_loaded() const { return files_.size(); }

    struct Located {
        YAML::Node node;
        std::filesystem::path file;
    };
    // Follows $ref (other file and/or JSON pointer) until a node that is not a reference.
    Located deref(Located at) const;

private:
    const YAML::Node& load(const std::filesystem::path& file) const;
    std::optional<Located> operation(const std::string& method, const std::string& path_template) const;

    std::filesystem::path root_file_;
    YAML::Node root_;
    mutable std::map<std::filesystem::path, YAML::Node> files_;
    std::map<std::string, std::set<std::string>> extra_enum_values_;
};

// A YAML node as JSON text: quoted scalars stay strings, plain ones become numbers or booleans when they read so.
std::string yaml_to_json(const YAML::Node& node);

}  // namespace ece::test
