#include "http/client.hpp"

#include "core/error.hpp"
#include "core/secrets.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <limits>
#include <random>
#include <thread>

namespace ece::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using std::chrono::milliseconds;

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
               return std::tolower(x) == std::tolower(y);
           });
}

std::string getenv_string(const char* name) {
    const char* value = std::getenv(name);
    return value ? std::string(value) : std::string();
}

std::string first_env(std::initializer_list<const char*> names) {
    for (auto* name : names) {
        if (auto value = getenv_string(name); !value.empty()) return value;
    }
    return {};
}

std::string trim(std::string_view text) {
    auto begin = text.find_first_not_of(" \t");
    if (begin == std::string_view::npos) return {};
    auto end = text.find_last_not_of(" \t");
    return std::string(text.substr(begin, end - begin + 1));
}

// A failure before a complete response arrived. request_sent matters for non-idempotent methods.
struct TransportFailure {
    std::string message;
    bool retryable = true;
    bool request_sent = false;
    bool stale_connection = false;  // a reused keep-alive connection the server had closed
};

// A reply from an HTTP proxy that refused the CONNECT.
struct ProxyRefusal {
    int status;
    std::string reason;
};

bool idempotent(std::string_view method) {
    return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" || method == "OPTIONS";
}

bool is_redirect(int status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string base64(std::string_view data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

// "message" of a JSON error body (GitHub, DigitalOcean), with GitHub's validation "errors" appended.
std::string response_message(const Response& response) {
    boost::system::error_code ec;
    auto value = boost::json::parse(response.body, ec);
    if (!ec && value.is_object()) {
        const auto& object = value.as_object();
        std::string message;
        if (auto* m = object.if_contains("message"); m && m->is_string()) message = std::string(m->as_string());
        if (auto* errors = object.if_contains("errors"); errors && errors->is_array()) {
            std::string details;
            for (const auto& e : errors->as_array()) {
                if (!details.empty()) details += "; ";
                if (e.is_string()) {
                    details += std::string(e.as_string());
                } else if (e.is_object()) {
                    const auto& o = e.as_object();
                    auto text = [&](const char* key) -> std::string {
                        auto* v = o.if_contains(key);
                        return v && v->is_string() ? std::string(v->as_string()) : std::string();
                    };
                    auto where = text("resource");
                    if (auto field = text("field"); !field.empty()) where += (where.empty() ? "" : ".") + field;
                    auto what = text("message").empty() ? text("code") : text("message");
                    details += where.empty() ? what : where + ": " + what;
                }
            }
            if (!details.empty()) message += " (" + details + ")";
        }
        if (!message.empty()) return message;
    }
    std::string snippet = response.body.substr(0, 200);
    std::replace_if(snippet.begin(), snippet.end(), [](unsigned char c) { return c < 0x20; }, ' ');
    return trim(snippet);
}

std::optional<std::chrono::system_clock::time_point> parse_http_date(const std::string& text) {
    std::tm tm{};
    const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S", &tm);
    if (!end) return std::nullopt;
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::optional<long long> parse_integer(const std::optional<std::string>& text) {
    if (!text) return std::nullopt;
    auto t = trim(*text);
    if (t.empty() || !std::all_of(t.begin(), t.end(), [](unsigned char c) { return std::isdigit(c); })) {
        return std::nullopt;
    }
    try {
        return std::stoll(t);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

bool rate_limited_403(const Response& response) {
    if (response.status != 403) return false;
    if (response.header("retry-after")) return true;
    if (auto remaining = response.header("x-ratelimit-remaining"); remaining && trim(*remaining) == "0") return true;
    std::string lower_body = response.body.substr(0, 2000);
    std::transform(lower_body.begin(), lower_body.end(), lower_body.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    return lower_body.find("rate limit") != std::string::npos;
}

// A rate limit's reset as epoch seconds (GitHub, DigitalOcean), or as seconds from now when the number is too small
// to be a date (the IETF RateLimit-Reset draft).
std::chrono::system_clock::time_point reset_time(long long value, std::chrono::system_clock::time_point now) {
    constexpr long long year_2001 = 1'000'000'000;
    if (value < year_2001) return now + std::chrono::seconds(value);
    return std::chrono::system_clock::time_point(std::chrono::seconds(value));
}

std::string seconds_text(milliseconds ms) {
    auto tenths = (ms.count() + 50) / 100;
    return std::to_string(tenths / 10) + (tenths % 10 ? "." + std::to_string(tenths % 10) : "") + " s";
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Headers and pure helpers

std::optional<std::string> Headers::get(std::string_view name) const {
    for (const auto& [key, value] : fields) {
        if (iequals(key, name)) return value;
    }
    return std::nullopt;
}

void Headers::set(std::string_view name, std::string_view value) {
    erase(name);
    fields.emplace_back(std::string(name), std::string(value));
}

void Headers::erase(std::string_view name) {
    std::erase_if(fields, [&](const auto& field) { return iequals(field.first, name); });
}

std::string choose_proxy(const Url& url, const std::string& https_proxy, const std::string& no_proxy) {
    if (https_proxy.empty() || !url.is_https() || no_proxy_matches(url.host, no_proxy)) return {};
    return https_proxy.find("://") == std::string::npos ? "http://" + https_proxy : https_proxy;
}

bool retryable_status(const Response& response) {
    if (response.status == 429) return true;
    if (response.status >= 500 && response.status != 501 && response.status != 505) return true;
    return rate_limited_403(response);
}

std::optional<milliseconds> requested_wait(const Response& response, std::chrono::system_clock::time_point now) {
    if (auto retry_after = response.header("retry-after")) {
        if (auto seconds = parse_integer(retry_after)) return milliseconds(*seconds * 1000);
        if (auto date = parse_http_date(*retry_after)) {
            return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(*date - now));
        }
    }
    // GitHub names its window's end in x-ratelimit-reset, DigitalOcean in ratelimit-reset (both epoch seconds).
    // A reset counts when the window is used up, or on a 429, which says so by itself.
    for (const char* prefix : {"x-", ""}) {
        auto reset = parse_integer(response.header(std::string(prefix) + "ratelimit-reset"));
        auto remaining = response.header(std::string(prefix) + "ratelimit-remaining");
        if (!reset || !(response.status == 429 || (remaining && trim(*remaining) == "0"))) continue;
        auto at = reset_time(*reset, now);
        auto wait = std::chrono::duration_cast<milliseconds>(at - now);
        // The reset time is in whole seconds; wait past it so the window has really turned over.
        return std::max(milliseconds(0), wait) + milliseconds(1000);
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------------------------
// Connections

namespace {

struct Connection {
    std::string key;  // origin + proxy: what a request must match to reuse it
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
    std::unique_ptr<beast::tcp_stream> plain;
    beast::flat_buffer buffer;
    bool used = false;  // has carried at least one exchange

    beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

// Runs one asynchronous operation to completion on ioc; the tcp_stream's expiry bounds it.
template <class Start>
beast::error_code run(asio::io_context& ioc, Start&& start) {
    beast::error_code result = asio::error::would_block;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
}

std::string describe(const beast::error_code& ec) {
    if (ec == beast::error::timeout) return "timed out";
    return ec.message();
}

}  // namespace

struct Client::Impl {
    ClientOptions options;
    asio::io_context ioc;
    ssl::context tls_context{ssl::context::tls_client};
    std::unique_ptr<Connection> connection;
    std::size_t opened = 0;
    std::mt19937_64 random{std::random_device{}()};
    std::string https_proxy;
    std::string no_proxy;

    explicit Impl(ClientOptions opts) : options(std::move(opts)) {
        tls_context.set_verify_mode(ssl::verify_peer);
        SSL_CTX_set_min_proto_version(tls_context.native_handle(), TLS1_2_VERSION);
        if (options.use_system_trust_store) tls_context.set_default_verify_paths();
        if (options.ca_file) {
            beast::error_code ec;
            tls_context.load_verify_file(options.ca_file->string(), ec);
            if (ec) {
                throw Error(ErrorKind::usage, "cannot load CA certificates: " + ec.message(),
                            {.file = options.ca_file->string()});
            }
        }
        if (!options.sleep) options.sleep = [](milliseconds ms) { std::this_thread::sleep_for(ms); };
        if (!options.now) options.now = [] { return std::chrono::system_clock::now(); };
        if (!options.jitter) {
            options.jitter = [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(random); };
        }
        https_proxy = options.proxy.value_or(
            options.proxy_from_environment ? first_env({"HTTPS_PROXY", "https_proxy"}) : std::string());
        no_proxy = options.no_proxy.value_or(
            options.proxy_from_environment ? first_env({"NO_PROXY", "no_proxy"}) : std::string());
        // A proxy URL with credentials is a secret (its password is registered with it); a bare one is not.
        if (https_proxy.find('@') != std::string::npos) register_secret(https_proxy);
    }

    // -- connecting --

    tcp::resolver::results_type resolve(const Url& where) {
        tcp::resolver resolver(ioc);
        asio::steady_timer timer(ioc, options.connect_timeout);
        tcp::resolver::results_type results;
        beast::error_code result = asio::error::would_block;
        bool timed_out = false;
        timer.async_wait([&](beast::error_code ec) {
            if (!ec) {
                timed_out = true;
                resolver.cancel();
            }
        });
        resolver.async_resolve(where.host, where.port, [&](beast::error_code ec, tcp::resolver::results_type r) {
            result = ec;
            results = std::move(r);
            timer.cancel();
        });
        ioc.restart();
        ioc.run();
        if (timed_out) throw TransportFailure{"resolving " + where.host + " timed out"};
        if (result) throw TransportFailure{"cannot resolve " + where.host + ": " + result.message()};
        return results;
    }

    void proxy_connect(Connection& c, const Url& proxy, const Url& target) {
        bhttp::request<bhttp::empty_body> req{bhttp::verb::connect, target.authority(), 11};
        req.set(bhttp::field::host, target.authority());
        req.set(bhttp::field::user_agent, "ece");
        if (!proxy.userinfo.empty()) {
            std::string user = proxy.userinfo;
            req.set(bhttp::field::proxy_authorization, "Basic " + base64(user));
        }
        c.tcp().expires_after(options.connect_timeout);
        if (auto ec = run(ioc, [&](auto h) { bhttp::async_write(c.tcp(), req, h); })) {
            throw TransportFailure{"sending CONNECT to the proxy failed: " + describe(ec)};
        }
        bhttp::response_parser<bhttp::empty_body> parser;
        parser.skip(true);  // a 2xx answer to CONNECT has no body: the tunnel starts right after the header
        if (auto ec = run(ioc, [&](auto h) { bhttp::async_read_header(c.tcp(), c.buffer, parser, h); })) {
            throw TransportFailure{"reading the proxy's answer to CONNECT failed: " + describe(ec)};
        }
        auto status = parser.get().result_int();
        if (status / 100 != 2) throw ProxyRefusal{static_cast<int>(status), std::string(parser.get().reason())};
    }

    void tls_handshake(Connection& c, const Url& url) {
        SSL* ssl_handle = c.tls->native_handle();
        if (url.host_is_ip_address()) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), url.host.c_str());
        } else {
            SSL_set_tlsext_host_name(ssl_handle, url.host.c_str());  // SNI
            SSL_set1_host(ssl_handle, url.host.c_str());              // hostname verification
        }
        c.tcp().expires_after(options.connect_timeout);
        auto ec = run(ioc, [&](auto h) { c.tls->async_handshake(ssl::stream_base::client, h); });
        if (!ec) return;
        long verify = SSL_get_verify_result(ssl_handle);
        if (verify != X509_V_OK) {
            throw TransportFailure{"TLS certificate of " + url.host + " rejected: " +
                                       X509_verify_cert_error_string(verify),
                                   false};
        }
        bool tls_level = ec.category() == asio::error::get_ssl_category() || ec == ssl::error::stream_truncated;
        throw TransportFailure{"TLS handshake with " + url.authority() + " failed: " + describe(ec), !tls_level};
    }

    Connection& connect(const Url& url) {
        auto proxy_text = choose_proxy(url, https_proxy, no_proxy);
        auto key = url.scheme + "://" + url.authority() + "|" + proxy_text;
        if (connection && connection->key == key && connection->tcp().socket().is_open()) return *connection;
        connection.reset();

        auto c = std::make_unique<Connection>();
        c->key = key;
        if (url.is_https()) c->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc, tls_context);
        else c->plain = std::make_unique<beast::tcp_stream>(ioc);

        std::optional<Url> proxy;
        if (!proxy_text.empty()) {
            proxy = Url::parse(proxy_text);
            if (proxy->is_https()) {
                throw Error(ErrorKind::usage, "TLS to the proxy itself is not supported; use http://",
                            {.file = proxy->redacted()});
            }
        }
        const Url& dial = proxy ? *proxy : url;
        auto endpoints = resolve(dial);
        c->tcp().expires_after(options.connect_timeout);
        if (auto ec = run(ioc, [&](auto h) { c->tcp().async_connect(endpoints, h); })) {
            throw TransportFailure{std::string("cannot connect to ") + (proxy ? "proxy " : "") + dial.authority() +
                                   ": " + describe(ec)};
        }
        ++opened;
        if (proxy) proxy_connect(*c, *proxy, url);
        if (url.is_https()) tls_handshake(*c, url);
        connection = std::move(c);
        return *connection;
    }

    void drop_connection() {
        if (!connection) return;
        beast::error_code ignored;
        connection->tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
        connection->tcp().close();
        connection.reset();
    }

    // -- one exchange --

    template <class Stream>
    Response exchange_on(Stream& stream, Connection& c, const Url& url, const Request& request,
                         const BodySink* sink) {
        bool reused = c.used;
        c.used = true;
        auto verb = bhttp::string_to_verb(request.method);
        bhttp::request<bhttp::string_body> req;
        if (verb == bhttp::verb::unknown) req.method_string(request.method);
        else req.method(verb);
        req.target(url.target);
        req.version(11);
        auto host = url.authority();
        if (url.port == (url.is_https() ? "443" : "80")) host = url.authority().substr(0, host.rfind(':'));
        req.set(bhttp::field::host, host);
        for (const auto& [name, value] : request.headers.fields) req.insert(name, value);
        if (!request.headers.has("user-agent")) req.set(bhttp::field::user_agent, "ece");
        req.body() = request.body;
        req.prepare_payload();

        c.tcp().expires_after(options.read_timeout);
        if (auto ec = run(ioc, [&](auto h) { bhttp::async_write(stream, req, h); })) {
            throw TransportFailure{"sending the request failed: " + describe(ec), true, false, reused};
        }

        bhttp::response_parser<bhttp::buffer_body> parser;
        parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // max_body_bytes and sinks bound it
        parser.header_limit(64 * 1024);
        if (request.method == "HEAD") parser.skip(true);
        c.tcp().expires_after(options.read_timeout);
        if (auto ec = run(ioc, [&](auto h) { bhttp::async_read_header(stream, c.buffer, parser, h); })) {
            bool stale = reused && (ec == bhttp::error::end_of_stream || ec == asio::error::connection_reset ||
                                    ec == asio::error::eof || ec == ssl::error::stream_truncated);
            auto what = ec == beast::error::timeout
                            ? "no response within " + seconds_text(options.read_timeout) + " (read timeout)"
                            : "reading the response failed: " + describe(ec);
            throw TransportFailure{what, true, true, stale};
        }

        Response response;
        response.status = static_cast<int>(parser.get().result_int());
        response.url = url.str();
        for (const auto& field : parser.get()) {
            response.headers.fields.emplace_back(std::string(field.name_string()), std::string(field.value()));
        }
        bool to_sink = sink && response.status / 100 == 2;
        std::array<char, 64 * 1024> chunk;
        std::uint64_t received = 0;
        while (!parser.is_done()) {
            parser.get().body().data = chunk.data();
            parser.get().body().size = chunk.size();
            c.tcp().expires_after(options.read_timeout);
            auto ec = run(ioc, [&](auto h) { bhttp::async_read(stream, c.buffer, parser, h); });
            if (ec == bhttp::error::need_buffer) ec = {};
            auto got = chunk.size() - parser.get().body().size;
            received += got;
            if (ec) {
                auto what = ec == beast::error::timeout
                                ? "response body stalled for " + seconds_text(options.read_timeout) + " (read timeout)"
                                : "response body cut off after " + std::to_string(received) + " bytes: " + describe(ec);
                throw TransportFailure{what, true, true};
            }
            if (to_sink) {
                sink->write(std::string_view(chunk.data(), got));
            } else {
                if (response.body.size() + got > options.max_body_bytes) {
                    throw Error(ErrorKind::network,
                                request.method + " failed: response body larger than " +
                                    std::to_string(options.max_body_bytes) + " bytes; stream it to a file instead",
                                {.file = url.redacted(), .http_status = response.status});
                }
                response.body.append(chunk.data(), got);
            }
        }
        if (!parser.keep_alive()) drop_connection();
        return response;
    }

    Response exchange(const Url& url, const Request& request, const BodySink* sink) {
        for (int fresh_tries = 0;; ++fresh_tries) {
            Connection& c = connect(url);
            try {
                return c.tls ? exchange_on(*c.tls, c, url, request, sink) : exchange_on(*c.plain, c, url, request, sink);
            } catch (const TransportFailure& failure) {
                drop_connection();
                // A kept-alive connection the server closed meanwhile: try once on a new one, not counted as a retry.
                if (failure.stale_connection && fresh_tries == 0) continue;
                throw;
            } catch (...) {
                drop_connection();
                throw;
            }
        }
    }

    // -- retries, redirects, errors --

    milliseconds backoff(int failed_attempts) const {
        auto base = options.retry.initial_backoff.count();
        for (int i = 1; i < failed_attempts && base < options.retry.max_backoff.count(); ++i) base *= 2;
        base = std::min<long long>(base, options.retry.max_backoff.count());
        // "Equal jitter": at least half the backoff, so retries never bunch up at zero.
        return milliseconds(base / 2 + static_cast<long long>(options.jitter() * static_cast<double>(base) / 2));
    }

    Error status_error(const std::string& method, const Url& url, const Response& response, int attempts) {
        bool auth = response.status == 401 || (response.status == 403 && !rate_limited_403(response)) ||
                    response.status == 407;
        std::string message = method + " failed: " + response_message(response);
        if (attempts > 1) message += " (after " + std::to_string(attempts) + " attempts)";
        return Error(auth ? ErrorKind::auth : ErrorKind::network, message,
                     {.file = url.redacted(), .http_status = response.status});
    }

    Response execute(const Request& original, const BodySink* sink, bool check_status) {
        Request request = original;
        Url url = Url::parse(request.url);
        auto require_scheme = [&](const Url& u) {
            if (!u.is_https() && !options.allow_plain_http) {
                throw Error(ErrorKind::usage, request.method + " refused: plain http:// is not allowed, use https://",
                            {.file = u.redacted()});
            }
        };
        require_scheme(url);
        int attempt = 0;
        int redirects = 0;
        milliseconds waited{0};
        for (;;) {
            ++attempt;
            std::optional<Response> response;
            std::string failure;
            bool may_retry = false;
            try {
                if (attempt > 1 && sink && sink->reset) sink->reset();
                response = exchange(url, request, sink);
            } catch (const TransportFailure& f) {
                failure = f.message;
                may_retry = f.retryable && (!f.request_sent || idempotent(request.method));
            } catch (const ProxyRefusal& refusal) {
                throw Error(refusal.status == 407 ? ErrorKind::auth : ErrorKind::network,
                            request.method + " failed: the proxy refused CONNECT with " +
                                std::to_string(refusal.status) + " " + refusal.reason,
                            {.file = url.redacted(), .http_status = refusal.status});
            }

            if (response) {
                auto location = response->header("location");
                if (is_redirect(response->status) && location && redirects < options.max_redirects) {
                    Url next = location->starts_with("/") ? Url::parse(url.scheme + "://" + url.authority() + *location)
                                                          : Url::parse(*location);
                    require_scheme(next);
                    // Credentials are for the origin that asked for them, never for where it points us to.
                    if (!next.same_origin(url)) request.headers.erase("authorization");
                    if (response->status == 303 ||
                        ((response->status == 301 || response->status == 302) && request.method == "POST")) {
                        request.method = "GET";
                        request.body.clear();
                        request.headers.erase("content-type");
                    }
                    url = next;
                    request.url = next.str();
                    ++redirects;
                    --attempt;  // following a redirect is not a failed attempt
                    continue;
                }
                if (!retryable_status(*response)) {
                    if (check_status && response->status >= 400) throw status_error(request.method, url, *response, attempt);
                    return std::move(*response);
                }
                may_retry = true;
            }

            auto give_up = [&](const std::string& why) -> Response {
                if (response) {
                    if (!check_status) return std::move(*response);
                    auto error = status_error(request.method, url, *response, attempt);
                    throw why.empty() ? error : Error(error.kind(), error.message() + "; " + why, error.where());
                }
                std::string message = request.method + " failed: " + failure;
                if (attempt > 1) message += " (after " + std::to_string(attempt) + " attempts)";
                if (!why.empty()) message += "; " + why;
                throw Error(ErrorKind::network, message, {.file = url.redacted()});
            };
            if (!may_retry || attempt >= options.retry.max_attempts) return give_up("");

            auto asked = response ? requested_wait(*response, options.now()) : std::nullopt;
            auto wait = asked ? *asked : backoff(attempt);
            // GitHub: a secondary rate limit that names no time wants at least a minute before the next try.
            if (!asked && response && response->status == 403) wait = std::max(wait, milliseconds(60'000));
            if (waited + wait > options.retry.max_total_wait) {
                return give_up("the server asks to wait " + seconds_text(wait) + ", beyond the " +
                               seconds_text(options.retry.max_total_wait - waited) + " left to wait");
            }
            options.sleep(wait);
            waited += wait;
        }
    }
};

// ---------------------------------------------------------------------------------------------------------------
// Client

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

Response Client::send(const Request& request) { return impl_->execute(request, nullptr, true); }

Response Client::send_unchecked(const Request& request) { return impl_->execute(request, nullptr, false); }

Response Client::send_to(const Request& request, const BodySink& sink) { return impl_->execute(request, &sink, true); }

Response Client::download_to_file(const Request& request, const std::filesystem::path& file) {
    std::ofstream out;
    auto open = [&] {
        if (out.is_open()) out.close();
        out.open(file, std::ios::binary | std::ios::trunc);
        if (!out) throw Error(ErrorKind::external, "cannot write the download", {.file = file.string()});
    };
    open();
    BodySink sink{[&](std::string_view piece) {
                      out.write(piece.data(), static_cast<std::streamsize>(piece.size()));
                      if (!out) throw Error(ErrorKind::external, "cannot write the download", {.file = file.string()});
                  },
                  open};
    auto response = impl_->execute(request, &sink, true);
    out.close();
    if (!out) throw Error(ErrorKind::external, "cannot write the download", {.file = file.string()});
    return response;
}

std::vector<Response> Client::get_all_pages(const Request& first, std::size_t max_pages) {
    std::vector<Response> pages;
    Request request = first;
    request.method = "GET";
    auto origin = Url::parse(first.url);
    while (pages.size() < max_pages) {
        pages.push_back(send(request));
        auto link = pages.back().header("link");
        auto next = link ? link_relation(*link, "next") : std::nullopt;
        if (!next) return pages;
        if (!Url::parse(*next).same_origin(origin)) request.headers.erase("authorization");
        request.url = *next;
    }
    throw Error(ErrorKind::network, "GET failed: more than " + std::to_string(max_pages) + " pages",
                {.file = origin.redacted()});
}

const ClientOptions& Client::options() const { return impl_->options; }

std::size_t Client::connections_opened() const { return impl_->opened; }

}  // namespace ece::http
