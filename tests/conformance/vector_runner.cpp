#include "conformance/vector_runner.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <ostream>
#include <sstream>
#include <utility>

namespace rped::conformance {
namespace {

const Json& field(const Json& object, std::string_view key) {
  if (!object.is_object() || !object.contains(key)) {
    throw VectorDataError("missing field '" + std::string(key) + "'");
  }
  return object.at(std::string(key));
}

std::string first_ids(const std::vector<std::string>& ids) {
  constexpr std::size_t kShown = 5;
  std::string out;
  for (std::size_t i = 0; i < ids.size() && i < kShown; ++i) {
    out += (i == 0 ? "" : ", ") + ids[i];
  }
  if (ids.size() > kShown) {
    out += ", ...";
  }
  return out;
}

}  // namespace

std::filesystem::path vectors_dir() {
  const char* const from_env = std::getenv("PED_VECTORS_DIR");
  if (from_env != nullptr && *from_env != '\0') {
    return from_env;
  }
  return RPED_DEFAULT_VECTORS_DIR;
}

std::filesystem::path report_path() {
  return std::filesystem::path(RPED_BINARY_DIR) / "conformance-report.txt";
}

void PrintTo(const VectorFile& file, std::ostream* os) {
  *os << file.path;
}

std::string vector_test_name(const ::testing::TestParamInfo<VectorFile>& info) {
  std::string name = std::filesystem::path(info.param.path).stem().string();
  std::replace_if(
      name.begin(), name.end(),
      [](char c) { return std::isalnum(static_cast<unsigned char>(c)) == 0; }, '_');
  return name;
}

Expected expected_result(const Json& test) {
  const std::string result = string_field(test, "result");
  if (result == "valid") {
    return Expected::valid;
  }
  if (result == "invalid") {
    return Expected::invalid;
  }
  if (result == "acceptable") {
    return Expected::acceptable;
  }
  throw VectorDataError("unknown result '" + result + "'");
}

Bytes hex_field(const Json& object, std::string_view key) {
  const Result<Bytes> bytes = from_hex(string_field(object, key));
  if (!bytes.ok()) {
    throw VectorDataError("field '" + std::string(key) +
                          "' is not hex: " + describe(bytes.error()));
  }
  return bytes.value();
}

std::size_t size_field(const Json& object, std::string_view key) {
  const Json& value = field(object, key);
  if (!value.is_number_unsigned()) {
    throw VectorDataError("field '" + std::string(key) + "' is not a non-negative integer");
  }
  return value.get<std::size_t>();
}

std::string string_field(const Json& object, std::string_view key) {
  const Json& value = field(object, key);
  if (!value.is_string()) {
    throw VectorDataError("field '" + std::string(key) + "' is not a string");
  }
  return value.get<std::string>();
}

std::string describe(const Error& error) {
  return std::string(errc_name(error.code)) + " (" + error.message + ")";
}

std::string mismatch(std::string_view what, ByteView got, ByteView want) {
  return std::string(what) + ": got " + to_hex(got) + ", want " + to_hex(want);
}

bool bytes_equal(ByteView a, ByteView b) {
  return std::ranges::equal(a, b);
}

bool leftmost_bits_equal(ByteView a, ByteView b, std::size_t bits) {
  const std::size_t whole = bits / 8;
  const std::size_t rest = bits % 8;
  const std::size_t needed = whole + (rest == 0 ? 0 : 1);
  if (a.size() < needed || b.size() < needed) {
    return false;
  }
  if (!std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(whole), b.begin())) {
    return false;
  }
  if (rest == 0) {
    return true;
  }
  const auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

VectorFileRun::VectorFileRun(std::string relative_path) : path_(std::move(relative_path)) {
  const std::filesystem::path full = vectors_dir() / path_;
  std::ifstream in(full);
  if (!in) {
    ADD_FAILURE() << "cannot open vector file " << full;
    return;
  }
  document_ = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (document_.is_discarded()) {
    ADD_FAILURE() << "vector file " << full << " is not valid JSON";
    return;
  }
  loaded_ = true;
}

void VectorFileRun::run_case(const std::string& case_id,
                             const std::function<CaseOutcome()>& check) {
  CaseOutcome outcome{Verdict::failed, {}};
  try {
    outcome = check();
  } catch (const std::exception& e) {
    outcome = failed(std::string("malformed vector data: ") + e.what());
  }
  switch (outcome.verdict) {
    case Verdict::passed:
      ++passed_;
      return;
    case Verdict::skipped:
      ++skipped_;
      skip_reasons_[outcome.detail.empty() ? "(no reason given: a bug in the runner)"
                                           : outcome.detail]
          .push_back(case_id);
      EXPECT_FALSE(outcome.detail.empty())
          << path_ << ": " << case_id << " skipped without a reason";
      return;
    case Verdict::failed:
      ++failed_;
      ADD_FAILURE() << path_ << ": " << case_id << ": " << outcome.detail;
      return;
  }
  ++failed_;
  ADD_FAILURE() << path_ << ": " << case_id << ": unknown verdict";
}

void VectorFileRun::finish() {
  const std::size_t run = passed_ + failed_ + skipped_;
  std::ostringstream report;
  report << "vectors: " << path_ << ": run " << run << ", passed " << passed_ << ", failed "
         << failed_ << ", skipped " << skipped_ << '\n';
  for (const auto& [reason, ids] : skip_reasons_) {
    report << "  skipped " << ids.size() << " (" << first_ids(ids) << "): " << reason << '\n';
  }
  std::cout << report.str() << std::flush;
  std::ofstream out(report_path(), std::ios::app);
  out << report.str();
  EXPECT_TRUE(out.good()) << "cannot append to " << report_path();

  EXPECT_GT(run, 0U) << path_ << ": the file yielded no cases";
  if (loaded_ && document_.contains("numberOfTests")) {
    EXPECT_EQ(run, document_.at("numberOfTests").get<std::size_t>())
        << path_ << ": case count differs from the file's numberOfTests";
  }
}

void for_each_wycheproof_case(
    VectorFileRun& run,
    const std::function<CaseOutcome(const Json& group, const Json& test)>& check) {
  if (!run.loaded()) {
    return;
  }
  for (const Json& group : run.document().at("testGroups")) {
    for (const Json& test : group.at("tests")) {
      run.run_case("tcId " + test.at("tcId").dump(), [&] { return check(group, test); });
    }
  }
}

void for_each_listed_case(VectorFileRun& run,
                          const std::function<CaseOutcome(const Json& test)>& check) {
  if (!run.loaded()) {
    return;
  }
  for (const Json& test : run.document().at("tests")) {
    run.run_case("tcId " + test.at("tcId").dump(), [&] { return check(test); });
  }
}

void run_vector_file(const VectorFile& file, const std::function<void(VectorFileRun&)>& runner) {
  VectorFileRun run(file.path);
  try {
    runner(run);
  } catch (const std::exception& e) {
    ADD_FAILURE() << file.path << ": malformed file structure: " << e.what();
  }
  run.finish();
}

}  // namespace rped::conformance
