// The inventory: every *.json under the vectors folder (except the Wycheproof
// JSON Schemas) is either run by a runner test or listed below as deferred, with
// the reason printed as a skip line in the conformance report. A new vector file
// that nobody runs makes this test fail.
#include <algorithm>
#include <array>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "conformance/vector_runner.h"

namespace rped::conformance {
namespace {

struct DeferredFile {
  std::string_view path;
  std::string_view reason;
};

// Files that exist but have no runner yet, each with the reason printed in the report, e.g.
//   {"generated/x.json", "deferred until the KAS layer (issue 3) exists: <what it needs>"}.
// Empty now: the KAS files (generated/, supplementary/) that were deferred until
// the KAS layer existed are run by kas_vectors_test.cpp.
constexpr std::array<DeferredFile, 0> kDeferredFiles{};

// The Wycheproof JSON Schemas describe the vector files; they are not vectors.
constexpr std::string_view kSchemasDir = "wycheproof/schemas/";

std::set<std::string> json_files_on_disk() {
  std::set<std::string> files;
  const std::filesystem::path root = vectors_dir();
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    const std::string relative = entry.path().lexically_relative(root).generic_string();
    if (entry.is_regular_file() && entry.path().extension() == ".json" &&
        !relative.starts_with(kSchemasDir)) {
      files.insert(relative);
    }
  }
  return files;
}

// Files some registered runner test takes as its parameter (VectorFile prints as its path).
// The registry holds every test, whatever --gtest_filter selects or ctest runs.
std::set<std::string> files_with_a_runner() {
  std::set<std::string> files;
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  for (int i = 0; i < unit.total_test_suite_count(); ++i) {
    const ::testing::TestSuite& suite = *unit.GetTestSuite(i);
    for (int j = 0; j < suite.total_test_count(); ++j) {
      const char* const param = suite.GetTestInfo(j)->value_param();
      if (param != nullptr && std::string_view(param).ends_with(".json")) {
        files.insert(param);
      }
    }
  }
  return files;
}

const DeferredFile* find_deferred(std::string_view path) {
  const auto found = std::find_if(kDeferredFiles.begin(), kDeferredFiles.end(),
                                  [&](const DeferredFile& d) { return d.path == path; });
  return found == kDeferredFiles.end() ? nullptr : found;
}

TEST(VectorInventory, EveryVectorFileIsRunOrDeferred) {
  ASSERT_TRUE(std::filesystem::is_directory(vectors_dir()))
      << "vectors folder " << vectors_dir() << " not found";
  const std::set<std::string> on_disk = json_files_on_disk();
  const std::set<std::string> with_runner = files_with_a_runner();
  ASSERT_FALSE(on_disk.empty()) << "no *.json under " << vectors_dir();
  ASSERT_FALSE(with_runner.empty()) << "no runner tests are registered";

  for (const std::string& path : on_disk) {
    const bool run = with_runner.contains(path);
    const bool deferred = find_deferred(path) != nullptr;
    EXPECT_FALSE(run && deferred) << path << " has a runner and is also listed as deferred";
    EXPECT_TRUE(run || deferred)
        << path << " is neither run by a runner nor listed as deferred (with a reason)";
  }
  for (const std::string& path : with_runner) {
    EXPECT_TRUE(on_disk.contains(path))
        << "a runner names " << path << ", which is not in the vectors folder";
  }
  for (const DeferredFile& deferred : kDeferredFiles) {
    if (!on_disk.contains(std::string(deferred.path))) {
      ADD_FAILURE() << "stale deferred entry: " << deferred.path << " is not in the vectors folder";
      continue;
    }
    // Reported like a run in which every case is skipped, with the reason as the skip line.
    run_vector_file(VectorFile{std::string(deferred.path)}, [&](VectorFileRun& run) {
      for_each_listed_case(run, [&](const Json&) { return skipped(std::string(deferred.reason)); });
    });
  }
}

}  // namespace
}  // namespace rped::conformance
