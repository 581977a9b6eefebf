/*
 * The native fast path's pure part: which ARP requests and Neighbor Solicitations this
 * interface answers, and the exact reply bytes. No I/O, no allocation after
 * answers_build(), so the reader thread can call answer_frame() per frame, and the
 * test-only export craftReply() runs this same code (test/unit/native-answer.test.ts
 * compares it byte for byte with speaker/frame.ts).
 */
#ifndef HERALDLB_ANSWER_H
#define HERALDLB_ANSWER_H
#include <stddef.h>
#include <stdint.h>

#define ANSWERS_MAX 65536 /* entries per table; setAnswers rejects more */
#define OUR_MACS_MAX 256  /* MACs whose frames are never answered (our own interfaces) */
#define REPLY_MAX 86      /* an NA with the target link-layer option: 14 + 40 + 32 */

typedef struct {
  uint8_t mac[6];          /* the interface MAC replies carry */
  uint8_t (*our_macs)[6];  /* sorted */
  uint8_t (*v4)[4];        /* sorted, unique */
  uint8_t (*v6)[16];       /* sorted, unique */
  size_t n_our, n_v4, n_v6;
} answers_t;

/* Fills *t from unsorted arrays (copied; the caller keeps its own). Returns 0, or -1 when
 * out of memory. Free with answers_free(). */
int answers_build(answers_t *t, const uint8_t mac[6], const uint8_t *our, size_t n_our,
                  const uint8_t *v4, size_t n_v4, const uint8_t *v6, size_t n_v6);
void answers_free(answers_t *t);

/* The reply to `frame` when it is an ARP request or NS this table answers, written to
 * out[REPLY_MAX]; returns its length, or 0 when the frame gets no reply from us. */
size_t answer_frame(const answers_t *t, const uint8_t *frame, size_t len, uint8_t *out);
#endif
