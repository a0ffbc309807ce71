/*
 * amqp_baseline.c - ParcelFlow's yardstick for `parcelctl bench amqp`: the same work done by a plain C
 * loop over the same library (rabbitmq-c 0.11), so the Swift figures can be read as a ratio.
 *
 *   amqp_baseline publish N BATCH     purge the queue, then publish N persistent ~300-byte JSON
 *                                     messages in confirm mode, waiting for every outstanding
 *                                     confirm each BATCH messages (and at the end)
 *   amqp_baseline consume N PREFETCH  consume N messages with basic.qos PREFETCH, one basic.ack each
 *   amqp_baseline cleanup             delete the queue
 *
 * Queue: durable classic `parcelflow.bench.c`, reached through the default exchange.
 * Broker: PARCELFLOW_AMQP_URL (first of a comma-separated list), default the local node of
 * deploy/local. Output: one JSON line on stdout; errors on stderr with exit status 1.
 *
 * Build: cc -O2 -Wall -Wextra -o amqp_baseline amqp_baseline.c $(pkg-config --cflags --libs librabbitmq)
 */
#define _POSIX_C_SOURCE 200809L
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define QUEUE "parcelflow.bench.c"
#define DEFAULT_URL "amqp://guest:guest@127.0.0.1:5682/%2f"
#define BODY_BYTES 300
#define CHANNEL 1

static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("amqp_baseline: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The broker's own words (e.g. "PRECONDITION_FAILED - inequivalent arg ...") when it closes on us. */
static void fail_on_close(const amqp_method_t *m, const char *what) {
  if (m->id == AMQP_CONNECTION_CLOSE_METHOD) {
    const amqp_connection_close_t *c = m->decoded;
    fail("%s: broker closed the connection: %u %.*s", what, c->reply_code, (int)c->reply_text.len,
         (const char *)c->reply_text.bytes);
  }
  if (m->id == AMQP_CHANNEL_CLOSE_METHOD) {
    const amqp_channel_close_t *c = m->decoded;
    fail("%s: broker closed the channel: %u %.*s", what, c->reply_code, (int)c->reply_text.len,
         (const char *)c->reply_text.bytes);
  }
}

/* Every synchronous rabbitmq-c call ends here: turn its reply into a clear message, or return. */
static void check_reply(amqp_rpc_reply_t r, const char *what) {
  switch (r.reply_type) {
  case AMQP_RESPONSE_NORMAL:
    return;
  case AMQP_RESPONSE_NONE:
    fail("%s: no reply from the broker", what);
    break;
  case AMQP_RESPONSE_LIBRARY_EXCEPTION:
    fail("%s: %s", what, amqp_error_string2(r.library_error));
    break;
  case AMQP_RESPONSE_SERVER_EXCEPTION:
    fail_on_close(&r.reply, what);
    fail("%s: unexpected broker method 0x%08x", what, r.reply.id);
    break;
  }
  fail("%s: unknown reply type %d", what, (int)r.reply_type);
}

static void check_status(int status, const char *what) {
  if (status != AMQP_STATUS_OK) fail("%s: %s", what, amqp_error_string2(status));
}

static amqp_connection_state_t connect_broker(void) {
  const char *env = getenv("PARCELFLOW_AMQP_URL");
  char *url = strdup(env && *env ? env : DEFAULT_URL);
  if (!url) fail("out of memory");
  char *comma = strchr(url, ','); /* a cluster list: the first node is enough for a benchmark */
  if (comma) *comma = '\0';
  struct amqp_connection_info ci;
  amqp_default_connection_info(&ci);
  int st = amqp_parse_url(url, &ci); /* never echo the URL: it holds the password */
  if (st != AMQP_STATUS_OK)
    fail("PARCELFLOW_AMQP_URL is not a valid amqp:// URL (%s)", amqp_error_string2(st));
  if (ci.ssl) fail("amqps:// URLs are not supported by this baseline; give an amqp:// URL");

  amqp_connection_state_t c = amqp_new_connection();
  if (!c) fail("out of memory");
  amqp_socket_t *s = amqp_tcp_socket_new(c);
  if (!s) fail("cannot create a TCP socket");
  struct timeval timeout = {10, 0};
  st = amqp_socket_open_noblock(s, ci.host, ci.port, &timeout);
  if (st != AMQP_STATUS_OK)
    fail("cannot connect to %s:%d: %s (is the broker running? deploy/local/broker.sh start)", ci.host,
         ci.port, amqp_error_string2(st));
  char what[300];
  snprintf(what, sizeof what, "login to %s:%d vhost '%s' as '%s'", ci.host, ci.port, ci.vhost, ci.user);
  /* channel_max 0 = broker's; frame_max 128 KiB as the broker's default; no heartbeats in a short run */
  check_reply(amqp_login(c, ci.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, ci.user, ci.password), what);
  free(url);
  amqp_channel_open(c, CHANNEL);
  check_reply(amqp_get_rpc_reply(c), "channel.open");
  return c;
}

static void disconnect(amqp_connection_state_t c) {
  check_reply(amqp_channel_close(c, CHANNEL, AMQP_REPLY_SUCCESS), "channel.close");
  check_reply(amqp_connection_close(c, AMQP_REPLY_SUCCESS), "connection.close");
  amqp_destroy_connection(c);
}

/* Declare the durable classic queue (idempotent); returns how many messages it holds. */
static uint32_t declare_queue(amqp_connection_state_t c) {
  amqp_queue_declare_ok_t *ok =
      amqp_queue_declare(c, CHANNEL, amqp_cstring_bytes(QUEUE), 0, 1, 0, 0, amqp_empty_table);
  check_reply(amqp_get_rpc_reply(c), "queue.declare " QUEUE);
  return ok->message_count;
}

/* A ~300-byte task envelope, shaped like ParcelFlow's, exactly BODY_BYTES long. */
static size_t make_body(char *buf, long i) {
  int n = snprintf(buf, BODY_BYTES + 1,
                   "{\"schema_version\":1,\"task_id\":\"bench-c-%08ld\",\"parcel_id\":\"P%08ld\","
                   "\"stage\":\"collection\",\"attempt\":1,\"created_at\":\"2026-12-01T08:00:00Z\","
                   "\"parcel\":{\"kind\":\"letter\",\"weight_g\":120,\"note\":\"",
                   i, i);
  if (n < 0 || n > BODY_BYTES - 3) fail("body template too long");
  memset(buf + n, 'x', (size_t)(BODY_BYTES - 3 - n));
  memcpy(buf + BODY_BYTES - 3, "\"}}", 3);
  return BODY_BYTES;
}

/* Publisher-confirm bookkeeping, exact even if acks come singly or out of order. */
struct confirms {
  unsigned char *acked; /* indexed by delivery tag 1..n */
  uint64_t low;         /* every tag below this is confirmed */
};

static void mark(struct confirms *k, uint64_t tag, int multiple, uint64_t published) {
  if (tag == 0 || tag > published) fail("broker confirmed unknown delivery tag %" PRIu64, tag);
  if (multiple)
    for (uint64_t t = k->low; t <= tag; t++) k->acked[t] = 1;
  else
    k->acked[tag] = 1;
  while (k->low <= published && k->acked[k->low]) k->low++;
}

/* Read frames until every publish up to `published` is confirmed. */
static void await_confirms(amqp_connection_state_t c, struct confirms *k, uint64_t published) {
  while (k->low <= published) {
    amqp_frame_t f;
    amqp_maybe_release_buffers(c);
    check_status(amqp_simple_wait_frame(c, &f), "waiting for publisher confirms");
    if (f.frame_type != AMQP_FRAME_METHOD) continue;
    fail_on_close(&f.payload.method, "waiting for publisher confirms");
    if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
      const amqp_basic_ack_t *a = f.payload.method.decoded;
      mark(k, a->delivery_tag, a->multiple, published);
    } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
      const amqp_basic_nack_t *a = f.payload.method.decoded;
      fail("broker nacked publish %" PRIu64 " (e.g. disk or memory alarm)", a->delivery_tag);
    } else {
      fail("unexpected method 0x%08x while waiting for confirms", f.payload.method.id);
    }
  }
}

static int cmd_publish(long n, long batch) {
  amqp_connection_state_t c = connect_broker();
  declare_queue(c);
  amqp_queue_purge(c, CHANNEL, amqp_cstring_bytes(QUEUE));
  check_reply(amqp_get_rpc_reply(c), "queue.purge " QUEUE);
  amqp_confirm_select(c, CHANNEL);
  check_reply(amqp_get_rpc_reply(c), "confirm.select");

  amqp_basic_properties_t props;
  memset(&props, 0, sizeof props);
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.content_type = amqp_cstring_bytes("application/json");
  props.delivery_mode = AMQP_DELIVERY_PERSISTENT;

  struct confirms k = {calloc((size_t)n + 2, 1), 1};
  if (!k.acked) fail("out of memory");
  char body[BODY_BYTES + 1];
  uint64_t published = 0;
  double t0 = now();
  for (long i = 0; i < n; i++) {
    amqp_bytes_t b = {make_body(body, i), body};
    check_status(amqp_basic_publish(c, CHANNEL, amqp_empty_bytes, amqp_cstring_bytes(QUEUE), 0, 0,
                                    &props, b),
                 "basic.publish");
    published++;
    if (published % (uint64_t)batch == 0) await_confirms(c, &k, published);
  }
  await_confirms(c, &k, published);
  double secs = now() - t0;
  free(k.acked);
  disconnect(c);
  printf("{\"mode\":\"publish\",\"queue\":\"%s\",\"messages\":%ld,\"batch\":%ld,\"body_bytes\":%d,"
         "\"seconds\":%.4f,\"msgs_per_s\":%.1f}\n",
         QUEUE, n, batch, BODY_BYTES, secs, (double)n / secs);
  return 0;
}

static int cmd_consume(long n, long prefetch) {
  if (prefetch > 65535) fail("PREFETCH must be at most 65535");
  amqp_connection_state_t c = connect_broker();
  uint32_t ready = declare_queue(c);
  if ((long)ready < n)
    fail("queue " QUEUE " holds %u messages, fewer than %ld: run `amqp_baseline publish %ld BATCH` first",
         ready, n, n);
  amqp_basic_qos(c, CHANNEL, 0, (uint16_t)prefetch, 0);
  check_reply(amqp_get_rpc_reply(c), "basic.qos");

  double t0 = now();
  amqp_basic_consume_ok_t *ok = amqp_basic_consume(c, CHANNEL, amqp_cstring_bytes(QUEUE),
                                                   amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  check_reply(amqp_get_rpc_reply(c), "basic.consume " QUEUE);
  amqp_bytes_t tag = amqp_bytes_malloc_dup(ok->consumer_tag);
  for (long got = 0; got < n;) {
    amqp_envelope_t e;
    amqp_maybe_release_buffers(c);
    amqp_rpc_reply_t r = amqp_consume_message(c, &e, NULL, 0);
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
      /* Not a delivery: a method such as channel.close is waiting; say what it was. */
      amqp_frame_t f;
      check_status(amqp_simple_wait_frame(c, &f), "consuming");
      if (f.frame_type == AMQP_FRAME_METHOD) {
        fail_on_close(&f.payload.method, "consuming");
        if (f.payload.method.id == AMQP_BASIC_CANCEL_METHOD) fail("consuming: the broker cancelled the consumer");
      }
      continue;
    }
    check_reply(r, "consuming");
    check_status(amqp_basic_ack(c, CHANNEL, e.delivery_tag, 0), "basic.ack");
    amqp_destroy_envelope(&e);
    got++;
  }
  /* One synchronous round trip so the clock includes the broker having taken every ack. */
  amqp_basic_cancel(c, CHANNEL, tag);
  check_reply(amqp_get_rpc_reply(c), "basic.cancel");
  double secs = now() - t0;
  amqp_bytes_free(tag);
  disconnect(c); /* deliveries beyond N (prefetched, unacked) go back to the queue */
  printf("{\"mode\":\"consume\",\"queue\":\"%s\",\"messages\":%ld,\"prefetch\":%ld,"
         "\"seconds\":%.4f,\"msgs_per_s\":%.1f}\n",
         QUEUE, n, prefetch, secs, (double)n / secs);
  return 0;
}

static int cmd_cleanup(void) {
  amqp_connection_state_t c = connect_broker();
  amqp_queue_delete_ok_t *ok = amqp_queue_delete(c, CHANNEL, amqp_cstring_bytes(QUEUE), 0, 0);
  check_reply(amqp_get_rpc_reply(c), "queue.delete " QUEUE);
  uint32_t deleted = ok->message_count;
  disconnect(c);
  printf("{\"mode\":\"cleanup\",\"queue\":\"%s\",\"deleted_messages\":%u}\n", QUEUE, deleted);
  return 0;
}

static long positive(const char *s, const char *name) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s || v <= 0 || v > 100000000L) fail("%s must be a positive integer, got '%s'", name, s);
  return v;
}

static void usage(void) {
  fputs("usage: amqp_baseline publish N BATCH | consume N PREFETCH | cleanup\n"
        "broker: PARCELFLOW_AMQP_URL (default " DEFAULT_URL ")\n",
        stderr);
  exit(2);
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "publish") == 0)
    return cmd_publish(positive(argv[2], "N"), positive(argv[3], "BATCH"));
  if (argc == 4 && strcmp(argv[1], "consume") == 0)
    return cmd_consume(positive(argv[2], "N"), positive(argv[3], "PREFETCH"));
  if (argc == 2 && strcmp(argv[1], "cleanup") == 0) return cmd_cleanup();
  usage();
  return 2;
}
