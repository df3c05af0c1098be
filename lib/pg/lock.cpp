#include "pg/lock.hpp"

#include "core/error.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"

#include <algorithm>
#include <thread>

namespace ece::pg {
namespace {

bool try_lock(pqxx::transaction_base& tx, std::int64_t key, LockScope scope) {
    return tx
        .exec_params1(scope == LockScope::session ? "SELECT pg_catalog.pg_try_advisory_lock($1)"
                                                  : "SELECT pg_catalog.pg_try_advisory_xact_lock($1)",
                      key)[0]
        .as<bool>();
}

// pg_locks shows a bigint key as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
void end_foreign_holders(pqxx::transaction_base& tx, std::int64_t key) {
    const auto bits = static_cast<std::uint64_t>(key);
    tx.exec_params(
        "SELECT pg_catalog.pg_terminate_backend(l.pid, 1000) FROM pg_catalog.pg_locks l "
        "JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid JOIN pg_catalog.pg_roles r ON r.oid = a.usesysid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        " AND l.classid = $1::pg_catalog.int8::pg_catalog.oid AND l.objid = $2::pg_catalog.int8::pg_catalog.oid "
        " AND r.rolname <> current_user AND NOT r.rolsuper AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')",
        static_cast<std::int64_t>(bits >> 32), static_cast<std::int64_t>(bits & 0xffffffffu));
}

std::string seconds_text(std::chrono::milliseconds timeout) {
    return std::to_string(timeout.count() / 1000.0).substr(0, 5) + " s";
}

}  // namespace

std::int64_t AdvisoryLock::key_for(std::string_view name) {
    auto hex = sha256_hex(name).substr(0, 16);
    return static_cast<std::int64_t>(std::stoull(hex, nullptr, 16));
}

bool wait_for_advisory_lock(pqxx::transaction_base& tx, std::int64_t key, LockScope scope,
                            std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::chrono::milliseconds pause{10};
    while (!try_lock(tx, key, scope)) {
        end_foreign_holders(tx, key);
        if (try_lock(tx, key, scope)) return true;
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return false;
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
        pause = std::min<std::chrono::milliseconds>(pause * 2, std::chrono::milliseconds(250));
    }
    return true;
}

void take_transaction_lock(pqxx::transaction_base& tx, std::string_view name, std::chrono::milliseconds timeout) {
    if (!wait_for_advisory_lock(tx, AdvisoryLock::key_for(name), LockScope::transaction, timeout)) {
        throw Error(ErrorKind::conflict, "another ece job holds the lock for " + std::string(name) + " (waited " +
                                             seconds_text(timeout) + "); try again when it has finished");
    }
}

AdvisoryLock::AdvisoryLock(pqxx::connection_base& conn, std::string name, std::chrono::milliseconds timeout)
    : conn_(conn), name_(std::move(name)), key_(key_for(name_)) {
    bool taken = false;
    try {
        pqxx::nontransaction tx(conn_, "advisory lock");
        taken = wait_for_advisory_lock(tx, key_, LockScope::session, timeout);
    } catch (const std::exception& e) {
        throw translate(e, "taking the lock for " + name_);
    }
    if (!taken) {
        throw Error(ErrorKind::conflict, "another ece job holds the lock for " + name_ + " (waited " +
                                             seconds_text(timeout) + "); try again when it has finished");
    }
}

AdvisoryLock::~AdvisoryLock() {
    try {
        pqxx::nontransaction tx(conn_, "advisory unlock");
        tx.exec_params("SELECT pg_catalog.pg_advisory_unlock($1)", key_);
    } catch (...) {
        // The connection is gone or in a transaction; PostgreSQL releases session locks when the session ends.
    }
}

}  // namespace ece::pg
