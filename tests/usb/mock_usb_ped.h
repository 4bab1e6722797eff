// An emulated USB PED for the libusb driver tests: umockdev's testbed holds
// its sysfs entry (idVendor/idProduct/serial/busnum/devnum and the binary
// "descriptors" attribute: device, configuration, vendor-class interface, bulk
// OUT 0x01 and bulk IN 0x81), and a umockdev ioctl handler answers the usbfs
// ioctls libusb issues on /dev/bus/usb/BBB/DDD. Behind the endpoints sits
// DeviceLogic: the real PED firmware (rped_pedsim_core) or a small stand-in.
//
// usbfs as emulated here (linux/usbdevice_fs.h):
//   GET_CAPABILITIES   BULK_CONTINUATION | NO_PACKET_SIZE_LIM | REAP_AFTER_DISCONNECT | ZERO_PACKET
//   CLAIMINTERFACE     EBUSY while another open file holds the interface; RELEASEINTERFACE frees it
//   SETINTERFACE / CLEAR_HALT / RESETEP / RESET   accepted
//   GETDRIVER          a bound kernel driver ("rped-test-hid") when configured, else ENODATA
//   IOCTL DISCONNECT / CONNECT   unbinds / rebinds that driver; DISCONNECT_CLAIM accepted
//   SUBMITURB control  GET_DESCRIPTOR(STRING) answers language 0x0409, manufacturer, product,
//   serial SUBMITURB bulk OUT the bytes go to the device logic, reassembled into frames; reapable
//   at once SUBMITURB bulk IN  pends until the device has bytes to send, so a read waits or times
//   out DISCARDURB         a pending IN URB is reaped with -ENOENT (libusb's timeout and cancel
//   path) REAPURB(NDELAY)    the next completed URB, else EAGAIN (ENODEV once unplugged)
// Unplugging completes every pending URB with -ESHUTDOWN (libusb: NO_DEVICE),
// then sends the "remove" uevent and deletes the sysfs device, like a kernel.
//
// umockdev 0.17 runs ioctl handlers on its own worker thread; libusb polls the
// emulated node as always-ready, so its event thread reaps with NDELAY in a loop.
//
// Thread-safety: UsbTestbed is driven by the test thread; MockUsbPed's
// counters may be read from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "rped/bytes.h"

typedef struct _UMockdevTestbed UMockdevTestbed;
typedef struct _UMockdevIoctlBase UMockdevIoctlBase;
typedef struct _UMockdevIoctlClient UMockdevIoctlClient;
typedef struct _UMockdevIoctlData UMockdevIoctlData;

namespace rped::usbtest {

// What sits behind the USB endpoints: whole frames in, whole frames out.
class DeviceLogic {
 public:
  using FrameSink = std::function<void(Bytes frame)>;
  virtual ~DeviceLogic() = default;
  virtual void attach_host(FrameSink sink) = 0;
  virtual void detach_host() = 0;
  virtual void on_host_frame(ByteView frame) = 0;
};

struct MockUsbPedConfig final {
  std::uint16_t vendor_id = 0x1209;
  std::uint16_t product_id = 0x0001;
  std::string serial = "PED0000001";
  std::uint8_t bus = 1;
  std::uint8_t address = 2;
  std::string sysfs_name = "1-1";  // /sys/devices/usb1/<sysfs_name>
  std::uint16_t max_packet = 64;   // full speed
  bool kernel_driver_bound = false;
  // false: one IN transfer carries at most one frame (a short packet ends it).
  // true: IN transfers are filled from the byte stream across frame boundaries.
  bool stream_in = false;
};

struct MockUsbStats final {
  int out_urbs = 0;
  std::vector<std::chrono::steady_clock::time_point> out_urb_times;
  std::vector<int> out_urb_lengths;
  int in_urbs = 0;
  int discards = 0;
  int control_urbs = 0;
  int claims = 0;
  int releases = 0;
  bool driver_bound = false;
  bool driver_detached = false;
  bool driver_reattached = false;
};

class UsbTestbed;

class MockUsbPed final {
 public:
  MockUsbPed(UsbTestbed& testbed, MockUsbPedConfig config, DeviceLogic* logic);
  ~MockUsbPed();
  MockUsbPed(const MockUsbPed&) = delete;
  MockUsbPed& operator=(const MockUsbPed&) = delete;

  // Queues device-to-host bytes directly, bypassing the device logic.
  void inject(Bytes bytes);
  MockUsbStats stats() const;
  const MockUsbPedConfig& config() const { return config_; }
  std::string devnode() const;
  std::string syspath() const;
  bool unplugged() const;

 private:
  friend class UsbTestbed;
  struct Urb final {
    const UMockdevIoctlClient* owner =
        nullptr;                          // the open file that submitted it; only it may reap it
    UMockdevIoctlData* urb = nullptr;     // referenced
    UMockdevIoctlData* buffer = nullptr;  // referenced
  };

  static int on_ioctl(UMockdevIoctlBase* handler, UMockdevIoctlClient* client, void* self);
  bool handle(UMockdevIoctlClient* client);
  void submit(UMockdevIoctlClient* client);
  void reap(UMockdevIoctlClient* client);
  void fill_pending_in_locked();
  void complete_control_locked(Urb& urb);
  void mark_unplugged();
  static void release(Urb& urb);

  UsbTestbed& testbed_;
  const MockUsbPedConfig config_;
  DeviceLogic* const logic_;
  UMockdevIoctlBase* handler_ = nullptr;

  mutable std::mutex mutex_;
  bool unplugged_ = false;
  const UMockdevIoctlClient* claimant_ = nullptr;  // the open file holding interface 0
  MockUsbStats stats_;
  std::deque<Urb> pending_in_;
  std::deque<Urb> reapable_;
  Bytes rx_;                   // host-to-device bytes not yet a whole frame
  std::deque<Bytes> tx_;       // device-to-host frames (or chunks) not yet sent
  std::size_t tx_offset_ = 0;  // into tx_.front()
};

class UsbTestbed final {
 public:
  UsbTestbed();
  ~UsbTestbed();
  UsbTestbed(const UsbTestbed&) = delete;
  UsbTestbed& operator=(const UsbTestbed&) = delete;

  // Plugs a PED in: ioctl handler first, then the sysfs device and its "add" uevent.
  MockUsbPed& plug(MockUsbPedConfig config, DeviceLogic* logic);
  // Pulls it out: pending URBs fail with -ESHUTDOWN, "remove" uevent, sysfs entry deleted.
  void unplug(MockUsbPed& ped);

  UMockdevTestbed* native() const { return testbed_; }

 private:
  UMockdevTestbed* testbed_ = nullptr;
  std::vector<std::unique_ptr<MockUsbPed>> peds_;
};

// True when libumockdev-preload is in LD_PRELOAD (the tests cannot work without it).
bool running_under_umockdev();

}  // namespace rped::usbtest
