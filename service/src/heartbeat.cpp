#include "rped/service/heartbeat.h"

namespace rped::service {

ServiceHeartbeat::ServiceHeartbeat(boost::asio::io_context& io, ServiceManager& manager,
                                   std::function<std::string()> status_line,
                                   std::chrono::milliseconds status_period)
    : manager_(manager),
      status_line_(std::move(status_line)),
      status_period_(status_period),
      watchdog_timer_(io),
      status_timer_(io) {}

void ServiceHeartbeat::start() {
  if (running_) {
    return;
  }
  running_ = true;
  refresh();
  if (manager_.watchdog_interval()) {
    manager_.watchdog_ping();  // the first right away: start-up may have used part of the interval
    schedule_watchdog();
  }
  if (manager_.notifying()) {
    schedule_status();
  }
}

void ServiceHeartbeat::refresh() {
  if (running_ && status_line_) {
    manager_.status(status_line_());
  }
}

void ServiceHeartbeat::stop() {
  running_ = false;
  watchdog_timer_.cancel();
  status_timer_.cancel();
}

void ServiceHeartbeat::schedule_watchdog() {
  // sd_watchdog_enabled(3): "send a keep-alive notification ... every half the time".
  const auto half = *manager_.watchdog_interval() / 2;
  watchdog_timer_.expires_after(half);
  watchdog_timer_.async_wait([this](const boost::system::error_code& error) {
    if (error || !running_) {
      return;
    }
    manager_.watchdog_ping();
    schedule_watchdog();
  });
}

void ServiceHeartbeat::schedule_status() {
  status_timer_.expires_after(status_period_);
  status_timer_.async_wait([this](const boost::system::error_code& error) {
    if (error || !running_) {
      return;
    }
    refresh();
    schedule_status();
  });
}

}  // namespace rped::service
