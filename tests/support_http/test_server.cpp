#include "test_server.hpp"

#include "support.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <deque>
#include <mutex>
#include <thread>

namespace ece::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;

namespace {

std::string percent_decode(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size()) {
            out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else if (text[i] == '+') {
            out += ' ';
        } else {
            out += text[i];
        }
    }
    return out;
}

std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> parts;
    std::size_t start = 1;
    while (start <= path.size()) {
        auto slash = path.find('/', start);
        parts.emplace_back(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return parts;
}

struct Route {
    std::string method;
    std::string pattern;
    Handler handler;
};

struct Script {
    std::string method;
    std::string pattern;
    std::deque<ServerResponse> responses;
};

// Listens on 127.0.0.1 at a port the system picks and runs ioc on a thread of its own, starting with accept_loop.
void start_on_loopback(asio::io_context& ioc, tcp::acceptor& acceptor, awaitable<void> accept_loop,
                       std::thread& thread) {
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen();
    asio::co_spawn(ioc, std::move(accept_loop), asio::detached);
    thread = std::thread([&ioc] { ioc.run(); });
}

// Stops what start_on_loopback started; before the state its sessions use goes away.
void stop(asio::io_context& ioc, std::thread& thread) {
    ioc.stop();
    if (thread.joinable()) thread.join();
}

}  // namespace

std::optional<std::map<std::string, std::string>> match_path(const std::string& pattern, const std::string& path) {
    auto want = split_path(pattern);
    auto got = split_path(path);
    if (want.size() != got.size()) return std::nullopt;
    std::map<std::string, std::string> params;
    for (std::size_t i = 0; i < want.size(); ++i) {
        if (want[i].size() > 2 && want[i].front() == '{' && want[i].back() == '}') {
            if (got[i].empty()) return std::nullopt;
            params[want[i].substr(1, want[i].size() - 2)] = percent_decode(got[i]);
        } else if (want[i] != got[i]) {
            return std::nullopt;
        }
    }
    return params;
}

std::optional<std::string> ServerRequest::query_param(std::string_view name) const {
    std::string_view rest = query;
    while (!rest.empty()) {
        auto amp = rest.find('&');
        auto pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        auto eq = pair.find('=');
        if (percent_decode(pair.substr(0, eq)) == name) {
            return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
        }
    }
    return std::nullopt;
}

std::vector<std::string> ServerRequest::query_names() const {
    std::vector<std::string> names;
    std::string_view rest = query;
    while (!rest.empty()) {
        auto amp = rest.find('&');
        auto pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        names.push_back(percent_decode(pair.substr(0, pair.find('='))));
    }
    return names;
}

ServerResponse ServerResponse::json(int status, std::string body) {
    ServerResponse response;
    response.status = status;
    response.headers.set("Content-Type", "application/json; charset=utf-8");
    response.body = std::move(body);
    return response;
}

ServerResponse ServerResponse::error(int status, std::string_view message) {
    boost::json::object object;
    object["message"] = message;
    object["documentation_url"] = "https://docs.github.com/rest";
    return json(status, boost::json::serialize(object));
}

// ---------------------------------------------------------------------------------------------------------------

struct TestServer::Impl {
    ServerOptions options;
    TestPki pki;
    TempDir dir;
    std::filesystem::path ca_path;
    asio::io_context ioc;
    ssl::context tls_context{ssl::context::tls_server};
    tcp::acceptor acceptor{ioc};
    std::thread thread;

    mutable std::mutex mutex;
    std::vector<Route> routes;
    std::vector<Script> scripts;
    Interceptor interceptor;
    std::vector<ServerRequest> log;
    std::size_t accepted = 0;

    explicit Impl(ServerOptions opts) : options(opts) {
        ca_path = dir / "ca.pem";
        pki.write_ca_file(ca_path);
        if (options.tls) {
            CertificateAndKey cert;
            switch (options.certificate) {
                case ServerCertificate::localhost: cert = pki.issue({"localhost"}, {"127.0.0.1"}); break;
                case ServerCertificate::wrong_host: cert = pki.issue({"wrong.example"}, {}); break;
                case ServerCertificate::self_signed: cert = TestPki::self_signed({"localhost"}, {"127.0.0.1"}); break;
            }
            tls_context.use_certificate_chain(asio::buffer(cert.certificate_pem));
            tls_context.use_private_key(asio::buffer(cert.private_key_pem), ssl::context::pem);
        }
        start_on_loopback(ioc, acceptor, accept_loop(), thread);
    }

    ~Impl() { stop(ioc, thread); }

    awaitable<void> accept_loop() {
        for (;;) {
            tcp::socket socket = co_await acceptor.async_accept(use_awaitable);
            {
                std::lock_guard lock(mutex);
                ++accepted;
            }
            if (options.tls) {
                auto stream = std::make_shared<beast::ssl_stream<beast::tcp_stream>>(std::move(socket), tls_context);
                asio::co_spawn(ioc, tls_session(stream), asio::detached);
            } else {
                auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
                asio::co_spawn(ioc, session(stream, *stream), asio::detached);
            }
        }
    }

    awaitable<void> tls_session(std::shared_ptr<beast::ssl_stream<beast::tcp_stream>> stream) {
        try {
            co_await stream->async_handshake(ssl::stream_base::server, use_awaitable);
        } catch (const std::exception&) {
            co_return;  // the client refused our certificate, or went away
        }
        co_await session(stream, *stream);
    }

    ServerResponse respond(ServerRequest& request) {
        Handler handler;
        Interceptor intercept;
        std::size_t logged = 0;
        {
            std::lock_guard lock(mutex);
            log.push_back(request);
            logged = log.size() - 1;
            intercept = interceptor;
        }
        if (intercept) {
            if (auto answer = intercept(request)) return std::move(*answer);
        }
        {
            std::lock_guard lock(mutex);
            for (auto& script : scripts) {
                if (script.method != request.method || script.responses.empty()) continue;
                if (match_path(script.pattern, request.path)) {
                    auto response = std::move(script.responses.front());
                    script.responses.pop_front();
                    return response;
                }
            }
            for (auto it = routes.rbegin(); it != routes.rend(); ++it) {
                if (it->method != request.method) continue;
                if (auto params = match_path(it->pattern, request.path)) {
                    request.params = std::move(*params);
                    log[logged].params = request.params;
                    handler = it->handler;
                    break;
                }
            }
        }
        // Handlers run unlocked: they keep their own state and may call back into the server (requests()).
        if (!handler) return ServerResponse::error(404, "Not Found");
        return handler(request);
    }

    template <class Stream, class Owner>
    // owner keeps the stream alive for as long as the coroutine runs.
    awaitable<void> session([[maybe_unused]] std::shared_ptr<Owner> owner, Stream& stream) {
        beast::flat_buffer buffer;
        try {
            for (;;) {
                bhttp::request_parser<bhttp::string_body> parser;
                parser.body_limit(512ull << 20);
                co_await bhttp::async_read(stream, buffer, parser, use_awaitable);
                auto& req = parser.get();
                ServerRequest request;
                request.method = std::string(req.method_string());
                request.target = std::string(req.target());
                auto q = request.target.find('?');
                request.path = request.target.substr(0, q);
                if (q != std::string::npos) request.query = request.target.substr(q + 1);
                for (const auto& field : req) {
                    request.headers.fields.emplace_back(std::string(field.name_string()), std::string(field.value()));
                }
                request.body = req.body();
                bool keep_alive = req.keep_alive();

                ServerResponse response = respond(request);
                while (response.hold.valid() &&
                       response.hold.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
                    asio::steady_timer timer(stream.get_executor(), std::chrono::milliseconds(5));
                    co_await timer.async_wait(use_awaitable);
                }
                if (response.delay.count() > 0) {
                    asio::steady_timer timer(stream.get_executor(), response.delay);
                    co_await timer.async_wait(use_awaitable);
                }
                if (response.fault == Fault::hang) {
                    asio::steady_timer timer(stream.get_executor(), std::chrono::hours(1));
                    co_await timer.async_wait(use_awaitable);
                    co_return;
                }
                if (response.fault == Fault::close_connection) {
                    beast::get_lowest_layer(stream).close();
                    co_return;
                }
                bhttp::response<bhttp::string_body> res;
                res.result(static_cast<unsigned>(response.status));
                res.version(11);
                for (const auto& [name, value] : response.headers.fields) res.insert(name, value);
                res.body() = response.body;
                res.keep_alive(keep_alive);
                res.prepare_payload();
                if (response.fault == Fault::cut_body) {
                    bhttp::response<bhttp::empty_body> head;
                    head.result(res.result());
                    head.version(11);
                    for (const auto& [name, value] : response.headers.fields) head.insert(name, value);
                    head.content_length(response.body.size());
                    bhttp::response_serializer<bhttp::empty_body> serializer(head);
                    co_await bhttp::async_write_header(stream, serializer, use_awaitable);
                    co_await asio::async_write(stream, asio::buffer(response.body.data(), response.body.size() / 2),
                                               use_awaitable);
                    beast::get_lowest_layer(stream).close();
                    co_return;
                }
                co_await bhttp::async_write(stream, res, use_awaitable);
                if (!keep_alive) {
                    beast::get_lowest_layer(stream).close();
                    co_return;
                }
            }
        } catch (const std::exception&) {
            // The client closed the connection or sent garbage: the session ends.
        }
    }
};

TestServer::TestServer(ServerOptions options) : impl_(std::make_unique<Impl>(options)) {}
TestServer::~TestServer() = default;

void TestServer::route(std::string method, std::string pattern, Handler handler) {
    std::lock_guard lock(impl_->mutex);
    impl_->routes.push_back({std::move(method), std::move(pattern), std::move(handler)});
}

void TestServer::intercept(Interceptor interceptor) {
    std::lock_guard lock(impl_->mutex);
    impl_->interceptor = std::move(interceptor);
}

void TestServer::enqueue(std::string method, std::string pattern, std::vector<ServerResponse> responses) {
    std::lock_guard lock(impl_->mutex);
    impl_->scripts.push_back({std::move(method), std::move(pattern), {responses.begin(), responses.end()}});
}

unsigned short TestServer::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string TestServer::base_url() const {
    return std::string(impl_->options.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port());
}

std::string TestServer::url(std::string_view path) const { return base_url() + std::string(path); }

std::string TestServer::localhost_url(std::string_view path) const {
    return std::string(impl_->options.tls ? "https" : "http") + "://localhost:" + std::to_string(port()) +
           std::string(path);
}

const std::filesystem::path& TestServer::ca_file() const { return impl_->ca_path; }

std::vector<ServerRequest> TestServer::requests() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->log;
}

void TestServer::clear_requests() {
    std::lock_guard lock(impl_->mutex);
    impl_->log.clear();
}

std::size_t TestServer::connections_accepted() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->accepted;
}

// ---------------------------------------------------------------------------------------------------------------

struct ConnectProxy::Impl {
    std::string required_authorization;
    asio::io_context ioc;
    tcp::acceptor acceptor{ioc};
    std::thread thread;
    mutable std::mutex mutex;
    std::vector<std::string> targets;

    explicit Impl(std::string auth) : required_authorization(std::move(auth)) {
        start_on_loopback(ioc, acceptor, accept_loop(), thread);
    }

    ~Impl() { stop(ioc, thread); }

    awaitable<void> accept_loop() {
        for (;;) {
            auto socket = std::make_shared<tcp::socket>(co_await acceptor.async_accept(use_awaitable));
            asio::co_spawn(ioc, tunnel(socket), asio::detached);
        }
    }

    static awaitable<void> pump(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to) {
        std::array<char, 16 * 1024> data;
        try {
            for (;;) {
                auto n = co_await from->async_read_some(asio::buffer(data), use_awaitable);
                co_await asio::async_write(*to, asio::buffer(data.data(), n), use_awaitable);
            }
        } catch (const std::exception&) {
            boost::system::error_code ignored;
            to->shutdown(tcp::socket::shutdown_send, ignored);
        }
    }

    awaitable<void> refuse(tcp::socket& client, const std::string& status_line) {
        std::string reply = "HTTP/1.1 " + status_line + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        co_await asio::async_write(client, asio::buffer(reply), use_awaitable);
    }

    awaitable<void> tunnel(std::shared_ptr<tcp::socket> client) {
        try {
            beast::flat_buffer buffer;
            bhttp::request_parser<bhttp::empty_body> parser;
            co_await bhttp::async_read_header(*client, buffer, parser, use_awaitable);
            auto& req = parser.get();
            std::string target(req.target());
            {
                std::lock_guard lock(mutex);
                targets.push_back(target);
            }
            if (req.method() != bhttp::verb::connect) {
                co_await refuse(*client, "405 Method Not Allowed");
                co_return;
            }
            if (!required_authorization.empty() &&
                std::string(req[bhttp::field::proxy_authorization]) != required_authorization) {
                co_await refuse(*client, "407 Proxy Authentication Required");
                co_return;
            }
            auto colon = target.rfind(':');
            auto host = target.substr(0, colon);
            if (host != "127.0.0.1" && host != "localhost") {
                co_await refuse(*client, "403 Forbidden");
                co_return;
            }
            auto upstream = std::make_shared<tcp::socket>(ioc);
            tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"),
                                   static_cast<unsigned short>(std::stoi(target.substr(colon + 1))));
            co_await upstream->async_connect(endpoint, use_awaitable);
            std::string established = "HTTP/1.1 200 Connection established\r\n\r\n";
            co_await asio::async_write(*client, asio::buffer(established), use_awaitable);
            if (buffer.size() > 0) co_await asio::async_write(*upstream, buffer.data(), use_awaitable);
            asio::co_spawn(ioc, pump(client, upstream), asio::detached);
            asio::co_spawn(ioc, pump(upstream, client), asio::detached);
        } catch (const std::exception&) {
        }
    }
};

ConnectProxy::ConnectProxy(std::string required_authorization)
    : impl_(std::make_unique<Impl>(std::move(required_authorization))) {}
ConnectProxy::~ConnectProxy() = default;

std::string ConnectProxy::url() const {
    return "http://127.0.0.1:" + std::to_string(impl_->acceptor.local_endpoint().port());
}

std::vector<std::string> ConnectProxy::connect_targets() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->targets;
}

}  // namespace ece::test
