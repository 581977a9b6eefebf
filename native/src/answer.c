/* See answer.h. Every rule here mirrors speaker/arp.ts, speaker/ndp.ts (parse and build)
 * and speaker/responder.ts (when to answer); a difference is a bug that the differential
 * test is there to catch. */
#include "answer.h"

#include <stdlib.h>
#include <string.h>

#define ETH 14
#define IP6 40
#define ICMP (ETH + IP6)
#define ND_BODY 24

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static int cmp4(const void *a, const void *b) { return memcmp(a, b, 4); }
static int cmp6(const void *a, const void *b) { return memcmp(a, b, 6); }
static int cmp16(const void *a, const void *b) { return memcmp(a, b, 16); }

/* Copies n items of size sz, sorted; duplicates are harmless for bsearch. */
static void *sorted_copy(const uint8_t *src, size_t n, size_t sz, int (*cmp)(const void *, const void *)) {
  void *p = malloc(n ? n * sz : 1);
  if (p == NULL) return NULL;
  if (n) memcpy(p, src, n * sz);
  qsort(p, n, sz, cmp);
  return p;
}

int answers_build(answers_t *t, const uint8_t mac[6], const uint8_t *our, size_t n_our,
                  const uint8_t *v4, size_t n_v4, const uint8_t *v6, size_t n_v6) {
  memset(t, 0, sizeof *t);
  memcpy(t->mac, mac, 6);
  t->our_macs = sorted_copy(our, n_our, 6, cmp6);
  t->v4 = sorted_copy(v4, n_v4, 4, cmp4);
  t->v6 = sorted_copy(v6, n_v6, 16, cmp16);
  t->n_our = n_our, t->n_v4 = n_v4, t->n_v6 = n_v6;
  if (t->our_macs && t->v4 && t->v6) return 0;
  answers_free(t);
  return -1;
}

void answers_free(answers_t *t) {
  free(t->our_macs), free(t->v4), free(t->v6);
  memset(t, 0, sizeof *t);
}

static int ours(const answers_t *t, const uint8_t *mac) {
  /* Our interface MAC counts as ours even if JS did not list it. */
  return memcmp(mac, t->mac, 6) == 0 || bsearch(mac, t->our_macs, t->n_our, 6, cmp6) != NULL;
}

/* ---- ARP (speaker/arp.ts parseArp + arpReply; responder.ts 'arp-request') ---- */

static size_t answer_arp(const answers_t *t, const uint8_t *f, size_t len, uint8_t *out) {
  const uint8_t *a = f + ETH;
  if (len < ETH + 28) return 0; /* truncated */
  if (be16(a) != 1 || be16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4) return 0;
  if (be16(a + 6) != 1) return 0; /* replies and malformed ops are JS's (foreign claims) */
  const uint8_t *smac = a + 8, *sip = a + 14, *tip = a + 24;
  /* Sender IP = target IP is a gratuitous claim: JS treats it as a foreign answerer. */
  if (memcmp(sip, tip, 4) == 0) return 0;
  if (bsearch(tip, t->v4, t->n_v4, 4, cmp4) == NULL || ours(t, smac)) return 0;
  memcpy(out, smac, 6);
  memcpy(out + 6, t->mac, 6);
  out[12] = 0x08, out[13] = 0x06;
  uint8_t *r = out + ETH;
  r[0] = 0, r[1] = 1, r[2] = 0x08, r[3] = 0, r[4] = 6, r[5] = 4, r[6] = 0, r[7] = 2;
  memcpy(r + 8, t->mac, 6);
  memcpy(r + 14, tip, 4);
  memcpy(r + 18, smac, 6);
  memcpy(r + 24, sip, 4);
  return ETH + 28;
}

/* ---- NDP (speaker/ndp.ts parseNdp + solicitation + neighborAdvert) ---- */

/* ndp.ts icmpv6Checksum: over the pseudo-header and `plen` bytes of ICMPv6 at f + ICMP. */
static uint16_t icmpv6_checksum(const uint8_t *f, size_t plen) {
  uint64_t s = plen + 58;
  for (size_t i = 0; i < 32; i += 2) s += be16(f + ETH + 8 + i);
  size_t i = 0;
  for (; i + 1 < plen; i += 2) s += be16(f + ICMP + i);
  if (i < plen) s += (uint64_t)f[ICMP + i] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)(~s & 0xffff);
}

/* Walks the options like linkLayerOptions(); returns 0 when malformed, else 1 with
 * *sll = the first source link-layer option's MAC (or NULL). */
static int ns_options(const uint8_t *f, size_t off, size_t end, const uint8_t **sll) {
  *sll = NULL;
  for (size_t i = off; i < end;) {
    if (i + 2 > end) return 0;
    size_t olen = (size_t)f[i + 1] * 8;
    if (olen == 0 || i + olen > end) return 0;
    if (f[i] == 1 && *sll == NULL) *sll = f + i + 2;
    i += olen;
  }
  return 1;
}

static const uint8_t SOLICITED_PREFIX[13] = {0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff};
static const uint8_t ZERO16[16] = {0};

static size_t answer_ns(const answers_t *t, const uint8_t *f, size_t len, uint8_t *out) {
  if (len < ICMP || f[ETH] >> 4 != 6 || f[ETH + 6] != 58) return 0;
  size_t plen = be16(f + ETH + 4);
  if (len < ICMP + plen || plen < ND_BODY) return 0;
  if (f[ICMP] != 135 || f[ETH + 7] != 255 || f[ICMP + 1] != 0) return 0;
  if (icmpv6_checksum(f, plen) != 0) return 0;
  const uint8_t *sll, *src = f + ETH + 8, *dst = f + ETH + 24, *target = f + ICMP + 8;
  if (!ns_options(f, ICMP + ND_BODY, ICMP + plen, &sll) || target[0] == 0xff) return 0;
  int dad = memcmp(src, ZERO16, 16) == 0;
  if (dad && (sll != NULL || memcmp(dst, SOLICITED_PREFIX, 13) != 0)) return 0;
  if (bsearch(target, t->v6, t->n_v6, 16, cmp16) == NULL || ours(t, f + 6)) return 0;
  static const uint8_t ALL_NODES_MAC[6] = {0x33, 0x33, 0, 0, 0, 1};
  static const uint8_t ALL_NODES[16] = {0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  memset(out, 0, REPLY_MAX);
  memcpy(out, dad ? ALL_NODES_MAC : sll ? sll : f + 6, 6);
  memcpy(out + 6, t->mac, 6);
  out[12] = 0x86, out[13] = 0xdd;
  uint8_t *ip = out + ETH, *icmp = out + ICMP;
  ip[0] = 0x60, ip[5] = 32, ip[6] = 58, ip[7] = 255;
  memcpy(ip + 8, target, 16);                 /* source: the target (neighborAdvert default) */
  memcpy(ip + 24, dad ? ALL_NODES : src, 16); /* DAD: all-nodes, RFC 4861 §7.2.4 */
  icmp[0] = 136;
  icmp[4] = dad ? 0x20 : 0x60; /* override, plus solicited unless DAD */
  memcpy(icmp + 8, target, 16);
  icmp[24] = 2, icmp[25] = 1;
  memcpy(icmp + 26, t->mac, 6);
  uint16_t sum = icmpv6_checksum(out, 32);
  icmp[2] = (uint8_t)(sum >> 8), icmp[3] = (uint8_t)sum;
  return REPLY_MAX;
}

size_t answer_frame(const answers_t *t, const uint8_t *frame, size_t len, uint8_t *out) {
  if (len < ETH) return 0;
  /* Ethernet II only: VLAN-tagged frames belong to the VLAN interface's own socket. */
  switch (be16(frame + 12)) {
    case 0x0806:
      return answer_arp(t, frame, len, out);
    case 0x86dd:
      return answer_ns(t, frame, len, out);
    default:
      return 0;
  }
}
