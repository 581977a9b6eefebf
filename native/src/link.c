/*
 * heraldlb_link: one AF_PACKET socket per interface for the speaker's ARP and NDP frames.
 *
 * Why it exists: Node has no link-layer sockets, and the packages that offer them either
 * open only AF_INET/AF_INET6 or bind libpcap through nan (see docs/link-layer.md).
 *
 * Shape: N-API only (NAPI_VERSION 8), so one .node file loads unchanged on Node 20 and 24.
 * A reader thread of our own polls the socket and an eventfd (the close signal) and hands
 * frames to JS through a thread-safe function; nothing here touches libuv.
 *
 * Memory: everything is allocated once in open() (a ring of RING_SLOTS frames of FRAME_MAX
 * bytes, the sendmmsg vectors) and freed once both the JS handle and the thread-safe
 * function are gone. The reader thread never allocates. When JS falls behind and the ring
 * is full, the thread stops reading until JS frees slots, so frames wait in the socket's
 * 2 MiB kernel queue; when that overflows too, the kernel drops and counts (stats()).
 *
 * JS API (wrapped by speaker/link.ts, which is the only caller):
 *   open(ifname, onFrames(frames: Buffer[])) -> { handle, ifindex }
 *   send(handle, frame) ; sendBatch(handle, frames[]) -> count ; stats(handle) -> {...}
 *   setAnswers(handle, mac, ourMacs, v4, v6)   the fast path's table (below); full replace
 *   deliverAnswered(handle, yes)   whether answered frames still reach JS (default yes)
 *   trimMemory() -> boolean   glibc's malloc_trim(0), process-wide (speaker/malloc-trim.ts)
 *   craftReply(frame, mac, ourMacs, v4, v6) -> Buffer | null   test-only: answer_frame()
 *   close(handle)
 *
 * Fast path (docs/link-layer.md): the reader thread answers ARP requests and Neighbor
 * Solicitations for the IPs of the last setAnswers() itself (answer.c), because a reply
 * that waits for a busy event loop is late by that loop's stall. Each frame still reaches
 * JS, with a parallel flag array saying which ones were answered, so JS counts them and
 * does not send a second reply -- unless deliverAnswered(handle, false), when answered
 * frames are only counted (stats().answered, .answeredNs). The reader thread asks for a
 * short scheduler slice (shorten_slice) so it runs soon after a frame wakes it.
 * Errors from system calls carry `errno` (number) and `syscall`; link.ts names the code.
 */
#define _GNU_SOURCE
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <malloc.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "answer.h"

#define FRAME_MAX 1518  /* 1514-byte Ethernet frame without FCS, plus one 802.1Q tag */
#define RING_SLOTS 512  /* power of two; ~760 KiB; many seconds of ARP even on a busy LAN */
#define DRAIN_MAX 64    /* frames read per wakeup before JS is told, so JS sees batches */
#define BATCH_MAX 64    /* frames per sendmmsg call */
#define RCVBUF (2 << 20) /* kernel-side queue while our thread is not scheduled (busy hosts) */
#define SLICE_NS 100000 /* the reader's EEVDF slice request: 0.1 ms, the kernel's minimum */

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23 /* Linux 4.20; older kernels: filtered by pkttype below */
#endif

/* `tcpdump -dd 'arp or (icmp6 and (ip6[40] == 135 or ip6[40] == 136))'` on EN10MB:
 * ARP, or IPv6 whose next header is ICMPv6 (58) and whose ICMPv6 type is NS (135) or
 * NA (136). It reads the type at a fixed offset, so NDP behind extension headers is missed
 * (hosts send NS/NA without them). Filtering in the kernel keeps every other frame on the
 * interface out of this process. */
static struct sock_filter ARP_NDP_FILTER[] = {
    {0x28, 0, 0, 0x0000000c}, {0x15, 9, 0, 0x00000806}, {0x15, 0, 9, 0x000086dd},
    {0x30, 0, 0, 0x00000014}, {0x15, 3, 0, 0x0000003a}, {0x15, 0, 6, 0x0000002c},
    {0x30, 0, 0, 0x00000036}, {0x15, 0, 4, 0x0000003a}, {0x30, 0, 0, 0x00000036},
    {0x15, 1, 0, 0x00000087}, {0x15, 0, 1, 0x00000088}, {0x6, 0, 0, 0x00040000},
    {0x6, 0, 0, 0x00000000},
};

/* Distinguishes our externals from anyone else's (napi_type_tag_object). */
static const napi_type_tag LINK_TAG = {0x6865726c646c626cULL, 0x6c696e6b00000001ULL};

typedef struct {
  uint32_t len;
  uint8_t answered; /* the reader thread sent the reply already */
  uint8_t data[FRAME_MAX];
} slot_t;

typedef struct {
  int fd, wake_fd, space_fd, ifindex; /* space_fd: JS freed ring slots */
  pthread_t thread;
  napi_threadsafe_function tsfn;
  napi_async_context async;
  napi_env env;
  int closed, in_cleanup_hook, refs; /* main thread only; refs: external + tsfn */
  uint64_t kernel_drops, sent;       /* main thread only */
  /* Single-producer (reader thread) single-consumer (JS thread) ring. */
  _Atomic uint64_t head, tail;
  _Atomic int pending; /* a JS delivery is queued and has not started draining */
  _Atomic int waiting; /* the reader thread waits for space_fd: the ring was full */
  _Atomic uint64_t received, dropped, answered;
  _Atomic int short_slice; /* shorten_slice() took effect in the reader thread */
  _Atomic uint64_t answered_ns;  /* of `answered`, the Neighbor Advertisements */
  _Atomic int deliver_answered;  /* answered frames still reach JS (default yes) */
  /* Held by the reader around lookup + send, and by setAnswers around the swap: once
   * setAnswers returns, no reply from the old table can still leave. */
  pthread_mutex_t answers_mu;
  answers_t answers;
  uint8_t reply[REPLY_MAX];
  slot_t spill; /* a frame read while the ring is full, answered but not kept for JS */
  slot_t ring[RING_SLOTS];
  struct mmsghdr msgs[BATCH_MAX];
  struct iovec iov[BATCH_MAX];
} link_t;

/* ---- errors ---------------------------------------------------------------------- */

static void throw_errno(napi_env env, const char *syscall, int err) {
  char text[160];
  snprintf(text, sizeof text, "%s: %s", syscall, strerror(err));
  napi_value msg, error, num, sc;
  if (napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg) != napi_ok) return;
  if (napi_create_error(env, NULL, msg, &error) != napi_ok) return;
  napi_create_int32(env, err, &num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, error, "errno", num);
  napi_set_named_property(env, error, "syscall", sc);
  napi_throw(env, error);
}

/* Evaluates a napi call; on failure throws (unless something is pending) and returns. */
#define NAPI(call, ret)                                                      \
  do {                                                                       \
    if ((call) != napi_ok) {                                                 \
      bool pending_ = false;                                                 \
      napi_is_exception_pending(env, &pending_);                             \
      if (!pending_) napi_throw_error(env, "ERR_HERALDLB_LINK", #call);      \
      return ret;                                                            \
    }                                                                        \
  } while (0)

/* ---- reader thread --------------------------------------------------------------- */

/* sched_setattr(2)'s argument; glibc has no wrapper before 2.41. */
struct hlb_sched_attr {
  uint32_t size, sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime, sched_deadline, sched_period;
};

/* Asks the scheduler (EEVDF, Linux >= 6.12) for a short slice for this thread. A fair
 * task's slice sets its virtual deadline, so a thread that wakes with a 0.1 ms slice
 * runs before busy threads with the default ~3 ms one instead of waiting out their
 * slices: on two busy cores that wait was the reply latency's tail. It needs no
 * capability (unlike SCHED_FIFO or a lower nice, which need CAP_SYS_NICE), keeps the
 * policy and nice value as they are, and older kernels accept and ignore it. Returns 1
 * when the kernel reports the slice back. */
static int shorten_slice(void) {
  struct hlb_sched_attr a;
  memset(&a, 0, sizeof a);
  if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) != 0) return 0;
  if (a.sched_policy != 0 /* SCHED_OTHER */ && a.sched_policy != 3 /* SCHED_BATCH */) return 0;
  a.size = sizeof a;
  a.sched_flags = 0;
  a.sched_runtime = SLICE_NS;
  if (syscall(SYS_sched_setattr, 0, &a, 0) != 0) return 0;
  memset(&a, 0, sizeof a);
  return syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) == 0 && a.sched_runtime == SLICE_NS;
}

static int answering(link_t *l) {
  pthread_mutex_lock(&l->answers_mu);
  int yes = l->answers.n_v4 + l->answers.n_v6 > 0;
  pthread_mutex_unlock(&l->answers_mu);
  return yes;
}

/* Reads up to DRAIN_MAX frames into the ring; returns how many it queued for JS, or -1
 * when the ring is full (the rest stays in the kernel's queue). With a fast-path table a
 * full ring does not stop reading: a stalled event loop must not delay our replies, so
 * frames are still answered and only their copy for JS is dropped (counted). */
static int drain_socket(link_t *l) {
  int queued = 0;
  for (int i = 0; i < DRAIN_MAX; i++) {
    uint64_t head = atomic_load_explicit(&l->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&l->tail, memory_order_acquire);
    int full = head - tail >= RING_SLOTS;
    if (full && !answering(l)) return queued > 0 ? queued : -1;
    slot_t *s = full ? &l->spill : &l->ring[head & (RING_SLOTS - 1)];
    struct sockaddr_ll from;
    socklen_t fromlen = sizeof from;
    /* MSG_TRUNC makes a packet socket return the frame's real length. */
    ssize_t n = recvfrom(l->fd, s->data, FRAME_MAX, MSG_DONTWAIT | MSG_TRUNC,
                         (struct sockaddr *)&from, &fromlen);
    if (n < 0) break; /* EAGAIN: drained; ENETDOWN etc.: reported once, poll again */
    if (from.sll_pkttype == PACKET_OUTGOING) continue; /* our own, on old kernels */
    if (n > FRAME_MAX) {
      atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
      continue;
    }
    s->len = (uint32_t)n;
    s->answered = 0;
    pthread_mutex_lock(&l->answers_mu);
    size_t rn = answer_frame(&l->answers, s->data, (size_t)n, l->reply);
    /* A failed send (full device queue) leaves the frame unanswered, so JS retries it. */
    if (rn > 0 && send(l->fd, l->reply, rn, MSG_DONTWAIT) == (ssize_t)rn) s->answered = 1;
    pthread_mutex_unlock(&l->answers_mu);
    if (s->answered) {
      atomic_fetch_add_explicit(&l->answered, 1, memory_order_relaxed);
      if (l->reply[12] == 0x86 && l->reply[13] == 0xdd) /* an NA, not an ARP reply */
        atomic_fetch_add_explicit(&l->answered_ns, 1, memory_order_relaxed);
      if (!atomic_load_explicit(&l->deliver_answered, memory_order_relaxed)) {
        /* Counted, not copied: the slot is reused and JS is not woken for it. */
        atomic_fetch_add_explicit(&l->received, 1, memory_order_relaxed);
        continue;
      }
    }
    if (full) {
      atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
      continue;
    }
    atomic_store_explicit(&l->head, head + 1, memory_order_release);
    atomic_fetch_add_explicit(&l->received, 1, memory_order_relaxed);
    queued++;
  }
  return queued;
}

static void notify_js(link_t *l) {
  /* At most one delivery is queued at a time, so the TSFN queue never grows. */
  if (!atomic_exchange(&l->pending, 1) &&
      napi_call_threadsafe_function(l->tsfn, NULL, napi_tsfn_nonblocking) != napi_ok)
    atomic_store(&l->pending, 0); /* closing: nobody will drain */
}

static void *reader_main(void *arg) {
  link_t *l = arg;
  struct pollfd fds[2] = {{.fd = l->fd, .events = POLLIN}, {.fd = l->wake_fd, .events = POLLIN}};
  uint64_t count;
  atomic_store(&l->short_slice, shorten_slice());
  for (;;) {
    /* fds[0] is the socket, or space_fd while the ring is full. */
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents) break; /* close() */
    if (fds[0].fd == l->space_fd) {
      if (read(l->space_fd, &count, sizeof count) < 0) { /* EAGAIN: already reset */ }
      atomic_store(&l->waiting, 0);
      fds[0].fd = l->fd;
    }
    int queued = drain_socket(l);
    if (queued > 0) notify_js(l);
    if (queued < 0) {
      /* Full: wait for JS. Re-check after announcing, or a free made meanwhile is missed. */
      atomic_store(&l->waiting, 1);
      uint64_t head = atomic_load(&l->head), tail = atomic_load(&l->tail);
      if (head - tail >= RING_SLOTS) fds[0].fd = l->space_fd;
      else atomic_store(&l->waiting, 0);
      notify_js(l);
    }
  }
  return NULL;
}

/* ---- JS thread: delivery, lifetime ----------------------------------------------- */

static void link_unref(link_t *l) {
  if (--l->refs > 0) return;
  answers_free(&l->answers);
  pthread_mutex_destroy(&l->answers_mu);
  free(l);
}

/* Runs on the JS thread: copies queued frames into JS-owned Buffers, calls onFrames once. */
static void deliver(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)data;
  link_t *l = context;
  if (env == NULL || l->closed) return;
  /* Clear first: a frame queued after this line triggers another delivery. */
  atomic_store(&l->pending, 0);
  uint64_t head = atomic_load_explicit(&l->head, memory_order_acquire);
  uint64_t tail = atomic_load_explicit(&l->tail, memory_order_relaxed);
  napi_value argv[2], global, flags_ab;
  uint8_t *flags = NULL;
  size_t count = (size_t)(head - tail);
  NAPI(napi_create_array_with_length(env, count, &argv[0]), );
  NAPI(napi_create_arraybuffer(env, count, (void **)&flags, &flags_ab), );
  NAPI(napi_create_typedarray(env, napi_uint8_array, count, flags_ab, 0, &argv[1]), );
  for (uint32_t i = 0; tail != head; tail++, i++) {
    slot_t *s = &l->ring[tail & (RING_SLOTS - 1)];
    napi_value buf;
    NAPI(napi_create_buffer_copy(env, s->len, s->data, NULL, &buf), );
    NAPI(napi_set_element(env, argv[0], i, buf), );
    flags[i] = s->answered;
    atomic_store_explicit(&l->tail, tail + 1, memory_order_release);
  }
  atomic_thread_fence(memory_order_seq_cst); /* tail before waiting: pairs with reader_main */
  if (atomic_exchange(&l->waiting, 0)) {
    uint64_t one = 1;
    if (write(l->space_fd, &one, sizeof one) < 0) { /* EAGAIN: the thread is woken already */ }
  }
  NAPI(napi_get_global(env, &global), );
  /* make_callback (not call_function) so promise jobs and nextTicks queued by the handler
   * run now; its receiver must be an object. A throw becomes an uncaught exception. */
  napi_make_callback(env, l->async, global, js_cb, 2, argv, NULL);
}

static void tsfn_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  link_t *l = data;
  napi_async_destroy(env, l->async);
  link_unref(l);
}

static void cleanup_hook(void *arg);

/* Idempotent. Stops the thread before releasing the TSFN, so no call can follow. */
static void link_close(link_t *l) {
  if (l->closed) return;
  l->closed = 1;
  uint64_t one = 1;
  if (write(l->wake_fd, &one, sizeof one) != sizeof one) abort(); /* cannot fail: eventfd */
  pthread_join(l->thread, NULL);
  close(l->fd);
  close(l->wake_fd);
  close(l->space_fd);
  if (!l->in_cleanup_hook) napi_remove_env_cleanup_hook(l->env, cleanup_hook, l);
  napi_release_threadsafe_function(l->tsfn, napi_tsfn_abort);
}

/* The environment is going away (process exit, Worker terminated): stop the thread. */
static void cleanup_hook(void *arg) {
  link_t *l = arg;
  l->in_cleanup_hook = 1;
  link_close(l);
}

/* The JS handle was collected: close if the caller forgot to. */
static void external_finalize(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  link_close(data);
  link_unref(data);
}

static link_t *get_link(napi_env env, napi_value v) {
  bool ok = false;
  void *p = NULL;
  if (napi_check_object_type_tag(env, v, &LINK_TAG, &ok) != napi_ok || !ok ||
      napi_get_value_external(env, v, &p) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "not a heraldlb_link handle");
    return NULL;
  }
  link_t *l = p;
  if (l->closed) {
    throw_errno(env, "closed", EBADF);
    return NULL;
  }
  return l;
}

/* ---- socket setup ---------------------------------------------------------------- */

/* Returns the socket or -1 with *syscall set; errno holds the reason. */
static int open_socket(int ifindex, const char **syscall) {
  /* Protocol 0: the socket receives nothing until bind(), so no unfiltered frame can be
   * queued between socket() and SO_ATTACH_FILTER. */
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return *syscall = "socket", -1;
  struct sock_fprog prog = {.len = sizeof ARP_NDP_FILTER / sizeof ARP_NDP_FILTER[0],
                            .filter = ARP_NDP_FILTER};
  int one = 1;
  struct sockaddr_ll addr = {.sll_family = AF_PACKET,
                             .sll_protocol = htons(ETH_P_ALL),
                             .sll_ifindex = ifindex};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
    *syscall = "setsockopt(SO_ATTACH_FILTER)";
  } else if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0 &&
             errno != ENOPROTOOPT) {
    *syscall = "setsockopt(PACKET_IGNORE_OUTGOING)";
  } else if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &(int){RCVBUF}, sizeof(int)) < 0 &&
             setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){RCVBUF}, sizeof(int)) < 0) {
    /* FORCE needs CAP_NET_ADMIN; without it the kernel caps SO_RCVBUF at rmem_max. */
    *syscall = "setsockopt(SO_RCVBUF)";
  } else if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    *syscall = "bind";
  } else {
    return fd;
  }
  int saved = errno;
  close(fd);
  errno = saved;
  return -1;
}

/* The reader thread takes no signals: they belong to Node's main thread. */
static int start_reader(link_t *l) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&l->thread, NULL, reader_main, l);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return err;
}

/* ---- exported functions ---------------------------------------------------------- */

/* Undoes a half-done open(): the fds, then the link itself (or the TSFN's hold on it). */
static napi_value open_failed(napi_env env, link_t *l, int fd, int wake, int space,
                              const char *syscall, int err) {
  if (fd >= 0) close(fd);
  if (wake >= 0) close(wake);
  if (space >= 0) close(space);
  if (l != NULL && l->tsfn != NULL) {
    l->closed = 1, l->refs = 1; /* no external exists yet; tsfn_finalize frees */
    napi_release_threadsafe_function(l->tsfn, napi_tsfn_abort);
  } else if (l != NULL) {
    if (l->async != NULL) napi_async_destroy(env, l->async);
    free(l);
  }
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) throw_errno(env, syscall, err);
  return NULL;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2, len = 0;
  napi_value argv[2], result, handle, index, resource_name;
  char ifname[IF_NAMESIZE];
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok || len == 0 ||
      len >= IF_NAMESIZE) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "open(ifname, onFrames): bad ifname");
    return NULL;
  }
  NAPI(napi_get_value_string_utf8(env, argv[0], ifname, sizeof ifname, &len), NULL);
  unsigned ifindex = if_nametoindex(ifname);
  if (ifindex == 0) return open_failed(env, NULL, -1, -1, -1, "if_nametoindex", errno ? errno : ENODEV);
  const char *syscall = NULL;
  int fd = open_socket((int)ifindex, &syscall);
  if (fd < 0) return open_failed(env, NULL, -1, -1, -1, syscall, errno);
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) return open_failed(env, NULL, fd, -1, -1, "eventfd", errno);
  int space = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (space < 0) return open_failed(env, NULL, fd, wake, -1, "eventfd", errno);
  link_t *l = calloc(1, sizeof *l);
  if (l == NULL) return open_failed(env, NULL, fd, wake, space, "calloc", ENOMEM);
  *l = (link_t){.fd = fd, .wake_fd = wake, .space_fd = space, .ifindex = (int)ifindex, .env = env,
                .refs = 2, .deliver_answered = 1};
  pthread_mutex_init(&l->answers_mu, NULL); /* the table starts empty: answer nothing */
  for (int i = 0; i < BATCH_MAX; i++)
    l->msgs[i].msg_hdr = (struct msghdr){.msg_iov = &l->iov[i], .msg_iovlen = 1};
  if (napi_create_string_utf8(env, "heraldlb_link", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_async_init(env, NULL, resource_name, &l->async) != napi_ok ||
      napi_create_threadsafe_function(env, argv[1], NULL, resource_name, 2, 1, l, tsfn_finalize, l,
                                      deliver, &l->tsfn) != napi_ok)
    return open_failed(env, l, fd, wake, space, "napi_create_threadsafe_function", EINVAL);
  int err = start_reader(l);
  if (err != 0) return open_failed(env, l, fd, wake, space, "pthread_create", err);
  /* From here the link is live: a failure closes it like close() would. */
  if (napi_create_external(env, l, external_finalize, NULL, &handle) != napi_ok) {
    link_close(l);
    link_unref(l);
    return open_failed(env, NULL, -1, -1, -1, "napi_create_external", ENOMEM);
  }
  NAPI(napi_add_env_cleanup_hook(env, cleanup_hook, l), NULL);
  NAPI(napi_type_tag_object(env, handle, &LINK_TAG), NULL);
  NAPI(napi_create_object(env, &result), NULL);
  NAPI(napi_create_uint32(env, ifindex, &index), NULL);
  NAPI(napi_set_named_property(env, result, "handle", handle), NULL);
  NAPI(napi_set_named_property(env, result, "ifindex", index), NULL);
  return result;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void *data = NULL;
  size_t len = 0;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  link_t *l = argc == 2 ? get_link(env, argv[0]) : NULL;
  if (l == NULL) return NULL;
  NAPI(napi_get_buffer_info(env, argv[1], &data, &len), NULL);
  /* MSG_DONTWAIT: a full device queue is the caller's to handle, never a stalled loop. */
  if (send(l->fd, data, len, MSG_DONTWAIT) < 0) return throw_errno(env, "send", errno), NULL;
  l->sent++;
  return NULL;
}

/* Returns how many leading frames the kernel took; throws only if it took none for a
 * reason other than a full queue (EAGAIN/ENOBUFS). */
static napi_value js_send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  uint32_t count = 0, total = 0;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  link_t *l = argc == 2 ? get_link(env, argv[0]) : NULL;
  if (l == NULL) return NULL;
  NAPI(napi_get_array_length(env, argv[1], &count), NULL);
  while (total < count) {
    unsigned k = 0;
    for (; k < BATCH_MAX && total + k < count; k++) {
      napi_value item;
      NAPI(napi_get_element(env, argv[1], total + k, &item), NULL);
      NAPI(napi_get_buffer_info(env, item, &l->iov[k].iov_base, &l->iov[k].iov_len), NULL);
    }
    int n = sendmmsg(l->fd, l->msgs, k, MSG_DONTWAIT);
    if (n < 0) {
      if (total > 0 || errno == EAGAIN || errno == ENOBUFS) break;
      return throw_errno(env, "sendmmsg", errno), NULL;
    }
    total += (uint32_t)n;
    l->sent += (uint64_t)n;
    if ((unsigned)n < k) break;
  }
  NAPI(napi_create_uint32(env, total, &result), NULL);
  return result;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, v;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  link_t *l = argc == 1 ? get_link(env, argv[0]) : NULL;
  if (l == NULL) return NULL;
  /* The kernel's receive-queue drops; reading them resets the kernel's counter. */
  struct tpacket_stats st = {0};
  socklen_t stlen = sizeof st;
  if (getsockopt(l->fd, SOL_PACKET, PACKET_STATISTICS, &st, &stlen) == 0) l->kernel_drops += st.tp_drops;
  double received = (double)atomic_load(&l->received);
  double dropped = (double)(atomic_load(&l->dropped) + l->kernel_drops);
  NAPI(napi_create_object(env, &result), NULL);
  NAPI(napi_create_double(env, received, &v), NULL);
  NAPI(napi_set_named_property(env, result, "received", v), NULL);
  NAPI(napi_create_double(env, dropped, &v), NULL);
  NAPI(napi_set_named_property(env, result, "dropped", v), NULL);
  NAPI(napi_create_double(env, (double)l->sent, &v), NULL);
  NAPI(napi_set_named_property(env, result, "sent", v), NULL);
  NAPI(napi_create_double(env, (double)atomic_load(&l->answered), &v), NULL);
  NAPI(napi_set_named_property(env, result, "answered", v), NULL);
  NAPI(napi_create_double(env, (double)atomic_load(&l->answered_ns), &v), NULL);
  NAPI(napi_set_named_property(env, result, "answeredNs", v), NULL);
  NAPI(napi_get_boolean(env, atomic_load(&l->short_slice) != 0, &v), NULL);
  NAPI(napi_set_named_property(env, result, "shortSlice", v), NULL);
  return result;
}

/* argv[0..3] = mac (6 bytes), ourMacs (n*6), v4 (n*4), v6 (n*16) -> a built table, or
 * -1 with an exception pending. */
static int table_from_js(napi_env env, napi_value *argv, answers_t *t) {
  void *p[4];
  size_t n[4];
  static const size_t unit[4] = {6, 6, 4, 16};
  for (int i = 0; i < 4; i++) {
    bool is = false;
    if (napi_is_buffer(env, argv[i], &is) != napi_ok || !is ||
        napi_get_buffer_info(env, argv[i], &p[i], &n[i]) != napi_ok || n[i] % unit[i] != 0) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                            "answers: mac, ourMacs, v4, v6 must be Buffers of 6, 6n, 4n, 16n bytes");
      return -1;
    }
    n[i] /= unit[i];
  }
  if (n[0] != 1 || n[1] > OUR_MACS_MAX || n[2] + n[3] > ANSWERS_MAX) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "answers: one mac, at most 256 ourMacs and 65536 IPs");
    return -1;
  }
  if (answers_build(t, p[0], p[1], n[1], p[2], n[2], p[3], n[3]) != 0) {
    throw_errno(env, "malloc", ENOMEM);
    return -1;
  }
  return 0;
}

static napi_value js_set_answers(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  link_t *l = argc == 5 ? get_link(env, argv[0]) : NULL;
  if (l == NULL) return NULL;
  answers_t fresh, old;
  if (table_from_js(env, argv + 1, &fresh) != 0) return NULL;
  pthread_mutex_lock(&l->answers_mu);
  old = l->answers;
  l->answers = fresh;
  pthread_mutex_unlock(&l->answers_mu);
  answers_free(&old); /* outside the lock: the reader never waits on free() */
  return NULL;
}

/* deliverAnswered(handle, yes): whether frames the fast path answered still reach JS.
 * The speaker says no and reads the counts from stats(): at thousands of requests a
 * second, waking the event loop for frames it has nothing to do with costs the CPU the
 * reader thread needs on a small host. */
static napi_value js_deliver_answered(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  bool yes = true;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  link_t *l = argc == 2 ? get_link(env, argv[0]) : NULL;
  if (l == NULL) return NULL;
  if (napi_get_value_bool(env, argv[1], &yes) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "deliverAnswered(handle, yes: boolean)");
    return NULL;
  }
  atomic_store(&l->deliver_answered, yes ? 1 : 0);
  return NULL;
}

/* trimMemory(): gives the kernel back the free pages glibc's allocator keeps. Node's
 * native side (TLS buffers, HTTP bodies, Buffers) frees a lot after a burst of API calls,
 * and glibc returns only the top of each heap, so without this the freed middle stays
 * resident: 16.8 of a speaker's 64 MiB at 1,000 IPs (docs/benchmarks.md). Returns true
 * when memory was released; always false on other C libraries. */
static napi_value js_trim_memory(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
#ifdef __GLIBC__
  int released = malloc_trim(0);
#else
  int released = 0;
#endif
  NAPI(napi_get_boolean(env, released == 1, &result), NULL);
  return result;
}

/* Test-only: the reply answer_frame() would send for `frame`, so tests compare the reader
 * thread's own code with speaker/frame.ts. */
static napi_value js_craft_reply(napi_env env, napi_callback_info info) {
  size_t argc = 5, len = 0;
  napi_value argv[5], result;
  void *frame = NULL;
  uint8_t out[REPLY_MAX];
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  if (argc != 5 || napi_get_buffer_info(env, argv[0], &frame, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "craftReply(frame, mac, ourMacs, v4, v6)");
    return NULL;
  }
  answers_t t;
  if (table_from_js(env, argv + 1, &t) != 0) return NULL;
  size_t n = answer_frame(&t, frame, len, out);
  answers_free(&t);
  if (n == 0) NAPI(napi_get_null(env, &result), NULL);
  else NAPI(napi_create_buffer_copy(env, n, out, NULL, &result), NULL);
  return result;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *p = NULL;
  bool ok = false;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  if (argc == 1 && napi_check_object_type_tag(env, argv[0], &LINK_TAG, &ok) == napi_ok && ok &&
      napi_get_value_external(env, argv[0], &p) == napi_ok) {
    link_close(p); /* a second close() is a no-op */
    return NULL;
  }
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "not a heraldlb_link handle");
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendBatch", NULL, js_send_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setAnswers", NULL, js_set_answers, NULL, NULL, NULL, napi_enumerable, NULL},
      {"deliverAnswered", NULL, js_deliver_answered, NULL, NULL, NULL, napi_enumerable, NULL},
      {"trimMemory", NULL, js_trim_memory, NULL, NULL, NULL, napi_enumerable, NULL},
      {"craftReply", NULL, js_craft_reply, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI(napi_define_properties(env, exports, sizeof props / sizeof props[0], props), NULL);
  return exports;
}
