// Ratios against raw operations, computed from the benchmarks of the same run
// (never typed in by hand).
//
//   RatioReporter reporter;                   // prints the usual console lines too
//   benchmark::RunSpecifiedBenchmarks(&reporter);
//   print_ratio_table(std::cout, reporter, {{"record 64 B", "BM_Ours/64", "BM_Raw/64", 1.2}});
//
// Each benchmark's figure is the median CPU time per iteration over its
// repetitions (one repetition: that run's time). CPU time rather than wall
// time, so a preemption on the shared cores does not land on one side of a
// ratio only.
//
// Thread-safety: none; used by the thread that runs the benchmarks.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

namespace rped::bench {

class RatioReporter final : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : benchmark::ConsoleReporter(OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    std::vector<Run> shown;
    for (const Run& run : runs) {
      const std::string key = key_of(run);
      if (run.error_occurred) {
        failed_.insert(key);
        shown.push_back(run);
        continue;
      }
      if (run.run_type == Run::RT_Iteration) {
        samples_ns_[key].push_back(run.GetAdjustedCPUTime() * ns_per_unit(run.time_unit));
      }
      // With repetitions, show the median and its spread instead of every repetition.
      const bool aggregate = run.run_type == Run::RT_Aggregate;
      if ((run.repetitions <= 1 && !aggregate) ||
          (aggregate && (run.aggregate_name == "median" || run.aggregate_name == "cv"))) {
        shown.push_back(run);
      }
    }
    if (!shown.empty()) {
      ConsoleReporter::ReportRuns(shown);
    }
  }

  // Median CPU nanoseconds per iteration of a benchmark ("BM_Name" or
  // "BM_Name/arg"); nullopt when it did not run or failed.
  std::optional<double> ns(const std::string& key) const {
    const auto it = samples_ns_.find(key);
    if (it == samples_ns_.end() || it->second.empty() || failed_.contains(key)) {
      return std::nullopt;
    }
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    const std::size_t mid = v.size() / 2;
    return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2.0;
  }

  bool any_failed() const noexcept { return !failed_.empty(); }

 private:
  static std::string key_of(const Run& run) {
    return run.run_name.args.empty() ? run.run_name.function_name
                                     : run.run_name.function_name + "/" + run.run_name.args;
  }

  static double ns_per_unit(const benchmark::TimeUnit unit) {
    switch (unit) {
      case benchmark::kNanosecond:
        return 1.0;
      case benchmark::kMicrosecond:
        return 1e3;
      case benchmark::kMillisecond:
        return 1e6;
      case benchmark::kSecond:
        return 1e9;
      default:
        return 1.0;
    }
  }

  std::map<std::string, std::vector<double>> samples_ns_;
  std::set<std::string> failed_;
};

// "12.3 us", "845 ns": a duration in the unit that reads best.
inline std::string format_ns(const double ns) {
  char text[32];
  if (ns >= 1e6) {
    std::snprintf(text, sizeof text, "%.2f ms", ns / 1e6);
  } else if (ns >= 1e4) {
    std::snprintf(text, sizeof text, "%.1f us", ns / 1e3);
  } else {
    std::snprintf(text, sizeof text, "%.0f ns", ns);
  }
  return text;
}

inline std::string format_fixed(const double value, const int decimals, const char* suffix = "") {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f%s", decimals, value, suffix);
  return text;
}

inline std::string pad(std::string text, const std::size_t width, const bool right_align) {
  if (text.size() >= width) {
    return text;
  }
  const std::string fill(width - text.size(), ' ');
  return right_align ? fill + text : text + fill;
}

// One row: our operation against the raw operations it is made of.
struct RatioRow {
  std::string operation;
  std::string ours;   // benchmark key
  std::string raw;    // benchmark key
  double target = 0;  // highest acceptable ours/raw; 0 = informational, no verdict
};

struct RatioTableSummary {
  int missed = 0;
  int unavailable = 0;
};

// Prints "operation | ours | raw | ratio | target | verdict". A missed target
// reads MISSED; a row whose benchmarks did not run reads n/a.
inline RatioTableSummary print_ratio_table(std::ostream& out, const RatioReporter& reporter,
                                           const std::vector<RatioRow>& rows) {
  RatioTableSummary summary;
  std::size_t op_width = std::string("operation").size();
  for (const RatioRow& row : rows) {
    op_width = std::max(op_width, row.operation.size());
  }
  const auto line = [&](const std::string& op, const std::string& ours, const std::string& raw,
                        const std::string& ratio, const std::string& target,
                        const std::string& verdict) {
    out << pad(op, op_width, false) << " | " << pad(ours, 10, true) << " | " << pad(raw, 10, true)
        << " | " << pad(ratio, 6, true) << " | " << pad(target, 7, true) << " | " << verdict
        << '\n';
  };
  line("operation", "ours", "raw", "ratio", "target", "verdict");
  out << std::string(op_width, '-') << "-|------------|------------|--------|---------|--------\n";
  for (const RatioRow& row : rows) {
    const std::optional<double> ours = reporter.ns(row.ours);
    const std::optional<double> raw = reporter.ns(row.raw);
    const std::string target = row.target > 0 ? "<=" + format_fixed(row.target, 2, "x") : "-";
    if (!ours || !raw || *raw <= 0) {
      ++summary.unavailable;
      line(row.operation, ours ? format_ns(*ours) : "-", raw ? format_ns(*raw) : "-", "-", target,
           "n/a (benchmark not run or failed)");
      continue;
    }
    const double ratio = *ours / *raw;
    std::string verdict = "info";
    if (row.target > 0) {
      const bool met = ratio <= row.target;
      summary.missed += met ? 0 : 1;
      verdict =
          met ? "ok"
              : "MISSED (over by " + format_fixed((ratio / row.target - 1.0) * 100.0, 0, "%") + ")";
    }
    line(row.operation, format_ns(*ours), format_ns(*raw), format_fixed(ratio, 2, "x"), target,
         verdict);
  }
  return summary;
}

}  // namespace rped::bench
