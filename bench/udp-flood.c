// UDP flood generator for bench/tap.ts and bench/router-e2e.ts: sendmmsg batches of small datagrams to DST:PORT
// until SECONDS pass or MAXCOUNT are sent, open loop, either as fast as it can or paced at RATE_PPS; then prints
// "sent failed elapsed_seconds". Python, iperf3 and ping -f cannot outrun a TAP reader or the kernel; this can.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>

enum { BATCH = 64 };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void sleepUntil(double t) {
  struct timespec ts;
  ts.tv_sec = (time_t)t;
  ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static int openSocket(const char* dst, const char* port) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(atoi(port));
  if (s < 0 || inet_pton(AF_INET, dst, &a.sin_addr) != 1 || connect(s, (struct sockaddr*)&a, sizeof a) < 0) return -1;
  return s;
}

// How many datagrams to send now: all that are due at `rate` (at most a batch), or, unpaced, a whole batch.
// A paced sender waits until a small batch is due (one wake-up per ~50 µs) rather than sending one at a time.
static int due(double rate, double start, long long sent, int minBatch) {
  if (rate <= 0) return BATCH;
  for (;;) {
    double owed = rate * (now() - start) - (double)sent;
    if (owed >= minBatch) return owed > BATCH ? BATCH : (int)owed;
    sleepUntil(start + (sent + minBatch) / rate);
  }
}

int main(int argc, char** argv) {
  if (argc != 6 && argc != 7) {
    fprintf(stderr, "usage: udp-flood DST PORT PAYLOAD_BYTES SECONDS MAXCOUNT [RATE_PPS]\n");
    return 2;
  }
  int payloadLen = atoi(argv[3]);
  double seconds = atof(argv[4]);
  long long max = atoll(argv[5]);
  double rate = argc == 7 ? atof(argv[6]) : 0;
  if (payloadLen < 0 || payloadLen > 1472 || seconds <= 0 || seconds > 60 || max <= 0 || rate < 0 || rate > 1e8) {
    fprintf(stderr, "udp-flood: payload 0..1472, seconds 0..60, count > 0, rate 0 (unpaced)..1e8\n");
    return 2;
  }
  int s = openSocket(argv[1], argv[2]);
  if (s < 0) {
    perror("udp-flood");
    return 1;
  }
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); // the default 50 µs slack would make the pacing lumpy
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
  int minBatch = rate / 20000 < 1 ? 1 : rate / 20000 > BATCH ? BATCH : (int)(rate / 20000);
  double start = now();
  double end = start + seconds;
  long long sent = 0, failed = 0, calls = 0;
  while (sent < max) {
    int want = due(rate, start, sent, minBatch);
    if (max - sent < want) want = (int)(max - sent);
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
    if ((rate > 0 || (++calls & 63) == 0) && now() > end) break;
  }
  printf("%lld %lld %.6f\n", sent, failed, now() - start);
  return 0;
}
