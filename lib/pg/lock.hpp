#pragma once
// Session-level PostgreSQL advisory locks: two ece jobs working on the same thing (an environment, the catalog)
// never interleave, across machines, because the lock lives in the server.
#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace ece::pg {

// Taken (pg_advisory_xact_lock of its key) by every transaction that grants or revokes privileges on objects all
// environments share (the database, production's and the staged content's schemas and tables): PostgreSQL fails
// two concurrent GRANT/REVOKE on one object with "tuple concurrently updated", so they take turns.
inline constexpr std::string_view shared_privileges_lock = "env:shared-setup";

class AdvisoryLock {
public:
    // Waits up to timeout for pg_advisory_lock(key_for(name)) on conn, e.g. name = "env:" + branch.
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
