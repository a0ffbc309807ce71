/*
 * amqp_baseline.c - ParcelFlow's yardstick: the work `parcelctl bench amqp` and `parcelctl loadtest` do,
 * done by plain C over the same library (rabbitmq-c 0.11) and SQLite, so the Swift figures can be read
 * as a ratio (deploy/local/bench.sh, docs/BASELINES.md).
 *
 *   amqp_baseline publish N BATCH     purge the queue, then publish N persistent ~300-byte JSON
 *                                     messages in confirm mode, waiting for every outstanding
 *                                     confirm each BATCH messages (and at the end)
 *   amqp_baseline consume N PREFETCH  consume N messages with basic.qos PREFETCH, one basic.ack each
 *   amqp_baseline pipeline PARCELS WORKERS PREFETCH DB
 *                                     the four-stage parcel pipeline with zero work (see below)
 *   amqp_baseline cleanup             delete the queues
 *
 * Publish and consume: durable classic queue `parcelflow.bench.c`, reached through the default exchange.
 *
 * Pipeline: durable quorum queues `parcelflow.bench.c.STAGE` for collection, packaging, inspection and
 * delivery, as ParcelFlow's stage queues are. WORKERS forked processes, each with one connection: a
 * consumer channel per stage (basic.qos PREFETCH each) and a publishing channel in confirm mode. Per
 * delivery a worker upserts the parcel's row in the SQLite file DB (WAL, a connection of its own),
 * publishes the next stage's task (persistent), and acks the delivery only once the broker confirmed
 * that publish (at least once, confirms read as they come); a delivery-stage task is acked after its
 * upsert. No history, no retries, no validation: the floor under ParcelFlow's zero-work load test. The
 * parent publishes the PARCELS collection tasks with confirms (batches of 100) on its own connection.
 * The clock runs from the first collection publish to the ack of the PARCELS-th delivery task. CPU:
 * the workers' from getrusage(RUSAGE_CHILDREN) once they are waited for (their start and stop
 * included), the parent's publishing apart.
 *
 * Broker: PARCELFLOW_AMQP_URL (first of a comma-separated list), default the local node of
 * deploy/local. Output: one JSON line on stdout; errors on stderr with exit status 1.
 *
 * Build: cc -O2 -Wall -Wextra -o amqp_baseline amqp_baseline.c $(pkg-config --cflags --libs librabbitmq sqlite3)
 */
#define _DEFAULT_SOURCE /* POSIX 2008, and MAP_ANONYMOUS and usleep for the pipeline */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* Declare a durable queue, classic or quorum (idempotent); returns how many messages it holds. */
static uint32_t declare_queue(amqp_connection_state_t c, const char *name, int quorum) {
  amqp_table_entry_t type = {amqp_cstring_bytes("x-queue-type"),
                             {AMQP_FIELD_KIND_UTF8, {.bytes = amqp_cstring_bytes("quorum")}}};
  amqp_table_t args = quorum ? (amqp_table_t){1, &type} : amqp_empty_table;
  amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, CHANNEL, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
  char what[128];
  snprintf(what, sizeof what, "queue.declare %s", name);
  check_reply(amqp_get_rpc_reply(c), what);
  return ok->message_count;
}

#define STAGES 4
static const char *const STAGE_NAMES[STAGES] = {"collection", "packaging", "inspection", "delivery"};

/* A ~300-byte task envelope for parcel i at a stage, shaped like ParcelFlow's, exactly BODY_BYTES long. */
#define BODY_PREFIX "{\"schema_version\":1,\"task_id\":\"bench-c-"
static size_t make_body(char *buf, long i, int stage) {
  int n = snprintf(buf, BODY_BYTES + 1,
                   BODY_PREFIX "%08ld\",\"parcel_id\":\"P%08ld\","
                   "\"stage\":\"%s\",\"attempt\":1,\"created_at\":\"2026-12-01T08:00:00Z\","
                   "\"parcel\":{\"kind\":\"letter\",\"weight_g\":120,\"note\":\"",
                   i, i, STAGE_NAMES[stage]);
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

static amqp_basic_properties_t persistent_json(void) {
  amqp_basic_properties_t props;
  memset(&props, 0, sizeof props);
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.content_type = amqp_cstring_bytes("application/json");
  props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
  return props;
}

/* Publish n first-stage tasks to `queue` on CHANNEL (in confirm mode), waiting for every outstanding
 * confirm each `batch` messages and at the end. */
static void publish_confirmed(amqp_connection_state_t c, const char *queue, long n, long batch) {
  amqp_basic_properties_t props = persistent_json();
  struct confirms k = {calloc((size_t)n + 2, 1), 1};
  if (!k.acked) fail("out of memory");
  char body[BODY_BYTES + 1];
  uint64_t published = 0;
  for (long i = 0; i < n; i++) {
    amqp_bytes_t b = {make_body(body, i, 0), body};
    check_status(amqp_basic_publish(c, CHANNEL, amqp_empty_bytes, amqp_cstring_bytes(queue), 0, 0, &props, b),
                 "basic.publish");
    published++;
    if (published % (uint64_t)batch == 0) await_confirms(c, &k, published);
  }
  await_confirms(c, &k, published);
  free(k.acked);
}

static void purge_queue(amqp_connection_state_t c, const char *name) {
  amqp_queue_purge(c, CHANNEL, amqp_cstring_bytes(name));
  char what[128];
  snprintf(what, sizeof what, "queue.purge %s", name);
  check_reply(amqp_get_rpc_reply(c), what);
}

static int cmd_publish(long n, long batch) {
  amqp_connection_state_t c = connect_broker();
  declare_queue(c, QUEUE, 0);
  purge_queue(c, QUEUE);
  amqp_confirm_select(c, CHANNEL);
  check_reply(amqp_get_rpc_reply(c), "confirm.select");
  double t0 = now();
  publish_confirmed(c, QUEUE, n, batch);
  double secs = now() - t0;
  disconnect(c);
  printf("{\"mode\":\"publish\",\"queue\":\"%s\",\"messages\":%ld,\"batch\":%ld,\"body_bytes\":%d,"
         "\"seconds\":%.4f,\"msgs_per_s\":%.1f}\n",
         QUEUE, n, batch, BODY_BYTES, secs, (double)n / secs);
  return 0;
}

static int cmd_consume(long n, long prefetch) {
  if (prefetch > 65535) fail("PREFETCH must be at most 65535");
  amqp_connection_state_t c = connect_broker();
  uint32_t ready = declare_queue(c, QUEUE, 0);
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

/* ---- pipeline ---- */

#define PUBLISH_CHANNEL (STAGES + 1) /* a worker consumes stage s on channel s + 1 */
#define PARENT_BATCH 100
#define MAX_WORKERS 64
#define PIPELINE_TIMEOUT_S 300.0

static const char *const STATES[STAGES] = {"collected", "packaged", "inspected", "delivered"};

static void stage_queue(char *buf, size_t cap, int stage) {
  snprintf(buf, cap, QUEUE ".%s", STAGE_NAMES[stage]);
}

/* The parent's view of its workers, in memory shared across fork(). */
struct progress {
  atomic_long ready;     /* workers consuming */
  atomic_int stop;       /* set by the parent once every parcel is delivered */
  atomic_long delivered; /* delivery-stage tasks acked */
  atomic_long tasks;     /* tasks done, summed by the workers as they stop */
  double done_at;        /* now() at the ack of the last delivery task */
};

static sqlite3 *open_store(const char *path) {
  sqlite3 *db;
  if (sqlite3_open(path, &db) != SQLITE_OK) fail("cannot open the SQLite file %s", path);
  sqlite3_busy_timeout(db, 10000);
  char *err = NULL;
  if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, &err) != SQLITE_OK)
    fail("SQLite %s: %s", path, err);
  return db;
}

static void sql(sqlite3 *db, const char *statement) {
  char *err = NULL;
  if (sqlite3_exec(db, statement, NULL, NULL, &err) != SQLITE_OK) fail("SQLite: %s: %s", statement, err);
}

/* The parcel number a task of ours carries in its task_id (make_body's layout). */
static long parcel_of(const amqp_bytes_t body) {
  size_t prefix = strlen(BODY_PREFIX);
  if (body.len < prefix + 8 || memcmp(body.bytes, BODY_PREFIX, prefix) != 0) fail("a task not made by this program");
  char digits[9];
  memcpy(digits, (const char *)body.bytes + prefix, 8);
  digits[8] = '\0';
  return strtol(digits, NULL, 10);
}

/* A delivery whose next-stage task awaits the broker's confirm, by publish sequence number. */
struct awaiting {
  amqp_channel_t channel;
  uint64_t delivery_tag;
  int confirmed;
};

/* The broker confirmed publishes up to `tag` (or `tag` alone): ack the deliveries they came from. Confirms
 * of messages routed to different queues can come out of order, so a single confirm covers its own tag. */
static void confirmed(amqp_connection_state_t c, struct awaiting *ring, size_t cap, uint64_t *low,
                      uint64_t published, uint64_t tag, int multiple) {
  if (tag < *low || tag > published) fail("broker confirmed unknown delivery tag %" PRIu64, tag);
  for (uint64_t s = multiple ? *low : tag; s <= tag; s++) {
    struct awaiting *a = &ring[s % cap];
    if (a->confirmed) continue;
    check_status(amqp_basic_ack(c, a->channel, a->delivery_tag, 0), "basic.ack");
    a->confirmed = 1;
  }
  while (*low <= published && ring[*low % cap].confirmed) (*low)++;
}

/* One worker process: consume every stage until the parent says stop; never returns. */
static void work(long prefetch, const char *db_path, long parcels, struct progress *p) {
  sqlite3 *db = open_store(db_path);
  sqlite3_stmt *upsert;
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO parcels(parcel_id, state, stage_seq, updated_at) VALUES(?1, ?2, ?3, ?4) "
                         "ON CONFLICT(parcel_id) DO UPDATE SET state = excluded.state, "
                         "stage_seq = excluded.stage_seq, updated_at = excluded.updated_at",
                         -1, &upsert, NULL) != SQLITE_OK)
    fail("SQLite: %s", sqlite3_errmsg(db));
  amqp_connection_state_t c = connect_broker();
  char queues[STAGES][64];
  for (int s = 0; s < STAGES; s++) {
    amqp_channel_t ch = (amqp_channel_t)(s + 1);
    stage_queue(queues[s], sizeof queues[s], s);
    if (ch != CHANNEL) {
      amqp_channel_open(c, ch);
      check_reply(amqp_get_rpc_reply(c), "channel.open");
    }
    amqp_basic_qos(c, ch, 0, (uint16_t)prefetch, 0);
    check_reply(amqp_get_rpc_reply(c), "basic.qos");
    amqp_basic_consume(c, ch, amqp_cstring_bytes(queues[s]), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(c), "basic.consume");
  }
  amqp_channel_open(c, PUBLISH_CHANNEL);
  check_reply(amqp_get_rpc_reply(c), "channel.open");
  amqp_confirm_select(c, PUBLISH_CHANNEL);
  check_reply(amqp_get_rpc_reply(c), "confirm.select");
  atomic_fetch_add(&p->ready, 1);

  /* Unconfirmed publishes never outnumber unacked deliveries: at most PREFETCH per stage channel. */
  size_t cap = (size_t)(STAGES * prefetch) + 1;
  struct awaiting *ring = calloc(cap, sizeof *ring);
  if (!ring) fail("out of memory");
  amqp_basic_properties_t props = persistent_json();
  char body[BODY_BYTES + 1], parcel_id[16];
  uint64_t published = 0, low = 1; /* every publish below `low` is confirmed */
  long tasks = 0;
  while (!atomic_load(&p->stop)) {
    amqp_envelope_t e;
    struct timeval poll = {0, 50000}; /* to see `stop` when idle */
    amqp_maybe_release_buffers(c);
    amqp_rpc_reply_t r = amqp_consume_message(c, &e, &poll, 0);
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) continue;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
      /* Not a delivery: a publisher confirm, or the broker closing on us. */
      amqp_frame_t f;
      check_status(amqp_simple_wait_frame(c, &f), "waiting for a frame");
      if (f.frame_type != AMQP_FRAME_METHOD) continue;
      fail_on_close(&f.payload.method, "working");
      if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
        const amqp_basic_ack_t *a = f.payload.method.decoded;
        confirmed(c, ring, cap, &low, published, a->delivery_tag, a->multiple);
      } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
        fail("broker nacked a next-stage publish (e.g. disk or memory alarm)");
      } else {
        fail("unexpected method 0x%08x on channel %u", f.payload.method.id, f.channel);
      }
      continue;
    }
    check_reply(r, "consuming");
    int stage = e.channel - 1;
    long parcel = parcel_of(e.message.body);
    snprintf(parcel_id, sizeof parcel_id, "P%08ld", parcel);
    sqlite3_bind_text(upsert, 1, parcel_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(upsert, 2, STATES[stage], -1, SQLITE_STATIC);
    sqlite3_bind_int(upsert, 3, stage + 1);
    sqlite3_bind_double(upsert, 4, now());
    if (sqlite3_step(upsert) != SQLITE_DONE) fail("SQLite upsert: %s", sqlite3_errmsg(db));
    sqlite3_reset(upsert);
    tasks++;
    if (stage + 1 < STAGES) {
      amqp_bytes_t b = {make_body(body, parcel, stage + 1), body};
      check_status(amqp_basic_publish(c, PUBLISH_CHANNEL, amqp_empty_bytes, amqp_cstring_bytes(queues[stage + 1]),
                                      0, 0, &props, b),
                   "basic.publish");
      published++;
      if (published - low >= cap) fail("more publishes awaiting confirms than deliveries held");
      ring[published % cap] = (struct awaiting){e.channel, e.delivery_tag, 0};
    } else {
      check_status(amqp_basic_ack(c, e.channel, e.delivery_tag, 0), "basic.ack");
      if (atomic_fetch_add(&p->delivered, 1) + 1 == parcels) p->done_at = now();
    }
    amqp_destroy_envelope(&e);
  }
  atomic_fetch_add(&p->tasks, tasks);
  free(ring);
  sqlite3_finalize(upsert);
  sqlite3_close(db);
  disconnect(c);
  exit(0);
}

static double cpu_seconds(const struct rusage *ru) {
  return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 + (double)ru->ru_stime.tv_sec +
         (double)ru->ru_stime.tv_usec / 1e6;
}

/* Wait until `*counter` reaches `target`; fail if a worker ended first or the time runs out. */
static void await_workers(atomic_long *counter, long target, const pid_t *pids, long workers, const char *what) {
  double start = now();
  while (atomic_load(counter) < target) {
    for (long w = 0; w < workers; w++) {
      int status;
      if (waitpid(pids[w], &status, WNOHANG) == pids[w]) fail("worker %ld ended before %s (status %d)", w + 1, what, status);
    }
    if (now() - start > PIPELINE_TIMEOUT_S) fail("timed out waiting for %s", what);
    usleep(500);
  }
}

static int cmd_pipeline(long parcels, long workers, long prefetch, const char *db_path) {
  if (workers > MAX_WORKERS) fail("WORKERS must be at most %d", MAX_WORKERS);
  if (prefetch > 65535) fail("PREFETCH must be at most 65535");
  char path[4096];
  const char *suffixes[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]);
    if (unlink(path) != 0 && errno != ENOENT) fail("cannot remove %s: %s", path, strerror(errno));
  }
  sqlite3 *db = open_store(db_path);
  sql(db, "CREATE TABLE parcels(parcel_id TEXT PRIMARY KEY, state TEXT NOT NULL, "
          "stage_seq INTEGER NOT NULL, updated_at REAL NOT NULL)");

  amqp_connection_state_t c = connect_broker();
  char queues[STAGES][64];
  for (int s = 0; s < STAGES; s++) {
    stage_queue(queues[s], sizeof queues[s], s);
    declare_queue(c, queues[s], 1);
    purge_queue(c, queues[s]);
  }
  amqp_confirm_select(c, CHANNEL);
  check_reply(amqp_get_rpc_reply(c), "confirm.select");

  struct progress *p = mmap(NULL, sizeof *p, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) fail("mmap: %s", strerror(errno));
  memset(p, 0, sizeof *p);
  fflush(NULL);
  pid_t pids[MAX_WORKERS] = {0};
  for (long w = 0; w < workers; w++) {
    pids[w] = fork();
    if (pids[w] < 0) fail("fork: %s", strerror(errno));
    if (pids[w] == 0) work(prefetch, db_path, parcels, p);
  }
  await_workers(&p->ready, workers, pids, workers, "consuming");

  struct rusage before, after;
  getrusage(RUSAGE_SELF, &before);
  double t0 = now();
  publish_confirmed(c, queues[0], parcels, PARENT_BATCH);
  double publish_seconds = now() - t0;
  getrusage(RUSAGE_SELF, &after);
  await_workers(&p->delivered, parcels, pids, workers, "the last delivery");
  double seconds = p->done_at - t0;

  atomic_store(&p->stop, 1);
  for (long w = 0; w < workers; w++) {
    int status;
    if (waitpid(pids[w], &status, 0) != pids[w] || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      fail("worker %ld did not stop cleanly (status %d)", w + 1, status);
  }
  struct rusage children;
  getrusage(RUSAGE_CHILDREN, &children);

  /* The verdict: every parcel's row says delivered, and no task is left in the queues. */
  sqlite3_stmt *q;
  if (sqlite3_prepare_v2(db, "SELECT count(*), sum(state = 'delivered') FROM parcels", -1, &q, NULL) != SQLITE_OK ||
      sqlite3_step(q) != SQLITE_ROW)
    fail("SQLite: %s", sqlite3_errmsg(db));
  long rows = sqlite3_column_int64(q, 0), delivered = sqlite3_column_int64(q, 1);
  sqlite3_finalize(q);
  sqlite3_close(db);
  long left = 0;
  for (int s = 0; s < STAGES; s++) left += declare_queue(c, queues[s], 1);
  disconnect(c);
  int ok = rows == parcels && delivered == parcels && left == 0;
  long tasks = atomic_load(&p->tasks);
  printf("{\"mode\":\"pipeline\",\"ok\":%s,\"parcels\":%ld,\"workers\":%ld,\"prefetch\":%ld,\"queue_type\":\"quorum\","
         "\"seconds\":%.4f,\"parcels_per_s\":%.1f,\"tasks\":%ld,\"publish_seconds\":%.4f,"
         "\"cpu_seconds\":{\"workers\":%.3f,\"publisher\":%.3f},\"worker_cpu_ms_per_task\":%.4f,"
         "\"worker_peak_rss_mb\":%.1f,\"rows\":%ld,\"delivered\":%ld,\"left_in_queues\":%ld}\n",
         ok ? "true" : "false", parcels, workers, prefetch, seconds, (double)parcels / seconds, tasks,
         publish_seconds, cpu_seconds(&children), cpu_seconds(&after) - cpu_seconds(&before),
         1000 * cpu_seconds(&children) / (double)(tasks ? tasks : 1), (double)children.ru_maxrss / 1024, rows,
         delivered, left);
  if (!ok) fail("%ld rows, %ld delivered and %ld tasks left in the queues for %ld parcels", rows, delivered, left, parcels);
  return 0;
}

/* Delete a queue; returns how many messages it held. */
static uint32_t delete_queue(amqp_connection_state_t c, const char *name) {
  amqp_queue_delete_ok_t *ok = amqp_queue_delete(c, CHANNEL, amqp_cstring_bytes(name), 0, 0);
  char what[128];
  snprintf(what, sizeof what, "queue.delete %s", name);
  check_reply(amqp_get_rpc_reply(c), what);
  return ok->message_count;
}

static int cmd_cleanup(void) {
  amqp_connection_state_t c = connect_broker();
  unsigned long deleted = delete_queue(c, QUEUE);
  char queue[64];
  for (int s = 0; s < STAGES; s++) {
    stage_queue(queue, sizeof queue, s);
    deleted += delete_queue(c, queue);
  }
  disconnect(c);
  printf("{\"mode\":\"cleanup\",\"queues\":\"%s and %s.*\",\"deleted_messages\":%lu}\n", QUEUE, QUEUE, deleted);
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
  fputs("usage: amqp_baseline publish N BATCH | consume N PREFETCH | pipeline PARCELS WORKERS PREFETCH DB | cleanup\n"
        "broker: PARCELFLOW_AMQP_URL (default " DEFAULT_URL ")\n",
        stderr);
  exit(2);
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "publish") == 0)
    return cmd_publish(positive(argv[2], "N"), positive(argv[3], "BATCH"));
  if (argc == 4 && strcmp(argv[1], "consume") == 0)
    return cmd_consume(positive(argv[2], "N"), positive(argv[3], "PREFETCH"));
  if (argc == 6 && strcmp(argv[1], "pipeline") == 0)
    return cmd_pipeline(positive(argv[2], "PARCELS"), positive(argv[3], "WORKERS"), positive(argv[4], "PREFETCH"),
                        argv[5]);
  if (argc == 2 && strcmp(argv[1], "cleanup") == 0) return cmd_cleanup();
  usage();
  return 2;
}
