#include "rped/service/admin_server.h"

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <spdlog/spdlog.h>
#include <unistd.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <exception>

#include "rped/service/admin.h"
#include "rped/service/channel_connection.h"
#include "rped/service/net.h"

namespace rped::service {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

constexpr unsigned kMaxAdminConnections = 16;  // what unauthenticated local users can make it hold
constexpr std::chrono::milliseconds kAcceptRetryPause{100};

}  // namespace

AdminAnswer admin_refusal(std::string why) {
  nlohmann::json body = {{"ok", false}, {"error", std::move(why)}};
  return AdminAnswer{std::move(body), false};
}

AdminServer::AdminServer(asio::io_context& io, AdminServerConfig config,
                         std::shared_ptr<spdlog::logger> log, Handler handler)
    : io_(io), config_(std::move(config)), log_(std::move(log)), handler_(std::move(handler)) {}

AdminServer::~AdminServer() = default;

Result<void> AdminServer::open() {
  const tcp::endpoint endpoint =
      config_.external ? tcp::endpoint(asio::ip::address_v6::any(), config_.port)
                       : tcp::endpoint(asio::ip::address_v4::loopback(), config_.port);
  RPED_TRY_ASSIGN(tcp::acceptor acceptor,
                  listen_tcp(io_, endpoint, "administration", "-admin", config_.program));
  boost::system::error_code error;
  listening_ = endpoint_text(acceptor.local_endpoint(error)) + " (administration)";
  acceptor_.emplace(std::move(acceptor));
  token_file_ = token_file_path(config_.state_dir, config_.port);
  auto token = new_admin_token();
  if (!token.ok()) {
    return make_error(Errc::internal, "cannot make the admin token: " + token.error().message);
  }
  token_ = std::move(token).value();
  return write_token_file(token_file_, TokenFile{config_.port, ::getpid(), token_});
}

void AdminServer::start() {
  spawn(accept_loop());
}

void AdminServer::spawn(asio::awaitable<void> coroutine) {
  spawn_logged(io_, std::move(coroutine), log_, "admin");
}

void AdminServer::stop_accepting() {
  stopped_ = true;
  if (acceptor_) {
    boost::system::error_code ignored;
    acceptor_->close(ignored);
  }
}

void AdminServer::close() {
  stop_accepting();
  if (!token_file_.empty()) {
    std::error_code ignored;
    std::filesystem::remove(token_file_, ignored);
  }
  for (tcp::socket& socket : stop_waiters_) {
    boost::system::error_code ignored;
    socket.close(ignored);
  }
  stop_waiters_.clear();
}

std::string AdminServer::listening() const {
  return listening_;
}

awaitable<void> AdminServer::accept_loop() {
  while (!stopped_ && acceptor_) {
    boost::system::error_code error;
    tcp::socket socket =
        co_await acceptor_->async_accept(asio::redirect_error(use_awaitable, error));
    if (error) {
      if (error == asio::error::operation_aborted || stopped_) {
        co_return;
      }
      asio::steady_timer pause(io_, kAcceptRetryPause);
      co_await pause.async_wait(asio::redirect_error(use_awaitable, error));
      continue;
    }
    if (connections_ >= kMaxAdminConnections) {
      log_->warn("admin: refused a connection: {} are open already", connections_);
      socket.close(error);
      continue;
    }
    spawn(serve(std::move(socket)));
  }
}

awaitable<void> AdminServer::serve(tcp::socket socket) {
  const CountedScope counted(connections_);
  boost::system::error_code error;
  const tcp::endpoint remote = socket.remote_endpoint(error);
  const std::string peer = error ? std::string("unknown peer") : endpoint_text(remote);
  asio::streambuf input(kMaxAdminLineBytes);
  for (;;) {
    std::size_t length = 0;
    {
      const SocketDeadline deadline(socket, kAdminIoTimeout);
      length = co_await asio::async_read_until(socket, input, '\n',
                                               asio::redirect_error(use_awaitable, error));
    }
    if (error) {
      break;
    }
    std::string line(asio::buffers_begin(input.data()),
                     asio::buffers_begin(input.data()) + static_cast<std::ptrdiff_t>(length));
    input.consume(length);
    AdminAnswer reply = co_await answer(line, peer);
    const std::string text = reply.body.dump() + "\n";
    {
      const SocketDeadline deadline(socket, kAdminIoTimeout);
      co_await asio::async_write(socket, asio::buffer(text),
                                 asio::redirect_error(use_awaitable, error));
    }
    if (error) {
      break;
    }
    if (reply.keep_until_exit) {
      // `-mode stop` waits for this connection to close: it closes when the process exits.
      stop_waiters_.push_back(std::move(socket));
      co_return;
    }
  }
  socket.close(error);
}

// (Not inside the coroutine: GCC 12 mishandles braced initializer lists there.)
AdminAnswer AdminServer::hello_answer() const {
  nlohmann::json body = {{"ok", true},
                         {"server", config_.program},
                         {"version", config_.version},
                         {"pid", ::getpid()},
                         {"owner_uid", ::geteuid()},
                         {"admin_port", config_.port},
                         {"token_file", token_file_.string()}};
  return AdminAnswer{std::move(body), false};
}

awaitable<AdminAnswer> AdminServer::answer(const std::string& line, const std::string& peer) {
  nlohmann::json request = nlohmann::json::parse(line, nullptr, false);
  if (!request.is_object() || !request.contains("command") || !request["command"].is_string()) {
    co_return admin_refusal("malformed request: one JSON object with a \"command\" per line");
  }
  std::string command = request["command"].get<std::string>();
  if (command == admin_command::hello) {
    co_return hello_answer();
  }
  const bool authenticated = request.contains("token") && request["token"].is_string() &&
                             token_matches(token_, request["token"].get<std::string>());
  if (!authenticated) {
    log_->warn("admin: refused '{}' from {}: wrong or missing admin token", command.substr(0, 32),
               peer);
    co_return admin_refusal(
        "permission denied: wrong or missing admin token; only the user who "
        "started " +
        config_.program + " (uid " + std::to_string(::geteuid()) + ") or root may do this");
  }
  request.erase("token");
  // A named local the handler may refer to until it returns (and not a
  // by-value coroutine parameter: GCC 12 destroys those twice).
  const AdminRequest admin{std::move(command), std::move(request), peer};
  co_return co_await handler_(admin);
}

}  // namespace rped::service
