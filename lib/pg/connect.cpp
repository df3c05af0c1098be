#include "pg/connect.hpp"

#include "core/percent.hpp"
#include "core/secrets.hpp"

#include <libpq-fe.h>

#include <cctype>
#include <memory>

namespace ece::pg {
namespace {

using OptionsPtr = std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)>;

// key='value' with libpq's quoting rules.
std::string conninfo_pair(std::string_view key, std::string_view value) {
    std::string out(key);
    out += "='";
    for (char c : value) {
        if (c == '\'' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    out += "'";
    return out;
}

OptionsPtr parse_options(const std::string& url) {
    char* error = nullptr;
    OptionsPtr options(PQconninfoParse(url.c_str(), &error), &PQconninfoFree);
    if (!options) {
        std::string reason = error ? error : "out of memory";
        if (error) PQfreemem(error);
        while (!reason.empty() && reason.back() == '\n') reason.pop_back();
        throw Error(ErrorKind::usage, "invalid PostgreSQL connection URL: " + reason);
    }
    return options;
}

std::string first_lines(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    for (auto& c : text) {
        if (c == '\n' || c == '\t') c = ' ';
    }
    return text;
}

bool looks_like_rejected_credentials(std::string_view message) {
    for (auto needle : {"password authentication failed", "no password supplied", "does not exist",
                        "authentication failed", "pg_hba.conf"}) {
        if (message.find(needle) != std::string_view::npos) return true;
    }
    return false;
}

// The default search_path "$user", public lets anyone who can create a schema named like the connecting role, or
// in public, put functions and operators in front of ece's SQL: e.g. an aggregate count(oid) in a schema named after
// the admin ran with the admin's rights in ece-env list. pg_catalog first, the session's temporary relations last
// (unlisted, pg_temp would come first for relations) and nothing else: ece's own SQL resolves only to built-ins
// and to what it names with a schema (pg/as_role.hpp).
constexpr const char* search_path_option = "-c search_path=pg_catalog,pg_temp";

std::string connection_string(const std::string& url, std::string_view purpose, std::chrono::seconds timeout) {
    auto options = parse_options(url);
    std::string out;
    bool has_timeout = false, has_name = false, has_options = false;
    for (auto* o = options.get(); o->keyword; ++o) {
        if (!o->val) continue;
        std::string_view key = o->keyword;
        has_timeout |= key == "connect_timeout";
        has_name |= key == "application_name";
        if (key == "options") {
            has_options = true;
            out += conninfo_pair(key, std::string(o->val) + " " + search_path_option) + " ";
            continue;
        }
        out += conninfo_pair(key, o->val) + " ";
    }
    if (!has_options) out += conninfo_pair("options", search_path_option) + " ";
    if (!has_timeout) out += conninfo_pair("connect_timeout", std::to_string(std::max<long>(2, timeout.count()))) + " ";
    if (!has_name) out += conninfo_pair("application_name", ("ece " + std::string(purpose)).substr(0, 63));
    return out;
}

Error connect_error(const ConnectionFacts& facts, std::string_view purpose, const std::exception& e) {
    std::string reason = first_lines(e.what());
    auto kind = looks_like_rejected_credentials(reason) ? ErrorKind::auth : ErrorKind::database;
    return Error(kind, "cannot connect to PostgreSQL at " + describe_server(facts) + " for " + std::string(purpose) +
                           ": " + reason);
}

// "permission denied to create role" -> what to grant, for the common cases ece runs into.
std::string privilege_hint(std::string_view message) {
    if (message.find("to create role") != std::string_view::npos) return " (the admin role needs CREATEROLE)";
    if (message.find("to create database") != std::string_view::npos) return " (the admin role needs CREATEDB)";
    if (message.find("for database") != std::string_view::npos) return " (needs CREATE on the database)";
    if (message.find("for schema") != std::string_view::npos) return " (needs USAGE/CREATE on the schema)";
    if (message.find("must be owner") != std::string_view::npos) return " (needs ownership or membership in the owner role)";
    return "";
}

}  // namespace

namespace {
// A password reaches output raw, percent-encoded inside a URL (register_secret covers both), and as the whole URL.
void register_password(const std::string& url, const std::string& password) {
    if (password.empty()) return;
    register_secret(password);
    register_secret(url);
}
// libpqxx 6.4 leaves sqlstate() empty for some of the classes it throws; their type still says what happened.
std::string sqlstate_of(const pqxx::sql_error& error) {
    if (!error.sqlstate().empty()) return error.sqlstate();
    if (dynamic_cast<const pqxx::insufficient_privilege*>(&error)) return "42501";
    return "";
}

}  // namespace

ConnectionFacts parse_url(const std::string& url) {
    auto options = parse_options(url);
    ConnectionFacts facts;
    for (auto* o = options.get(); o->keyword; ++o) {
        if (!o->val) continue;
        std::string_view key = o->keyword;
        std::string value = o->val;
        if (key == "host") facts.host = value;
        else if (key == "port") facts.port = value;
        else if (key == "user") facts.user = value;
        else if (key == "password") facts.password = value;
        else if (key == "dbname") facts.dbname = value;
        else facts.options.emplace(std::string(key), value);
    }
    register_password(url, facts.password);
    return facts;
}

std::string make_url(const ConnectionFacts& facts) {
    std::string url = "postgresql://";
    if (!facts.user.empty()) {
        url += percent_encode(facts.user);
        if (!facts.password.empty()) url += ":" + percent_encode(facts.password);
        url += "@";
    }
    bool socket_host = !facts.host.empty() && facts.host.front() == '/';
    if (!socket_host) url += facts.host;
    if (!facts.port.empty()) url += ":" + facts.port;
    url += "/" + percent_encode(facts.dbname);
    char separator = '?';
    auto add = [&](std::string_view key, std::string_view value) {
        url += separator;
        url += std::string(key) + "=" + percent_encode(value);
        separator = '&';
    };
    if (socket_host) add("host", facts.host);
    for (const auto& [key, value] : facts.options) add(key, value);
    register_password(url, facts.password);
    return url;
}

std::string with_database(const std::string& url, std::string_view dbname) {
    auto facts = parse_url(url);
    facts.dbname = dbname;
    return make_url(facts);
}

std::string describe_server(const ConnectionFacts& facts) {
    return (facts.host.empty() ? std::string("local socket") : facts.host) + ":" +
           (facts.port.empty() ? std::string("5432") : facts.port);
}

pqxx::connection connect(const std::string& url, std::string_view purpose, std::chrono::seconds timeout) {
    auto facts = parse_url(url);
    auto conninfo = connection_string(url, purpose, timeout);
    try {
        return pqxx::connection(conninfo);
    } catch (const std::exception& e) {
        throw connect_error(facts, purpose, e);
    }
}

std::unique_ptr<pqxx::connection> connect_owned(const std::string& url, std::string_view purpose,
                                                std::chrono::seconds timeout) {
    return std::unique_ptr<pqxx::connection>(new pqxx::connection(connect(url, purpose, timeout)));
}

Error translate(const std::exception& error, std::string_view doing) {
    const std::string context(doing);
    if (auto* ece_error = dynamic_cast<const Error*>(&error)) return ece_error->with_context(context);
    const std::string message = first_lines(error.what());
    if (dynamic_cast<const pqxx::broken_connection*>(&error)) {
        return Error(ErrorKind::database, context + ": lost the connection to PostgreSQL: " + message);
    }
    if (dynamic_cast<const pqxx::transaction_rollback*>(&error)) {
        // serialization failure, deadlock: another transaction got in the way; retrying may succeed.
        return Error(ErrorKind::conflict, context + ": " + message);
    }
    if (auto* sql = dynamic_cast<const pqxx::sql_error*>(&error)) {
        const std::string state = sqlstate_of(*sql);
        // The server's primary message is the first line of what() ("ERROR:  permission denied for ...").
        std::string server = message;
        if (auto pos = server.find("ERROR:"); pos != std::string::npos) server = server.substr(pos + 6);
        while (!server.empty() && server.front() == ' ') server.erase(0, 1);
        if (state == "42501") {
            return Error(ErrorKind::auth,
                         context + ": missing privilege: " + server + privilege_hint(server));
        }
        if (state.rfind("28", 0) == 0) return Error(ErrorKind::auth, context + ": " + server);
        if (state == "55P03" || state.rfind("40", 0) == 0) {
            return Error(ErrorKind::conflict, context + ": " + server + " (SQLSTATE " + state + ")");
        }
        if (state == "57014") return Error(ErrorKind::database, context + ": timed out (statement_timeout): " + server);
        return Error(ErrorKind::database,
                     context + ": " + server + (state.empty() ? "" : " (SQLSTATE " + state + ")"));
    }
    return Error(ErrorKind::database, context + ": " + message);
}

}  // namespace ece::pg
