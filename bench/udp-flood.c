// Open-loop UDP flood for bench/tap.ts: sendmmsg batches of 64 small datagrams to DST:PORT until SECONDS pass
// or MAXCOUNT are sent, then prints "sent failed". Python and ping -f cannot outrun a TAP reader; this can.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: udp-flood DST PORT PAYLOAD_BYTES SECONDS MAXCOUNT\n");
    return 2;
  }
  int payloadLen = atoi(argv[3]);
  double seconds = atof(argv[4]);
  long long max = atoll(argv[5]);
  if (payloadLen < 0 || payloadLen > 1472 || seconds <= 0 || seconds > 60 || max <= 0) {
    fprintf(stderr, "udp-flood: payload 0..1472, seconds 0..60, count > 0\n");
    return 2;
  }
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(atoi(argv[2]));
  if (s < 0 || inet_pton(AF_INET, argv[1], &a.sin_addr) != 1 || connect(s, (struct sockaddr*)&a, sizeof a) < 0) {
    perror("udp-flood");
    return 1;
  }
  enum { BATCH = 64 };
  static char payload[1472];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = payload;
    iov[i].iov_len = payloadLen;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  double end = now() + seconds;
  long long sent = 0, failed = 0, calls = 0;
  while (sent < max) {
    int want = max - sent < BATCH ? (int)(max - sent) : BATCH;
    int n = sendmmsg(s, msgs, want, 0);
    if (n < 0) {
      if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED) {
        perror("sendmmsg");
        return 1;
      }
      failed++;
    } else {
      sent += n;
    }
    if ((++calls & 63) == 0 && now() > end) break;
  }
  printf("%lld %lld\n", sent, failed);
  return 0;
}
