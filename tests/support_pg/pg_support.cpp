#include "pg_support.hpp"

#include "pg/connect.hpp"
#include "pg/embedded.hpp"
#include "pg/ident.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <random>

namespace ece::test {

std::string test_cluster_dir() { return ECE_TEST_PG_DIR; }

std::string admin_url() {
    static const std::string url = [] {
        if (const char* given = std::getenv("ECE_TEST_DATABASE_URL"); given && *given) {
            pg::parse_url(given);  // registers its password
            return std::string(given);
        }
        return pg::ensure_embedded(ECE_TEST_PG_DIR, pg::EmbeddedOptions{.durable = false}).admin_url;
    }();
    return url;
}

std::string unique_name(std::string_view prefix) {
    static std::atomic<unsigned> counter{0};
    static const unsigned salt = std::random_device{}() % 100000;
    std::string suffix = "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + std::to_string(salt);
    std::string head;
    for (char c : prefix) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        head.push_back((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ? c : '_');
    }
    if (head.empty() || (head[0] >= '0' && head[0] <= '9')) head.insert(0, "t");
    head.resize(std::min(head.size(), pg::max_identifier_bytes - suffix.size()));
    return head + suffix;
}

std::string fresh_database(std::string_view hint) {
    auto name = unique_name("t_" + std::string(hint));
    auto conn = pg::connect(admin_url(), "test database setup");
    pqxx::nontransaction tx(conn);
    tx.exec("CREATE DATABASE " + pg::quote_ident(name));
    return pg::with_database(admin_url(), name);
}

void execute(pqxx::connection_base& conn, const std::string& sql) {
    pqxx::nontransaction tx(conn);
    tx.exec(sql);
}

std::string scalar(pqxx::connection_base& conn, const std::string& sql) {
    pqxx::nontransaction tx(conn);
    const auto value = tx.exec1(sql)[0];
    return value.is_null() ? "" : value.as<std::string>();
}

std::set<std::string> column_names(pqxx::connection_base& conn, const std::string& schema, const std::string& table) {
    pqxx::nontransaction tx(conn);
    std::set<std::string> out;
    for (const auto& r : tx.exec_params("SELECT column_name FROM information_schema.columns"
                                        " WHERE table_schema = $1 AND table_name = $2",
                                        schema, table))
        out.insert(r[0].as<std::string>());
    return out;
}

std::set<std::string> schemas_starting_with(pqxx::connection_base& conn, const std::string& prefix) {
    pqxx::nontransaction tx(conn);
    std::set<std::string> out;
    for (const auto& r : tx.exec_params("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)", prefix))
        out.insert(r[0].as<std::string>());
    return out;
}

std::vector<std::string> content_tables(pqxx::connection_base& conn) {
    pqxx::nontransaction tx(conn);
    std::vector<std::string> out;
    for (const auto& r : tx.exec("SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                 "WHERE nspname = 'ece_content' AND relkind = 'r' ORDER BY 1")) {
        out.push_back(r[0].as<std::string>());
    }
    return out;
}

}  // namespace ece::test
