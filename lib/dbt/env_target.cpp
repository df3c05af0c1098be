#include "dbt/env_target.hpp"

namespace ece::dbt {

BuildTarget build_target_for(env::Environments& environments, const env::Identity& id, const std::string& sha) {
    const env::Credentials credentials = environments.issue_credentials(id);
    BuildTarget target;
    target.host = credentials.host;
    target.port = credentials.port;
    target.dbname = credentials.dbname;
    target.user = credentials.user;
    target.password = credentials.password;
    target.schema = credentials.schema;
    target.production_schema = environments.production_facts().schema;
    target.environment = id.name;
    target.sha = sha;
    if (auto ssl = credentials.options.find("sslmode"); ssl != credentials.options.end()) target.sslmode = ssl->second;
    if (auto ca = credentials.options.find("sslrootcert"); ca != credentials.options.end()) target.sslrootcert = ca->second;
    return target;
}

}  // namespace ece::dbt
