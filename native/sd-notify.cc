// sd_notify for netbranch: one datagram to the service manager's AF_UNIX socket ($NOTIFY_SOCKET), which
// Node's own modules cannot send (net and dgram have no AF_UNIX datagrams). A module of its own, beside
// the TAP addon, so the TAP code is not touched and either can be missing without the other.
#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

namespace {

Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& what) {
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + " " + what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, uv_err_name(-err)));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// notify(socket, message): sends `message` as one datagram to `socket`, a path or '@name' (an abstract
// socket, as systemd writes it). Never blocks: a receiver whose queue is full is EAGAIN, thrown like any errno.
Napi::Value Notify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    Napi::TypeError::New(env, "notify(socket: string, message: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string message = info[1].As<Napi::String>().Utf8Value();
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() > sizeof addr.sun_path) {
    return ThrowErrno(env, EINVAL, "sendto", "NOTIFY_SOCKET '" + path + "'");
  }
  memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract: no trailing NUL counts in its length
  socklen_t len = socklen_t(offsetof(struct sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1));
  if (path[0] != '@' && path.size() == sizeof addr.sun_path) len--;  // a full-length path has no NUL
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "socket", "AF_UNIX");
  ssize_t n;
  do {
    n = sendto(fd, message.data(), message.size(), MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<struct sockaddr*>(&addr), len);
  } while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0) return ThrowErrno(env, err, "sendto", path);
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("notify", Napi::Function::New(env, Notify, "notify"));
  return exports;
}

}  // namespace

NODE_API_MODULE(sd_notify, Init)
