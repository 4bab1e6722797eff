// The periodic part of a daemon's life under systemd, run from its event loop:
//   WATCHDOG=1 every half WATCHDOG_USEC (when WatchdogSec= is set) -- from a
//     timer on the io_context, so a stuck event loop stops the pings and
//     systemd restarts the service;
//   STATUS=<line> whenever the daemon's one-line state (status_line()) changed,
//     looked at every second and on refresh() (ServiceManager::status drops
//     repeats).
// Both are no-ops outside systemd (systemd.h).
//
// Thread-safety: everything runs on the io_context's thread.
#pragma once

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <string>

#include "rped/service/systemd.h"

namespace rped::service {

inline constexpr std::chrono::milliseconds kStatusRefreshPeriod{1000};

class ServiceHeartbeat final {
 public:
  ServiceHeartbeat(boost::asio::io_context& io, ServiceManager& manager,
                   std::function<std::string()> status_line,
                   std::chrono::milliseconds status_period = kStatusRefreshPeriod);
  ServiceHeartbeat(const ServiceHeartbeat&) = delete;
  ServiceHeartbeat& operator=(const ServiceHeartbeat&) = delete;
  ~ServiceHeartbeat() = default;

  // After ServiceManager::ready(): sends the first STATUS= and starts both timers.
  void start();
  // Sends STATUS= now if the line changed (call on every state change).
  void refresh();
  // At shutdown: the timers stop (so the io_context can finish).
  void stop();

 private:
  void schedule_watchdog();
  void schedule_status();

  ServiceManager& manager_;
  std::function<std::string()> status_line_;
  const std::chrono::milliseconds status_period_;
  boost::asio::steady_timer watchdog_timer_;
  boost::asio::steady_timer status_timer_;
  bool running_ = false;
};

}  // namespace rped::service
