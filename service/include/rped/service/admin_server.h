// The daemon side of the administration interface (admin.h has the wire
// form and the client): the loopback (or, with -eadmin 1, external) listener,
// the 0600 token file, hello, and token authentication -- everything both
// daemons do the same way. What a command does is the daemon's handler.
//
// Thread-safety: everything runs on the io_context's one thread.
#pragma once

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rped/result.h"

namespace spdlog {
class logger;
}

namespace rped::service {

struct AdminServerConfig final {
  std::string program;  // "pedserver": named in hello and in refusals
  std::string version;
  std::uint16_t port = 0;
  bool external = false;            // -eadmin 1: all interfaces
  std::filesystem::path state_dir;  // where the token file goes
};

struct AdminRequest final {
  std::string command;
  nlohmann::json body;  // the whole request object
  std::string peer;
};

struct AdminAnswer final {
  nlohmann::json body;  // {"ok":true,...} or refusal()
  // Keep the connection open until the process exits (`-mode stop` waits for it).
  bool keep_until_exit = false;
};

// {"ok":false,"error":why}
AdminAnswer admin_refusal(std::string why);

class AdminServer final {
 public:
  // Authenticated requests only; `hello` and authentication are answered here.
  // The request lives until the returned awaitable completes.
  using Handler = std::function<boost::asio::awaitable<AdminAnswer>(const AdminRequest&)>;

  AdminServer(boost::asio::io_context& io, AdminServerConfig config,
              std::shared_ptr<spdlog::logger> log, Handler handler);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds the listener and writes the token file; a clear error otherwise.
  Result<void> open();
  // Starts accepting (after open()).
  void start();
  // Stops accepting; connections already open finish their request.
  void stop_accepting();
  // At exit: removes the token file and closes the connections of `-mode stop`.
  void close();
  // "127.0.0.1:1502 (administration)"
  std::string listening() const;

 private:
  void spawn(boost::asio::awaitable<void> coroutine);
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);
  AdminAnswer hello_answer() const;
  boost::asio::awaitable<AdminAnswer> answer(const std::string& line, const std::string& peer);

  boost::asio::io_context& io_;
  const AdminServerConfig config_;
  std::shared_ptr<spdlog::logger> log_;
  Handler handler_;
  std::optional<boost::asio::ip::tcp::acceptor> acceptor_;
  std::string listening_;
  std::filesystem::path token_file_;
  std::string token_;
  std::list<boost::asio::ip::tcp::socket> stop_waiters_;
  unsigned connections_ = 0;
  bool stopped_ = false;
};

}  // namespace rped::service
