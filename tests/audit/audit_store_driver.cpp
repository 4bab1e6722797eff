// Test-only driver for the crash-consistency test (tests/unit/audit_store_test.cpp):
// runs the real AuditStore on DIR, takes 448-byte records on stdin (any
// grouping; consecutive sequence numbers), submits what has arrived as one
// batch, and prints "ACK <durable seq>" for every acknowledgement. Starts by
// printing "READY <durable seq>" (what audit_resume would tell the HSM).
//
//   audit_store_driver DIR [ROTATE_BYTES]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "rped/pedclient/audit_store.h"

namespace {

void say(const std::string& line) {
  const std::string out = line + "\n";
  // One write per line: lines from the writer thread never interleave.
  static_cast<void>(::write(STDOUT_FILENO, out.data(), out.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: audit_store_driver DIR [ROTATE_BYTES]\n");
    return 2;
  }
  rped::pedclient::AuditStoreOptions options;
  options.directory = argv[1];
  if (argc > 2) {
    options.rotate_bytes = std::strtoull(argv[2], nullptr, 10);
  }
  options.warn_free_bytes = 0;
  options.warn_free_percent = 0;
  options.critical_free_bytes = 0;
  options.critical_free_percent = 0;
  auto store = rped::pedclient::AuditStore::open(options, [](const rped::pedclient::AuditStoreEvent& e) {
    std::fprintf(stderr, "audit_store_driver: %s\n", e.message.c_str());
  });
  if (!store.ok()) {
    std::fprintf(stderr, "audit_store_driver: %s\n", store.error().message.c_str());
    return 1;
  }
  say("READY " + std::to_string(store.value()->status().durable_seq));
  std::string buffer;
  char chunk[rped::audit::kRecordBytes * 64];
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
    if (n <= 0) {
      break;
    }
    buffer.append(chunk, static_cast<std::size_t>(n));
    const std::size_t whole = buffer.size() / rped::audit::kRecordBytes;
    if (whole == 0) {
      continue;
    }
    rped::hsm::AuditRecords batch;
    for (std::size_t i = 0; i < whole && i < rped::hsm::kMaxAuditBatch * 4; ++i) {
      rped::audit::RecordLine line{};
      std::copy_n(buffer.data() + i * rped::audit::kRecordBytes, line.size(), line.begin());
      if (i == 0) {
        auto rec = rped::audit::AuditRecord::parse(std::string_view(line.data(), line.size()));
        if (!rec.ok()) {
          std::fprintf(stderr, "audit_store_driver: %s\n", rec.error().message.c_str());
          return 1;
        }
        batch.first_seq = rec.value().seq;
      }
      batch.records.push_back(line);
    }
    buffer.erase(0, batch.records.size() * rped::audit::kRecordBytes);
    store.value()->submit(std::move(batch),
                          [](std::uint64_t durable) { say("ACK " + std::to_string(durable)); });
  }
  while (store.value()->status().pending_batches != 0) {
    ::usleep(1000);
  }
  return 0;
}
