#include "rped/config/atomic_file.h"

#include "concat.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace rped::config {
namespace {

Error write_failure(const std::filesystem::path& target, int error, std::string_view step) {
  return make_error(Errc::internal, concat({"cannot write ", target.string(), ": ",
                                            std::strerror(error), " (", step, ")"}));
}

// Closes the descriptor and removes the temporary file unless committed.
class TemporaryFile final {
 public:
  TemporaryFile(int descriptor, std::string path)
      : descriptor_(descriptor), path_(std::move(path)) {}
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  ~TemporaryFile() {
    if (descriptor_ >= 0) {
      static_cast<void>(::close(descriptor_));
    }
    if (!committed_) {
      static_cast<void>(::unlink(path_.c_str()));
    }
  }

  int descriptor() const noexcept { return descriptor_; }
  const std::string& path() const noexcept { return path_; }

  // close() reports delayed write errors (NFS, quota), so its result counts.
  int close() noexcept {
    const int result = ::close(descriptor_);
    descriptor_ = -1;
    return result;
  }
  void commit() noexcept { committed_ = true; }

 private:
  int descriptor_;
  std::string path_;
  bool committed_ = false;
};

Result<void> write_all(int descriptor, std::string_view contents,
                       const std::filesystem::path& target) {
  while (!contents.empty()) {
    const ssize_t written = ::write(descriptor, contents.data(), contents.size());
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return write_failure(target, errno, "writing the temporary file");
    }
    contents.remove_prefix(static_cast<std::size_t>(written));
  }
  return {};
}

}  // namespace

Result<void> write_file_atomically(const std::filesystem::path& target, std::string_view contents) {
  const std::filesystem::path directory = target.has_parent_path() ? target.parent_path() : ".";
  std::string pattern =
      (directory / concat({".", target.filename().string(), ".tmp.XXXXXX"})).string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  // mkstemp creates the file O_EXCL with mode 0600 (POSIX.1-2008), so the
  // contents are never readable by others, not even briefly.
  const int descriptor = ::mkostemp(name.data(), O_CLOEXEC);
  if (descriptor < 0) {
    return write_failure(target, errno,
                         concat({"creating a temporary file in ", directory.string()}));
  }
  TemporaryFile temporary(descriptor, std::string(name.data()));

  struct stat existing {};
  if (::stat(target.c_str(), &existing) == 0) {
    // Replacing a file keeps its permission bits (and, for root, its owner).
    if (::fchmod(temporary.descriptor(), existing.st_mode & 07777) != 0) {
      return write_failure(target, errno, "copying the old file's mode");
    }
    if (::geteuid() == 0 &&
        ::fchown(temporary.descriptor(), existing.st_uid, existing.st_gid) != 0) {
      return write_failure(target, errno, "copying the old file's owner");
    }
  } else if (::fchmod(temporary.descriptor(), kNewConfigFileMode) != 0) {
    return write_failure(target, errno, "setting mode 0600");
  }

  RPED_TRY(write_all(temporary.descriptor(), contents, target));
  if (::fsync(temporary.descriptor()) != 0) {
    return write_failure(target, errno, "flushing the temporary file");
  }
  if (temporary.close() != 0) {
    return write_failure(target, errno, "closing the temporary file");
  }
  if (::rename(temporary.path().c_str(), target.c_str()) != 0) {
    return write_failure(target, errno, "renaming the temporary file over it");
  }
  temporary.commit();

  // The rename is durable once the directory entry is on disk.
  const int directory_descriptor = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory_descriptor < 0) {
    return write_failure(target, errno, "opening the directory to flush the rename");
  }
  const int synced = ::fsync(directory_descriptor);
  const int sync_error = errno;
  static_cast<void>(::close(directory_descriptor));
  if (synced != 0) {
    return write_failure(target, sync_error, "flushing the directory");
  }
  return {};
}

}  // namespace rped::config
