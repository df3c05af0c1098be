#pragma once
// PostgreSQL advisory locks: two ece jobs working on the same thing (an environment, the catalog) never interleave,
// across machines, because the lock lives in the server.
//
// Anyone who can connect may take any advisory lock, and pg_locks shows everyone the keys held, so an environment's
// role could hold ece's keys and make every up and publish wait. ece's waits therefore end the sessions that hold
// its key on behalf of a role ece administers (an environment's: not ece's own role, not a superuser, one ece may
// signal), and go on waiting only for ece's own jobs.
#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace ece::pg {

// Taken (take_transaction_lock) by every transaction that grants or revokes privileges on objects all environments
// share (the database, production's and the staged content's schemas and tables): PostgreSQL fails two concurrent
// GRANT/REVOKE on one object with "tuple concurrently updated", so they take turns.
inline constexpr std::string_view shared_privileges_lock = "env:shared-setup";

// Waits up to timeout for the advisory lock `key`: for the session (pg_advisory_lock, tx a nontransaction; released by
// pg_advisory_unlock or the session's end) or for tx's transaction (pg_advisory_xact_lock). Holders on behalf of
// another, non-superuser role that the current user is a member of are terminated while it waits. Returns false when
// the wait timed out; pqxx errors as from tx.exec.
enum class LockScope { session, transaction };
bool wait_for_advisory_lock(pqxx::transaction_base& tx, std::int64_t key, LockScope scope,
                            std::chrono::milliseconds timeout);

// wait_for_advisory_lock(key_for(name), transaction scope); throws ece::Error (conflict) naming the lock on timeout.
void take_transaction_lock(pqxx::transaction_base& tx, std::string_view name,
                           std::chrono::milliseconds timeout = std::chrono::seconds(120));

class AdvisoryLock {
public:
    // Waits up to timeout for the session lock key_for(name) on conn, e.g. name = "env:" + branch.
    // Throws ece::Error (conflict) "another ece job holds the lock for <name> ..." when the wait times out.
    // conn must have no open transaction, and outlive the lock.
    AdvisoryLock(pqxx::connection_base& conn, std::string name,
                 std::chrono::milliseconds timeout = std::chrono::seconds(120));
    ~AdvisoryLock();  // unlocks; a lost connection has released it already
    AdvisoryLock(const AdvisoryLock&) = delete;
    AdvisoryLock& operator=(const AdvisoryLock&) = delete;

    const std::string& name() const { return name_; }
    std::int64_t key() const { return key_; }

    // The 64-bit key: the first 8 bytes of SHA-256(name).
    static std::int64_t key_for(std::string_view name);

private:
    pqxx::connection_base& conn_;
    std::string name_;
    std::int64_t key_;
};

}  // namespace ece::pg
