#include "pg/connect.hpp"

#include "core/error.hpp"
#include "core/secrets.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using ece::test::find_secrets;
using testing::HasSubstr;
using testing::IsEmpty;

namespace {

// A port nothing listens on (bound once by us, then released).
int dead_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof addr;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
    ::close(fd);
    return ntohs(addr.sin_port);
}

}  // namespace

TEST(Connect, DeadPortGivesAClearErrorWithoutThePassword) {
    const std::string password = "s3cret-Pa55word-for-dead-port";
    auto port = std::to_string(dead_port());
    auto url = "postgresql://someone:" + password + "@127.0.0.1:" + port + "/db";
    try {
        ece::pg::connect(url, "checking the dead port");
        FAIL() << "expected an error";
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::database);
        EXPECT_THAT(e.what(), HasSubstr("127.0.0.1:" + port));
        EXPECT_THAT(e.what(), HasSubstr("checking the dead port"));
        EXPECT_THAT(e.what(), HasSubstr("refused"));
        EXPECT_THAT(find_secrets(e.what(), {password}), IsEmpty());
    }
}

TEST(Connect, WrongPasswordIsAnAuthErrorWithoutThePassword) {
    auto facts = ece::pg::parse_url(ece::test::admin_url());
    facts.password = "definitely-Wrong-password-42";
    try {
        ece::pg::connect(ece::pg::make_url(facts), "wrong password test");
        FAIL() << "expected an error";
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::auth);
        EXPECT_THAT(e.what(), HasSubstr("password authentication failed"));
        EXPECT_THAT(find_secrets(e.what(), {facts.password}), IsEmpty());
    }
}

TEST(Connect, SetsApplicationName) {
    auto conn = ece::pg::connect(ece::test::admin_url(), "app name test");
    pqxx::nontransaction tx(conn);
    EXPECT_EQ(tx.exec1("SHOW application_name")[0].as<std::string>(), "ece app name test");
}

TEST(Url, RoundTripsAwkwardPasswordsAndRegistersThem) {
    ece::pg::ConnectionFacts facts{"127.0.0.1", "5433", "us er", "p@ss:w/rd?&%'x", "my db", {{"sslmode", "disable"}}};
    auto url = ece::pg::make_url(facts);
    auto back = ece::pg::parse_url(url);
    EXPECT_EQ(back.host, facts.host);
    EXPECT_EQ(back.port, facts.port);
    EXPECT_EQ(back.user, facts.user);
    EXPECT_EQ(back.password, facts.password);
    EXPECT_EQ(back.dbname, facts.dbname);
    EXPECT_EQ(back.options.at("sslmode"), "disable");
    EXPECT_EQ(ece::mask_secrets("url " + url), "url ***");
    EXPECT_EQ(ece::pg::parse_url(ece::pg::with_database(url, "other")).dbname, "other");
}

TEST(Url, InvalidUrlIsAUsageError) {
    try {
        ece::pg::parse_url("postgresql://host:notaport:/x?bogus_option=1");
        FAIL();
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::usage);
    }
}

TEST(Translate, PermissionErrorNamesTheMissingPrivilege) {
    auto db = ece::test::fresh_database("translate");
    auto role = ece::test::unique_name("weak");
    const std::string password = "weak-role-Password-123";
    {
        auto admin = ece::pg::connect(db, "setup");
        pqxx::nontransaction tx(admin);
        tx.exec("CREATE ROLE " + ece::pg::quote_ident(role) + " LOGIN PASSWORD " + tx.quote(password));
    }
    auto facts = ece::pg::parse_url(db);
    facts.user = role;
    facts.password = password;
    auto weak = ece::pg::connect(ece::pg::make_url(facts), "weak role");
    try {
        pqxx::work tx(weak);
        tx.exec("CREATE SCHEMA should_fail");
        FAIL() << "the weak role created a schema";
    } catch (const std::exception& e) {
        auto error = ece::pg::translate(e, "creating the schema");
        EXPECT_EQ(error.kind(), ece::ErrorKind::auth);
        EXPECT_THAT(error.what(), HasSubstr("creating the schema: missing privilege: permission denied for database"));
        EXPECT_THAT(error.what(), HasSubstr("CREATE on the database"));
    }
    try {
        pqxx::work tx(weak);
        tx.exec("CREATE ROLE should_fail_too");
        FAIL();
    } catch (const std::exception& e) {
        auto error = ece::pg::translate(e, "creating a role");
        EXPECT_EQ(error.kind(), ece::ErrorKind::auth);
        EXPECT_THAT(error.what(), HasSubstr("CREATEROLE"));
    }
    auto admin = ece::pg::connect(db, "cleanup");
    pqxx::nontransaction(admin).exec("DROP ROLE " + ece::pg::quote_ident(role));
}

TEST(Translate, OtherErrorsKeepTheirSqlstate) {
    auto conn = ece::pg::connect(ece::test::admin_url(), "translate test");
    try {
        pqxx::work tx(conn);
        tx.exec("SELECT * FROM no_such_table_anywhere");
        FAIL();
    } catch (const std::exception& e) {
        auto error = ece::pg::translate(e, "reading");
        EXPECT_EQ(error.kind(), ece::ErrorKind::database);
        EXPECT_THAT(error.what(), HasSubstr("reading: relation \"no_such_table_anywhere\" does not exist"));
        EXPECT_THAT(error.what(), HasSubstr("42P01"));
    }
    ece::Error original(ece::ErrorKind::conflict, "busy");
    EXPECT_EQ(ece::pg::translate(original, "doing").kind(), ece::ErrorKind::conflict);
}
