#include "digitalocean/health.hpp"

#include "core/error.hpp"
#include "pg/connect.hpp"

namespace ece::digitalocean {

HealthCheck select_one_health_check(std::chrono::seconds timeout) {
    return [timeout](const EnvironmentConnection& connection) {
        std::string doing = "health check (SELECT 1) of " + connection.host + ":" + std::to_string(connection.port);
        try {
            auto conn = pg::connect(connection.uri(), "health check", timeout);
            pqxx::nontransaction tx(conn);
            auto result = tx.exec("SELECT 1");
            if (result.size() != 1 || result[0][0].as<int>() != 1) {
                throw Error(ErrorKind::database, doing + ": SELECT 1 did not answer 1");
            }
        } catch (const Error& e) {
            throw e.with_context(doing);
        } catch (const std::exception& e) {
            throw pg::translate(e, doing);
        }
    };
}

}  // namespace ece::digitalocean
