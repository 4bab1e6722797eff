#include "rped/hsmsim/ped_ping.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace rped::hsmsim {

namespace {

// The q-quantile of sorted samples (nearest rank).
std::int64_t quantile(const std::vector<std::int64_t>& sorted, double q) {
  const auto last = sorted.size() - 1;
  const auto rank = static_cast<std::size_t>(q * static_cast<double>(last) + 0.5);
  return sorted[std::min(rank, last)];
}

}  // namespace

CommandResult ped_ping(Hsm& hsm, std::uint32_t count, Console& out) {
  std::vector<std::int64_t> micros;
  micros.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    const auto start = std::chrono::steady_clock::now();
    CommandResult result = hsm.ped_get_status();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    if (!result.ok()) {
      result.message = "ped ping: round trip " + std::to_string(i + 1) + " of " +
                       std::to_string(count) + " failed: " + result.message;
      return result;
    }
    micros.push_back(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
  }
  std::sort(micros.begin(), micros.end());
  out.line("ped ping: count " + std::to_string(count) + " min_us " +
           std::to_string(micros.front()) + " p50_us " + std::to_string(quantile(micros, 0.5)) +
           " p90_us " + std::to_string(quantile(micros, 0.9)) + " p99_us " +
           std::to_string(quantile(micros, 0.99)) + " max_us " + std::to_string(micros.back()));
  return {};
}

}  // namespace rped::hsmsim
