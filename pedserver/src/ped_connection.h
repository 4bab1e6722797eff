// The daemon's connection to its PED: opens it (USB through libusb, or the
// emulator's Unix socket), identifies it, notices when it goes away, and
// opens it again when it comes back -- without restarting anything.
//
// All blocking work stays off the io_context: transports are opened (and
// PedLinks destroyed, which joins their threads) on a one-thread pool, and
// PedLink runs USB I/O on its own threads. Every PedLink callback is posted
// into the io_context -- by the link's reader itself for answers and events
// (PedLinkOptions::deliver_on_reader) -- and a generation number drops
// callbacks of a link that was replaced meanwhile.
//
// async_ped_call() is the asynchronous operation sessions await: the PED's
// answer (ped::parse_response form: status || payload) is delivered on the
// awaiting coroutine's executor (its strand).
//
// Thread-safety: every member except async_ped_call's completion runs on the
// io_context's thread (the daemon runs it on one thread).
#pragma once

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "rped/config/ped_device.h"
#include "rped/ped/device_protocol.h"
#include "rped/result.h"
#include "rped/secret.h"
#include "rped/usb/ped_link.h"

namespace spdlog {
class logger;
}
namespace rped::usb {
class PedMonitor;
class UsbContext;
}  // namespace rped::usb

namespace rped::pedserver {

using PedCallResult = Result<SecretBytes>;

enum class PedEvent : std::uint8_t {
  remote_mode_exited,  // the custodian left Remote PED mode
  disconnected,        // unplugged, or the emulator went away
};

inline constexpr std::chrono::milliseconds kPedRetryInterval{1000};
inline constexpr std::chrono::milliseconds kPedIdentifyTimeout{5000};

class PedConnection final {
 public:
  using Listener = std::function<void(PedEvent event, const std::string& detail)>;

  PedConnection(boost::asio::io_context& io, config::PedDevice device,
                std::chrono::microseconds write_delay, std::shared_ptr<spdlog::logger> log);
  ~PedConnection();
  PedConnection(const PedConnection&) = delete;
  PedConnection& operator=(const PedConnection&) = delete;

  // Starts looking for the PED. `first_probe_done` runs once, after the first
  // attempt (found and identified, or not).
  void start(std::function<void()> first_probe_done);
  // Closes the PED link and stops looking; pending calls complete with "closed".
  void stop();

  bool connected() const noexcept { return identity_.has_value(); }
  const std::optional<ped::IdentifyResponse>& identity() const noexcept { return identity_; }
  std::string device_description()
      const;  // "USB PED 1209:0001", "PED emulator at /run/pedsim.sock"
  const std::string& last_error() const noexcept { return last_error_; }

  // One listener: the session that currently owns the PED. Empty clears it.
  void set_listener(Listener listener) { listener_ = std::move(listener); }

  // Sends a command; `completion` runs exactly once, on a PedLink thread or
  // inside this call (when no PED is connected). Use async_ped_call instead.
  void call(ped::Op op, ByteView body, std::chrono::milliseconds timeout,
            usb::PedLink::Completion completion);
  // Fire and forget (cancel, set_remote_session at the end of a session).
  void notify(ped::Op op, ByteView body);
  // Runs `done` once every notify() has been answered, or after `limit`.
  void after_pending_notifications(std::chrono::milliseconds limit, std::function<void()> done);

  boost::asio::io_context::executor_type executor() const noexcept { return io_.get_executor(); }

 private:
  void attempt_open();
  void on_opened(Result<std::unique_ptr<usb::PedTransport>> transport);
  void on_identified(std::uint64_t generation, PedCallResult response);
  void on_link_event(std::uint64_t generation, ped::Op op, const Bytes& body);
  void on_link_down(std::uint64_t generation, const std::string& reason);
  void drop_link();
  void schedule_retry();
  void report_failure(const std::string& what);
  void first_probe_finished();

  boost::asio::io_context& io_;
  const config::PedDevice device_;
  const std::chrono::microseconds write_delay_;
  std::shared_ptr<spdlog::logger> log_;
  boost::asio::thread_pool blocking_{1};
  boost::asio::steady_timer retry_timer_;
  boost::asio::steady_timer drain_timer_;
  unsigned notifications_in_flight_ = 0;
  std::shared_ptr<usb::UsbContext> usb_context_;
  std::unique_ptr<usb::PedMonitor> monitor_;
  std::unique_ptr<usb::PedLink> link_;
  std::uint64_t generation_ = 0;
  bool opening_ = false;
  bool stopped_ = false;
  std::optional<ped::IdentifyResponse> identity_;
  std::string last_error_;
  std::string last_reported_;
  std::function<void()> first_probe_done_;
  Listener listener_;
};

// The asynchronous form of PedConnection::call, for co_await:
//   PedCallResult r = co_await async_ped_call(ped, op, body, timeout, use_awaitable);
// The completion is posted to the awaiting handler's executor, and the
// operation holds work on it until then.
template <typename CompletionToken>
auto async_ped_call(PedConnection& ped, ped::Op op, SecretBytes body,
                    std::chrono::milliseconds timeout, CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, void(PedCallResult)>(
      [&ped, op, timeout](auto handler, SecretBytes request) {
        using Handler = decltype(handler);
        auto executor = boost::asio::get_associated_executor(handler, ped.executor());
        using Work = boost::asio::executor_work_guard<decltype(executor)>;
        struct Pending {
          Handler handler;
          Work work;
        };
        auto pending = std::make_shared<Pending>(Pending{std::move(handler), Work(executor)});
        ped.call(op, request.reveal(), timeout, [pending, executor](PedCallResult result) {
          boost::asio::post(executor, [pending, result = std::move(result)]() mutable {
            Handler resumed = std::move(pending->handler);
            pending->work.reset();
            resumed(std::move(result));
          });
        });
      },
      token, std::move(body));
}

// The payload of an ok response; a link failure or a non-ok status becomes an
// Error naming the operation and the PED's status and message (never secret:
// the PED's messages are not).
Result<SecretBytes> ok_payload(ped::Op op, const PedCallResult& response);

}  // namespace rped::pedserver
