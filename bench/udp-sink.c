// UDP receiver for bench/router-e2e.ts: binds ADDR:PORT, prints "ready", counts datagrams with recvmmsg until
// SECONDS pass or IDLE_MS go by without one (after the first), then prints "received dropped span_seconds":
// dropped is what its own socket overflowed (SO_RXQ_OVFL), so loss at the receiver is told apart from the path's.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

enum { BATCH = 256, SLOT = 2048 };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int openSocket(const char* addr, const char* port) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  int one = 1, buf = 32 << 20;
  struct timeval poll = {0, 20000}; // wake every 20 ms to check the deadline and the idle time
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(atoi(port));
  if (s < 0 || inet_pton(AF_INET, addr, &a.sin_addr) != 1) return -1;
  // A receive buffer far above the default, so a burst the path carried is not lost here (root: FORCE).
  if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) < 0) setsockopt(s, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  setsockopt(s, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &poll, sizeof poll);
  if (bind(s, (struct sockaddr*)&a, sizeof a) < 0) return -1;
  return s;
}

// The socket's cumulative overflow count, carried by any datagram received after a drop.
static uint32_t overflowIn(struct msghdr* h) {
  uint32_t d = 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) memcpy(&d, CMSG_DATA(c), sizeof d);
  return d;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: udp-sink ADDR PORT SECONDS IDLE_MS\n");
    return 2;
  }
  double seconds = atof(argv[3]);
  double idle = atof(argv[4]) / 1000;
  if (seconds <= 0 || seconds > 120 || idle <= 0) {
    fprintf(stderr, "udp-sink: seconds 0..120, idle > 0\n");
    return 2;
  }
  int s = openSocket(argv[1], argv[2]);
  if (s < 0) {
    perror("udp-sink");
    return 1;
  }
  static char data[BATCH][SLOT];
  static char control[BATCH][64];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = data[i];
    iov[i].iov_len = SLOT;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  printf("ready\n");
  fflush(stdout);
  double end = now() + seconds, first = 0, last = 0;
  long long received = 0;
  uint32_t dropped = 0;
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      msgs[i].msg_hdr.msg_control = control[i];
      msgs[i].msg_hdr.msg_controllen = sizeof control[i];
    }
    int n = recvmmsg(s, msgs, BATCH, MSG_WAITFORONE, NULL);
    double t = now();
    if (n > 0) {
      if (received == 0) first = t;
      received += n;
      last = t;
      uint32_t d = overflowIn(&msgs[n - 1].msg_hdr);
      if (d > dropped) dropped = d;
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      perror("recvmmsg");
      return 1;
    }
    if (t > end || (received > 0 && t - last > idle)) break;
  }
  printf("%lld %u %.6f\n", received, dropped, last - first);
  return 0;
}
