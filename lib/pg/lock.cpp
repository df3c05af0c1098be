#include "pg/lock.hpp"

#include "core/error.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"

namespace ece::pg {

std::int64_t AdvisoryLock::key_for(std::string_view name) {
    auto hex = sha256_hex(name).substr(0, 16);
    return static_cast<std::int64_t>(std::stoull(hex, nullptr, 16));
}

AdvisoryLock::AdvisoryLock(pqxx::connection_base& conn, std::string name, std::chrono::milliseconds timeout)
    : conn_(conn), name_(std::move(name)), key_(key_for(name_)) {
    const std::string doing = "taking the lock for " + name_;
    try {
        pqxx::nontransaction tx(conn_, "advisory lock");
        // lock_timeout bounds advisory lock waits too; the session's own value is restored afterwards.
        auto previous = tx.exec1("SHOW lock_timeout")[0].as<std::string>();
        tx.exec("SET lock_timeout = " + std::to_string(std::max<long long>(1, timeout.count())));
        try {
            tx.exec_params("SELECT pg_advisory_lock($1)", key_);
        } catch (const pqxx::sql_error& e) {
            if (e.sqlstate() != "55P03") throw;
            tx.exec_params("SELECT set_config('lock_timeout', $1, false)", previous);
            throw Error(ErrorKind::conflict, "another ece job holds the lock for " + name_ + " (waited " +
                                                 std::to_string(timeout.count() / 1000.0).substr(0, 5) +
                                                 " s); try again when it has finished");
        }
        tx.exec_params("SELECT set_config('lock_timeout', $1, false)", previous);
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw translate(e, doing);
    }
}

AdvisoryLock::~AdvisoryLock() {
    try {
        pqxx::nontransaction tx(conn_, "advisory unlock");
        tx.exec_params("SELECT pg_advisory_unlock($1)", key_);
    } catch (...) {
        // The connection is gone or in a transaction; PostgreSQL releases session locks when the session ends.
    }
}

}  // namespace ece::pg
