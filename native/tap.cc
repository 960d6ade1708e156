// TAP device access for netbranch: open /dev/net/tun as a TAP, read it from libuv's poll loop in batches
// (never a blocking read, which would park a threadpool thread), write frames without blocking.
#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

// An Error carrying errno, its name and the failing call, so JS can tell "no device" from "no permission".
Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& what) {
  std::string message = std::string(syscall) + " " + what + ": " + strerror(err);
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, uv_err_name(-err)));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

bool CopyName(Napi::Env env, const Napi::Value& v, char out[IFNAMSIZ]) {
  if (!v.IsString()) {
    Napi::TypeError::New(env, "interface name must be a string").ThrowAsJavaScriptException();
    return false;
  }
  std::string name = v.As<Napi::String>().Utf8Value();
  if (name.size() >= IFNAMSIZ) {
    Napi::RangeError::New(env, "interface name longer than 15 bytes: " + name).ThrowAsJavaScriptException();
    return false;
  }
  memset(out, 0, IFNAMSIZ);
  memcpy(out, name.data(), name.size());
  return true;
}

// The virtio_net_hdr_v1 size every vnet TAP here uses (flags, gso_type, hdr_len, gso_size, csum_start,
// csum_offset, num_buffers), little-endian as virtio 1.0 says (TUNSETVNETLE, so the host's order does not matter).
constexpr int kVnetHdrLen = 12;

// Turns on the virtio-net header on a TAP fd: header size 12, virtio 1.0 (little-endian) byte order.
int EnableVnetHdr(int fd, const char** call) {
  int size = kVnetHdrLen;
  *call = "ioctl(TUNSETVNETHDRSZ)";
  if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) return errno;
  int le = 1;
  *call = "ioctl(TUNSETVNETLE)";
  if (ioctl(fd, TUNSETVNETLE, &le) < 0) return errno;
  return 0;
}

// open(name, multiQueue, vnetHdr) -> { fd, name }: creates the TAP, or attaches to an existing one of that name.
// With vnetHdr every frame read or written is preceded by a 12-byte virtio_net_hdr_v1 (IFF_VNET_HDR).
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!CopyName(env, info[0], ifr.ifr_name)) return env.Undefined();
  bool multiQueue = info.Length() > 1 && info[1].ToBoolean().Value();
  bool vnetHdr = info.Length() > 2 && info[2].ToBoolean().Value();

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, errno, "open", "/dev/net/tun");
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (multiQueue ? IFF_MULTI_QUEUE : 0) | (vnetHdr ? IFF_VNET_HDR : 0);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "ioctl(TUNSETIFF)", ifr.ifr_name);
  }
  const char* call = nullptr;
  int err = vnetHdr ? EnableVnetHdr(fd, &call) : 0;
  if (err != 0) {
    close(fd);
    return ThrowErrno(env, err, call, ifr.ifr_name);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("name", Napi::String::New(env, ifr.ifr_name));
  return out;
}

// setOffload(fd, flags): TUNSETOFFLOAD with TUN_F_* bits (what this reader can take: partial checksums, TSO/USO).
Napi::Value SetOffload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  unsigned long flags = info[1].ToNumber().Uint32Value();
  if (ioctl(info[0].ToNumber().Int32Value(), TUNSETOFFLOAD, flags) < 0) {
    return ThrowErrno(env, errno, "ioctl(TUNSETOFFLOAD)", "tap fd");
  }
  return env.Undefined();
}

// Interface ioctls go through any socket of the current network namespace.
Napi::Value IfIoctl(const Napi::CallbackInfo& info, bool setMtu) {
  Napi::Env env = info.Env();
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!CopyName(env, info[0], ifr.ifr_name)) return env.Undefined();
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return ThrowErrno(env, errno, "socket", "AF_INET");
  int rc;
  const char* call;
  if (setMtu) {
    ifr.ifr_mtu = info[1].ToNumber().Int32Value();
    call = "ioctl(SIOCSIFMTU)";
    rc = ioctl(s, SIOCSIFMTU, &ifr);
  } else {
    call = "ioctl(SIOCGIFFLAGS)";
    rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
      if (info[1].ToBoolean().Value()) ifr.ifr_flags |= IFF_UP;
      else ifr.ifr_flags &= ~IFF_UP;
      call = "ioctl(SIOCSIFFLAGS)";
      rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
  }
  int err = errno;
  close(s);
  if (rc < 0) return ThrowErrno(env, err, call, ifr.ifr_name);
  return env.Undefined();
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  close(info[0].ToNumber().Int32Value());
  return info.Env().Undefined();
}

// dupFd(fd) -> a second fd on the same open file (for a TAP: the same queue), close-on-exec.
Napi::Value DupFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = fcntl(info[0].ToNumber().Int32Value(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "fcntl(F_DUPFD_CLOEXEC)", "tap fd");
  return Napi::Number::New(env, fd);
}

// setQueue(fd, attach): TUNSETQUEUE with IFF_ATTACH_QUEUE / IFF_DETACH_QUEUE on one queue of a multi-queue TAP.
// A detached queue gets no frames but keeps the device alive; it works wherever the device now lives (no name lookup).
Napi::Value SetQueue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  bool attach = info[1].ToBoolean().Value();
  ifr.ifr_flags = attach ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
  if (ioctl(info[0].ToNumber().Int32Value(), TUNSETQUEUE, &ifr) < 0) {
    return ThrowErrno(env, errno, "ioctl(TUNSETQUEUE)", attach ? "attach" : "detach");
  }
  return env.Undefined();
}

// ---- queue steering: an eBPF socket filter whose return value is the queue (the kernel takes it % queues) ----

// A hand assembler for the one program below: instructions plus forward jumps patched once their label is placed.
class BpfProgram {
 public:
  void Emit(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    struct bpf_insn i;
    memset(&i, 0, sizeof i);
    i.code = code;
    i.dst_reg = dst;
    i.src_reg = src;
    i.off = off;
    i.imm = imm;
    insns_.push_back(i);
  }
  // A conditional jump on r<reg> against imm to `label` (placed later with Place).
  void JumpTo(uint8_t op, uint8_t reg, int32_t imm, int label) {
    fixups_.push_back({insns_.size(), label});
    Emit(BPF_JMP | op | BPF_K, reg, 0, 0, imm);
  }
  void Place(int label) {
    if (labels_.size() <= size_t(label)) labels_.resize(label + 1, 0);
    labels_[label] = insns_.size();
  }
  std::vector<struct bpf_insn>& Finish() {
    for (auto& f : fixups_) insns_[f.first].off = int16_t(labels_[f.second] - f.first - 1);
    return insns_;
  }

 private:
  std::vector<struct bpf_insn> insns_;
  std::vector<std::pair<size_t, int>> fixups_;
  std::vector<size_t> labels_;
};

enum SteerLabel { kReturnZero, kTransport, kEcho, kOwner, kLowPort, kLabels };

// The port a frame is steered by, into r0: TCP/UDP source (portField 0) or destination (1) port, ICMP echo identifier.
// Anything else (not IPv4, a non-first fragment, other protocols) jumps to kReturnZero. r6 = skb for LD_ABS/LD_IND.
void EmitPortLoad(BpfProgram& p, int portField) {
  p.Emit(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0);             // r6 = ctx
  p.Emit(BPF_LD | BPF_ABS | BPF_H, 0, 0, 0, 12);                // r0 = ethertype
  p.JumpTo(BPF_JNE, 0, 0x0800, kReturnZero);
  p.Emit(BPF_LD | BPF_ABS | BPF_H, 0, 0, 0, 14 + 6);            // r0 = flags + fragment offset
  p.Emit(BPF_ALU64 | BPF_AND | BPF_K, 0, 0, 0, 0x1fff);
  p.JumpTo(BPF_JNE, 0, 0, kReturnZero);                          // a later fragment has no ports
  p.Emit(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, 14 + 9);            // r0 = protocol
  p.Emit(BPF_ALU64 | BPF_MOV | BPF_X, 7, 0, 0, 0);              // r7 = protocol
  p.Emit(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, 14);                // r0 = version/ihl
  p.Emit(BPF_ALU64 | BPF_AND | BPF_K, 0, 0, 0, 0x0f);
  p.Emit(BPF_ALU64 | BPF_LSH | BPF_K, 0, 0, 0, 2);
  p.Emit(BPF_ALU64 | BPF_MOV | BPF_X, 8, 0, 0, 0);              // r8 = IPv4 header length
  p.JumpTo(BPF_JEQ, 7, 6, kTransport);
  p.JumpTo(BPF_JEQ, 7, 17, kTransport);
  p.JumpTo(BPF_JNE, 7, 1, kReturnZero);
  p.Emit(BPF_LD | BPF_IND | BPF_B, 0, 8, 0, 14);                // r0 = ICMP type
  p.JumpTo(BPF_JEQ, 0, 8, kEcho);
  p.JumpTo(BPF_JNE, 0, 0, kReturnZero);
  p.Place(kEcho);
  p.Emit(BPF_LD | BPF_IND | BPF_H, 0, 8, 0, 14 + 4);            // r0 = echo identifier
  p.JumpTo(BPF_JA, 0, 0, kOwner);
  p.Place(kTransport);
  p.Emit(BPF_LD | BPF_IND | BPF_H, 0, 8, 0, 14 + (portField ? 2 : 0));
}

// r0 = portOwner(r0, actors) as actors/router/nat-engine.ts defines it: well-known ports round robin, the rest in
// `actors` equal slices of 1024..65535.
void EmitPortOwner(BpfProgram& p, int actors) {
  p.Place(kOwner);
  p.JumpTo(BPF_JLT, 0, 1024, kLowPort);
  p.Emit(BPF_ALU64 | BPF_SUB | BPF_K, 0, 0, 0, 1024);
  p.Emit(BPF_ALU64 | BPF_MUL | BPF_K, 0, 0, 0, actors);
  p.Emit(BPF_ALU64 | BPF_DIV | BPF_K, 0, 0, 0, 64512);
  p.Emit(BPF_JMP | BPF_JLE | BPF_K, 0, 0, 1, actors - 1);       // at most actors-1 (skip the clamp)
  p.Emit(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, actors - 1);
  p.Emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  p.Place(kLowPort);
  p.Emit(BPF_ALU64 | BPF_MOD | BPF_K, 0, 0, 0, actors);
  p.Emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

// setSteering(fd, portField, actors): loads the program and attaches it with TUNSETSTEERINGEBPF (the tun keeps a
// reference, so the program fd is closed here). actors <= 1 steers everything to queue 0.
Napi::Value SetSteering(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].ToNumber().Int32Value();
  int portField = info[1].ToNumber().Int32Value();
  int actors = info[2].ToNumber().Int32Value();
  BpfProgram p;
  if (actors > 1) {
    EmitPortLoad(p, portField);
    EmitPortOwner(p, actors);
  }
  p.Place(kReturnZero);
  p.Emit(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0);
  p.Emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  std::vector<struct bpf_insn>& insns = p.Finish();
  char log[4096] = {0};
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  attr.insns = reinterpret_cast<uint64_t>(insns.data());
  attr.insn_cnt = uint32_t(insns.size());
  attr.license = reinterpret_cast<uint64_t>("GPL");
  attr.log_buf = reinterpret_cast<uint64_t>(log);
  attr.log_size = sizeof log;
  attr.log_level = 1;
  int prog = int(syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr));
  if (prog < 0) return ThrowErrno(env, errno, "bpf(BPF_PROG_LOAD)", std::string("steering program ") + log);
  int rc = ioctl(fd, TUNSETSTEERINGEBPF, &prog);
  int err = errno;
  close(prog);
  if (rc < 0) return ThrowErrno(env, err, "ioctl(TUNSETSTEERINGEBPF)", "tap fd");
  return env.Undefined();
}

// clearSteering(fd): back to the kernel's own flow hashing.
Napi::Value ClearSteering(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int none = -1;
  if (ioctl(info[0].ToNumber().Int32Value(), TUNSETSTEERINGEBPF, &none) < 0) {
    return ThrowErrno(env, errno, "ioctl(TUNSETSTEERINGEBPF)", "tap fd");
  }
  return env.Undefined();
}

Napi::Value SetUp(const Napi::CallbackInfo& info) { return IfIoctl(info, false); }
Napi::Value SetMtu(const Napi::CallbackInfo& info) { return IfIoctl(info, true); }

// What the uv handle needs; it outlives the JS object when the handle is closing.
struct PollState {
  uv_poll_t handle;
  int fd;
};

// new TapPoller(fd, buffer, meta, onBatch(count), onError(errno), maxBatch, maxFrame)
// On each readable wake-up: read until EAGAIN into `buffer`, writing (offset, length) pairs into `meta`,
// and call onBatch(count) per filled batch. The poller owns the fd from then on.
class TapPoller : public Napi::ObjectWrap<TapPoller> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "TapPoller",
                       {InstanceMethod<&TapPoller::Start>("start"), InstanceMethod<&TapPoller::Stop>("stop"),
                        InstanceMethod<&TapPoller::Write>("write"), InstanceMethod<&TapPoller::Close>("close"),
                        InstanceMethod<&TapPoller::SetRef>("setRef")});
  }

  explicit TapPoller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TapPoller>(info), env_(info.Env()) {
    Napi::Env env = info.Env();
    if (info.Length() < 7 || !info[0].IsNumber() || !info[1].IsArrayBuffer() || !info[2].IsTypedArray() ||
        !info[3].IsFunction() || !info[4].IsFunction()) {
      Napi::TypeError::New(env, "TapPoller(fd, ArrayBuffer, Uint32Array, onBatch, onError, maxBatch, maxFrame)")
          .ThrowAsJavaScriptException();
      return;
    }
    int fd = info[0].As<Napi::Number>().Int32Value();
    Napi::ArrayBuffer buf = info[1].As<Napi::ArrayBuffer>();
    Napi::TypedArray meta = info[2].As<Napi::TypedArray>();
    if (meta.TypedArrayType() != napi_uint32_array) {
      Napi::TypeError::New(env, "meta must be a Uint32Array").ThrowAsJavaScriptException();
      return;
    }
    maxBatch_ = info[5].ToNumber().Uint32Value();
    maxFrame_ = info[6].ToNumber().Uint32Value();
    spinNs_ = info.Length() > 7 && info[7].IsNumber() ? int64_t(info[7].As<Napi::Number>().DoubleValue() * 1000) : 0;
    if (maxBatch_ == 0 || meta.ElementLength() < 2 * size_t(maxBatch_) || buf.ByteLength() < maxFrame_) {
      Napi::RangeError::New(env, "meta holds fewer than 2*maxBatch entries or buffer is smaller than maxFrame")
          .ThrowAsJavaScriptException();
      return;
    }
    bufRef_ = Napi::Persistent(buf);
    metaRef_ = Napi::Persistent(meta.As<Napi::Object>());
    buf_ = static_cast<uint8_t*>(buf.Data());
    bufLen_ = buf.ByteLength();
    meta_ = reinterpret_cast<uint32_t*>(static_cast<uint8_t*>(meta.ArrayBuffer().Data()) + meta.ByteOffset());
    onBatch_ = Napi::Persistent(info[3].As<Napi::Function>());
    onError_ = Napi::Persistent(info[4].As<Napi::Function>());

    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
      Napi::Error::New(env, "no libuv loop").ThrowAsJavaScriptException();
      return;
    }
    state_ = new PollState();
    state_->fd = fd;
    int rc = uv_poll_init(loop, &state_->handle, fd);
    if (rc < 0) {
      delete state_;
      state_ = nullptr;
      ThrowErrno(env, -rc, "uv_poll_init", "tap fd");
      return;
    }
    state_->handle.data = this;
    napi_add_env_cleanup_hook(env, CleanupHook, this);
    hookAdded_ = true;
  }

  ~TapPoller() override { CloseFd(); }

 private:
  static void CleanupHook(void* arg) {
    TapPoller* self = static_cast<TapPoller*>(arg);
    self->hookAdded_ = false;
    self->CloseFd();
  }

  // Stop polling, close the fd now (uv_poll_stop already took it out of epoll), free the handle when libuv is done.
  void CloseFd() {
    if (hookAdded_) {
      napi_remove_env_cleanup_hook(env_, CleanupHook, this);
      hookAdded_ = false;
    }
    if (state_ == nullptr) return;
    PollState* s = state_;
    state_ = nullptr;
    uv_poll_stop(&s->handle);
    close(s->fd);
    s->handle.data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&s->handle),
             [](uv_handle_t* h) { delete reinterpret_cast<PollState*>(h); });
    if (polling_) {
      polling_ = false;
      Unref();
    }
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    if (state_ == nullptr) return ThrowErrno(info.Env(), EBADF, "uv_poll_start", "closed tap");
    if (!polling_) {
      int rc = uv_poll_start(&state_->handle, UV_READABLE, OnPoll);
      if (rc < 0) return ThrowErrno(info.Env(), -rc, "uv_poll_start", "tap fd");
      polling_ = true;
      Ref();  // the uv handle points at this object: keep it alive while polling
    }
    return info.Env().Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopPolling();
    return info.Env().Undefined();
  }

  void StopPolling() {
    if (!polling_) return;
    polling_ = false;
    if (state_ != nullptr) uv_poll_stop(&state_->handle);
    uint32_t count;
    napi_reference_unref(env_, static_cast<napi_ref>(*this), &count); // raw: may run while the env shuts down
  }

  // write(frame, header = 0) -> bytes written, or -errno (EAGAIN/ENOBUFS when the device queue is full).
  // header: 0 the frame as is; 12 the 12 bytes before it in its buffer too; -1 a zero virtio-net header first.
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (state_ == nullptr) return Napi::Number::New(env, -EBADF);
    if (!info[0].IsTypedArray()) {
      Napi::TypeError::New(env, "write(Uint8Array)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::TypedArray a = info[0].As<Napi::TypedArray>();
    void* data = nullptr;
    size_t len = 0;
    napi_typedarray_type type;
    napi_value ab;
    size_t offset = 0;
    if (napi_get_typedarray_info(env, a, &type, &len, &data, &ab, &offset) != napi_ok) return env.Undefined();
    int header = info.Length() > 1 ? info[1].ToNumber().Int32Value() : kWriteAsIs;
    ssize_t n = WriteFrame(static_cast<uint8_t*>(data), len, offset, header);
    return Napi::Number::New(env, n >= 0 ? double(n) : -double(errno));
  }

  // How write() treats the bytes before a frame on a vnet TAP: none, its own header just before it, or a zero header.
  static constexpr int kWriteAsIs = 0;
  static constexpr int kWriteZeroHeader = -1;

  // One write (no copy): the frame as is, the frame with the `header` bytes before it in its buffer, or a zero
  // virtio-net header and the frame by writev. Returns what write/writev returned (errno set on -1).
  ssize_t WriteFrame(uint8_t* data, size_t len, size_t offset, int header) {
    static const uint8_t kZeroHeader[kVnetHdrLen] = {0};
    struct iovec iov[2];
    int count = 1;
    iov[0].iov_base = data;
    iov[0].iov_len = len;
    if (header > 0) {
      if (offset < size_t(header)) {
        errno = EINVAL;
        return -1;
      }
      iov[0].iov_base = data - header;
      iov[0].iov_len = len + header;
    } else if (header == kWriteZeroHeader) {
      iov[0].iov_base = const_cast<uint8_t*>(kZeroHeader);
      iov[0].iov_len = kVnetHdrLen;
      iov[1].iov_base = data;
      iov[1].iov_len = len;
      count = 2;
    }
    ssize_t n;
    do {
      n = writev(state_->fd, iov, count);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseFd();
    return info.Env().Undefined();
  }

  // setRef(false) lets the process exit while the tap is open and idle.
  Napi::Value SetRef(const Napi::CallbackInfo& info) {
    if (state_ != nullptr) {
      if (info[0].ToBoolean().Value()) uv_ref(reinterpret_cast<uv_handle_t*>(&state_->handle));
      else uv_unref(reinterpret_cast<uv_handle_t*>(&state_->handle));
    }
    return info.Env().Undefined();
  }

  static int64_t NowNs() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  }

  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    TapPoller* self = static_cast<TapPoller*>(handle->data);
    if (self == nullptr) return;
    // Raw N-API from here on: while a worker is being terminated JS cannot run, and node-addon-api's
    // error paths would turn the refused calls into a fatal error. A refused call just stops polling.
    napi_handle_scope scope;
    if (napi_open_handle_scope(self->env_, &scope) != napi_ok) {
      self->StopPolling();
      return;
    }
    self->Poll(status);
    napi_close_handle_scope(self->env_, scope);
  }

  void Poll(int status) {
    TapPoller* self = this;
    if (status < 0) {
      self->StopPolling();
      self->ReportError(-status);
      return;
    }
    if (self->spinNs_ <= 0) {
      self->ReadRounds(4);
      return;
    }
    // Hot link: after frames, keep reading (non-blocking) for up to spinNs_ since the last one, so the next
    // frame of a request/response exchange is caught without a sleep and an epoll wake-up. Bounded per wake-up
    // (2 ms) so timers and messages still run under a flood; an idle link never spins.
    int64_t start = NowNs();
    int64_t last = start;
    for (;;) {
      int r = self->ReadRounds(1);
      if (r < 0) return;
      int64_t now = NowNs();
      if (r > 0) last = now;
      if (now - last >= self->spinNs_ || now - start >= 2000000) return;
    }
  }

  // Reads up to `rounds` batches; returns frames read, 0 on EAGAIN with nothing read, -1 when it must stop.
  int ReadRounds(int rounds) {
    TapPoller* self = this;
    int total = 0;
    for (int round = 0; round < rounds; round++) {
      if (self->state_ == nullptr || !self->polling_) return -1;
      int fd = self->state_->fd;
      size_t off = 0;
      uint32_t count = 0;
      int err = 0;
      while (count < self->maxBatch_ && self->bufLen_ - off >= self->maxFrame_) {
        ssize_t n = read(fd, self->buf_ + off, self->maxFrame_);
        if (n < 0) {
          if (errno == EINTR) continue;
          err = errno;
          break;
        }
        self->meta_[2 * count] = uint32_t(off);
        self->meta_[2 * count + 1] = uint32_t(n);
        count++;
        off += size_t(n);
      }
      total += int(count);
      if (count > 0 && !self->Deliver(count)) return -1;
      if (err == EAGAIN || err == EWOULDBLOCK) return total;
      if (err != 0) {
        // EBADFD/EFAULT/EIO: the device went away (ip link del, netns deleted); stop rather than spin.
        self->StopPolling();
        self->ReportError(err);
        return -1;
      }
    }
    return total;
  }

  bool Deliver(uint32_t count) {
    napi_value argv[1];
    if (napi_create_uint32(env_, count, &argv[0]) != napi_ok) return Refused();
    return Call(onBatch_, 1, argv);
  }

  void ReportError(int err) {
    napi_value argv[2];
    if (napi_create_int32(env_, err, &argv[0]) != napi_ok) { Refused(); return; }
    if (napi_create_string_utf8(env_, uv_err_name(-err), NAPI_AUTO_LENGTH, &argv[1]) != napi_ok) { Refused(); return; }
    Call(onError_, 2, argv);
  }

  // Calls a JS handler from the poll loop. An exception it throws has no JS caller, so it becomes an
  // uncaught exception; a call the environment refuses (worker terminating) stops polling quietly.
  bool Call(Napi::FunctionReference& ref, size_t argc, napi_value* argv) {
    napi_value fn, recv, result;
    if (napi_get_reference_value(env_, static_cast<napi_ref>(ref), &fn) != napi_ok || fn == nullptr) return Refused();
    if (napi_get_reference_value(env_, static_cast<napi_ref>(*this), &recv) != napi_ok || recv == nullptr) return Refused();
    napi_status st = napi_make_callback(env_, nullptr, recv, fn, argc, argv, &result);
    if (st == napi_ok) return true;
    bool pending = false;
    if (napi_is_exception_pending(env_, &pending) == napi_ok && pending) {
      napi_value exc;
      if (napi_get_and_clear_last_exception(env_, &exc) == napi_ok && exc != nullptr) napi_fatal_exception(env_, exc);
    }
    return Refused();
  }

  bool Refused() {
    StopPolling();
    return false;
  }

  napi_env env_;
  PollState* state_ = nullptr;
  bool polling_ = false;
  bool hookAdded_ = false;
  uint8_t* buf_ = nullptr;
  size_t bufLen_ = 0;
  uint32_t* meta_ = nullptr;
  uint32_t maxBatch_ = 0;
  uint32_t maxFrame_ = 0;
  int64_t spinNs_ = 0;
  Napi::Reference<Napi::ArrayBuffer> bufRef_;
  Napi::ObjectReference metaRef_;
  Napi::FunctionReference onBatch_;
  Napi::FunctionReference onError_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open, "open"));
  exports.Set("setUp", Napi::Function::New(env, SetUp, "setUp"));
  exports.Set("setMtu", Napi::Function::New(env, SetMtu, "setMtu"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("dupFd", Napi::Function::New(env, DupFd, "dupFd"));
  exports.Set("setQueue", Napi::Function::New(env, SetQueue, "setQueue"));
  exports.Set("setOffload", Napi::Function::New(env, SetOffload, "setOffload"));
  exports.Set("setSteering", Napi::Function::New(env, SetSteering, "setSteering"));
  exports.Set("clearSteering", Napi::Function::New(env, ClearSteering, "clearSteering"));
  exports.Set("TapPoller", TapPoller::Init(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(tap, Init)
