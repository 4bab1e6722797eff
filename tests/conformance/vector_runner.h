// Shared machinery of the data-driven conformance runners (ENGINEERING.md
// convention 10): where the vector files are, JSON loading, hex decoding, and
// counting/reporting of cases.
//
// A runner is one function per vector schema. It goes over every case of a file
// through VectorFileRun::run_case(), which counts the case as passed, failed or
// skipped (a skip always carries a written reason). At the end of the file one
// line is printed and appended to ${RPED_BINARY_DIR}/conformance-report.txt:
//
//   vectors: <relative path>: run N, passed P, failed F, skipped S
//
// followed by one indented line per skip reason. N counts every case of the file
// (N = P + F + S) and must equal the file's own `numberOfTests` and be > 0.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "rped/bytes.h"
#include "rped/result.h"

namespace rped::conformance {

using Json = nlohmann::json;

// $PED_VECTORS_DIR if set and non-empty, else RPED_DEFAULT_VECTORS_DIR.
std::filesystem::path vectors_dir();
// ${RPED_BINARY_DIR}/conformance-report.txt
std::filesystem::path report_path();

// Parameter of every runner test: a vector file by its '/'-separated path
// relative to vectors_dir(). PrintTo makes the path the test's value_param(),
// which is how the inventory test knows which files have a runner.
struct VectorFile {
  std::string path;
};
void PrintTo(const VectorFile& file, std::ostream* os);
// "wycheproof/ecdh_secp521r1_test.json" -> "ecdh_secp521r1_test" (test name suffix).
std::string vector_test_name(const ::testing::TestParamInfo<VectorFile>& info);

// Malformed vector data (missing field, bad hex): the case fails with this message.
class VectorDataError final : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Verdict { passed, failed, skipped };
struct CaseOutcome {
  Verdict verdict;
  std::string detail;  // why it failed / why it was skipped
};
inline CaseOutcome passed() {
  return {Verdict::passed, {}};
}
inline CaseOutcome failed(std::string why) {
  return {Verdict::failed, std::move(why)};
}
inline CaseOutcome skipped(std::string reason) {
  return {Verdict::skipped, std::move(reason)};
}

// The `result` of a case as the vector file states it.
enum class Expected { valid, invalid, acceptable };
Expected expected_result(const Json& test);

// Hex field `key` of `object`, decoded with rped::from_hex.
Bytes hex_field(const Json& object, std::string_view key);
// Non-negative integer field (bit lengths, sizes).
std::size_t size_field(const Json& object, std::string_view key);
std::string string_field(const Json& object, std::string_view key);

std::string describe(const Error& error);
// "<what>: got <hex>, want <hex>" (vectors are public data).
std::string mismatch(std::string_view what, ByteView got, ByteView want);
bool bytes_equal(ByteView a, ByteView b);
// True when the leftmost `bits` bits of a and b agree (both must hold them).
bool leftmost_bits_equal(ByteView a, ByteView b, std::size_t bits);

class VectorFileRun final {
 public:
  // Loads and parses the file; a load failure is a test failure and leaves document() null.
  explicit VectorFileRun(std::string relative_path);
  VectorFileRun(const VectorFileRun&) = delete;
  VectorFileRun& operator=(const VectorFileRun&) = delete;

  const std::string& path() const { return path_; }
  const Json& document() const { return document_; }
  bool loaded() const { return loaded_; }

  // Runs one case. A failure is reported through ADD_FAILURE naming the file and
  // `case_id`; a VectorDataError or JSON exception fails the case, not the file.
  void run_case(const std::string& case_id, const std::function<CaseOutcome()>& check);

  // Prints and appends the report line(s); fails the test when no case ran or the
  // count differs from the file's numberOfTests.
  void finish();

 private:
  std::string path_;
  Json document_;
  bool loaded_ = false;
  std::size_t passed_ = 0;
  std::size_t failed_ = 0;
  std::size_t skipped_ = 0;
  std::map<std::string, std::vector<std::string>> skip_reasons_;  // reason -> case ids
};

// Wycheproof v1 layout: testGroups[].tests[]; case id "tcId N".
void for_each_wycheproof_case(
    VectorFileRun& run,
    const std::function<CaseOutcome(const Json& group, const Json& test)>& check);
// acvp-merged-v1 layout (and standards/): tests[]; case id "tcId N".
void for_each_listed_case(VectorFileRun& run,
                          const std::function<CaseOutcome(const Json& test)>& check);

// Loads `file`, hands it to `runner` (which calls for_each_*), then finish().
void run_vector_file(const VectorFile& file, const std::function<void(VectorFileRun&)>& runner);

}  // namespace rped::conformance
