// The audit record parser and the chain verifier (rped/audit/record.h): a log
// file on the host is untrusted input to the auditor's verifier. A parsed
// record re-formats to the same 448 bytes (one encoding per record); the
// verifier, fed arbitrary lines, always reaches a verdict and never calls a
// log with a fault "ok".
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fixture.h"
#include "rped/audit/record.h"

namespace {

using rped::fuzz::require;
namespace audit = rped::audit;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (const auto record = audit::AuditRecord::parse(input); record.ok()) {
    const audit::RecordLine line = record.value().format();
    require(std::string_view(line.data(), line.size()) == input, "format(parse(line)) == line");
  } else {
    require(record.error().code == rped::Errc::invalid_encoding,
            "a refused record is invalid_encoding");
  }
  // The input as a log: lines split at '\n', fed to the verifier.
  audit::LogSecret secret{};
  audit::ChainVerifier verifier(std::move(secret), audit::VerifyOptions{});
  std::size_t start = 0;
  std::size_t lines = 0;
  while (start < input.size()) {
    const std::size_t end = input.find('\n', start);
    const std::size_t stop = end == std::string_view::npos ? input.size() : end + 1;
    verifier.feed(input.substr(start, stop - start), "fuzz");
    ++lines;
    start = stop;
  }
  const audit::VerifyVerdict verdict = verifier.finish();
  require(verdict.ok() == (verdict.fault == audit::Fault::none), "ok() iff no fault");
  require(verdict.records <= lines, "never more records verified than lines fed");
  return 0;
}
