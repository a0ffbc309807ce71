/*
 * pipeline_baseline.c (bench_raw) - "physical limit" proxy benchmarks using rabbitmq-c 0.11 + SQLite.
 *
 * The project's shared yardstick (kept here so every clone can run the comparison of
 * deploy/local/demo.sh); built by demo.sh as .local/bin/bench_raw.
 *
 * Modes:
 *   bench_raw publish  <n> <confirm_batch>   publish n persistent ~300B JSON msgs
 *                                            to durable queue bench.raw.q with
 *                                            publisher confirms, waiting for all
 *                                            outstanding confirms every
 *                                            <confirm_batch> msgs (1 = synchronous)
 *   bench_raw consume  <n> <prefetch>        consume n msgs from bench.raw.q,
 *                                            manual ack (one basic.ack per msg)
 *   bench_raw pipeline <parcels> <workers> <prefetch> <db>
 *                                            4-stage parcel pipeline (see below)
 *   bench_raw cleanup                        delete all bench.raw.* queues
 *
 * Pipeline: queues bench.raw.{collection,packaging,inspection,delivery} (durable).
 * <workers> forked worker processes, each with ONE connection, one consumer
 * channel per stage queue (basic.qos prefetch per channel) and one extra
 * publishing channel in confirm mode.  Per delivery: SQLite upsert (own
 * connection, WAL), publish next-stage task (persistent), and basic.ack the
 * delivery only once the broker has confirmed the next-stage publish
 * (at-least-once; confirms handled asynchronously so they pipeline).
 * Delivery-stage tasks are acked right after the upsert.
 * The parent publishes the <parcels> collection tasks (confirms, batch 100)
 * on its own connection.  Wall time = first collection publish -> the moment the
 * <parcels>-th delivery-stage task has been acked (shared-memory counter).
 */
#define _GNU_SOURCE
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RAW_Q "bench.raw.q"
static const char *STAGES[4] = {"collection", "packaging", "inspection",
                                "delivery"};
static const char *STATES[4] = {"collected", "packaged", "inspected",
                                "delivered"};
static char QNAME[4][64];

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}
static double wallclock(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *m) {
  fprintf(stderr, "FATAL: %s\n", m);
  exit(1);
}

static void check_rpc(amqp_rpc_reply_t r, const char *ctx) {
  if (r.reply_type == AMQP_RESPONSE_NORMAL) return;
  fprintf(stderr, "FATAL rpc %s: type=%d lib=%s\n", ctx, r.reply_type,
          amqp_error_string2(r.library_error));
  exit(1);
}

static amqp_connection_state_t connect_broker(void) {
  amqp_connection_state_t c = amqp_new_connection();
  amqp_socket_t *s = amqp_tcp_socket_new(c);
  if (!s) die("socket");
  /* AMQP_HOST, AMQP_PORT, AMQP_VHOST, AMQP_USER, AMQP_PASSWORD; defaults: a local broker's guest */
  const char *host = getenv("AMQP_HOST") ? getenv("AMQP_HOST") : "localhost";
  int port = getenv("AMQP_PORT") ? atoi(getenv("AMQP_PORT")) : 5672;
  const char *vhost = getenv("AMQP_VHOST") ? getenv("AMQP_VHOST") : "/";
  const char *user = getenv("AMQP_USER") ? getenv("AMQP_USER") : "guest";
  const char *pass = getenv("AMQP_PASSWORD") ? getenv("AMQP_PASSWORD") : "guest";
  if (amqp_socket_open(s, host, port)) die("socket open");
  check_rpc(amqp_login(c, vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, user,
                       pass),
            "login");
  return c;
}

static void open_chan(amqp_connection_state_t c, amqp_channel_t ch) {
  amqp_channel_open(c, ch);
  check_rpc(amqp_get_rpc_reply(c), "channel.open");
}

static void declare_q(amqp_connection_state_t c, amqp_channel_t ch,
                      const char *q, int purge) {
  /* QUEUE_TYPE=quorum declares quorum queues (replicated, as a cluster would use); default classic */
  amqp_table_t args = amqp_empty_table;
  amqp_table_entry_t qt;
  const char *type = getenv("QUEUE_TYPE");
  if (type && strcmp(type, "classic") != 0) {
    qt.key = amqp_cstring_bytes("x-queue-type");
    qt.value.kind = AMQP_FIELD_KIND_UTF8;
    qt.value.value.bytes = amqp_cstring_bytes(type);
    args.num_entries = 1;
    args.entries = &qt;
  }
  amqp_queue_declare(c, ch, amqp_cstring_bytes(q), 0, 1, 0, 0, args);
  check_rpc(amqp_get_rpc_reply(c), "queue.declare");
  if (purge) {
    amqp_queue_purge(c, ch, amqp_cstring_bytes(q));
    check_rpc(amqp_get_rpc_reply(c), "queue.purge");
  }
}

/* build ~300 byte JSON task body */
static size_t make_body(char *buf, size_t cap, int parcel, int stage) {
  char pad[200];
  memset(pad, 'x', sizeof pad);
  int n = snprintf(buf, cap,
                   "{\"parcel_id\":\"P%07d\",\"stage\":\"%s\",\"attempt\":1,"
                   "\"ts\":%.6f,\"origin\":\"depot-42\",\"dest\":\"zone-7\","
                   "\"weight_g\":1234,\"note\":\"",
                   parcel, STAGES[stage], wallclock());
  int padn = 300 - n - 2;
  if (padn < 0) padn = 0;
  memcpy(buf + n, pad, padn);
  n += padn;
  buf[n++] = '"';
  buf[n++] = '}';
  buf[n] = 0;
  return n;
}

static amqp_basic_properties_t persistent_props(void) {
  amqp_basic_properties_t p;
  memset(&p, 0, sizeof p);
  p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
  p.content_type = amqp_cstring_bytes("application/json");
  p.delivery_mode = 2;
  return p;
}

/* Read frames until confirmed >= target. Returns highest confirmed seq. */
static uint64_t wait_confirms(amqp_connection_state_t c, amqp_channel_t ch,
                              uint64_t confirmed, uint64_t target) {
  while (confirmed < target) {
    amqp_frame_t f;
    amqp_maybe_release_buffers(c);
    if (amqp_simple_wait_frame(c, &f) != AMQP_STATUS_OK) die("wait_frame");
    if (f.frame_type != AMQP_FRAME_METHOD || f.channel != ch) continue;
    if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
      amqp_basic_ack_t *a = f.payload.method.decoded;
      /* with multiple=0 a single tag is confirmed; confirms arrive in order
         on a single channel for a single queue so max() is right for both */
      if (a->delivery_tag > confirmed) confirmed = a->delivery_tag;
    } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
      die("publish nacked");
    } else {
      fprintf(stderr, "unexpected method 0x%08x\n", f.payload.method.id);
      die("unexpected");
    }
  }
  return confirmed;
}

/* ---------------- 1a: publish ---------------- */
static int cmd_publish(int n, int batch) {
  amqp_connection_state_t c = connect_broker();
  open_chan(c, 1);
  declare_q(c, 1, RAW_Q, 1);
  amqp_confirm_select(c, 1);
  check_rpc(amqp_get_rpc_reply(c), "confirm.select");
  amqp_basic_properties_t p = persistent_props();
  char body[512];
  uint64_t seq = 0, confirmed = 0;
  size_t total_bytes = 0;
  double t0 = now();
  for (int i = 0; i < n; i++) {
    size_t len = make_body(body, sizeof body, i, 0);
    total_bytes += len;
    amqp_bytes_t b = {len, body};
    if (amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(RAW_Q), 0,
                           0, &p, b) != AMQP_STATUS_OK)
      die("publish");
    seq++;
    if (seq % batch == 0) confirmed = wait_confirms(c, 1, confirmed, seq);
  }
  confirmed = wait_confirms(c, 1, confirmed, seq);
  double dt = now() - t0;
  printf("RESULT publish n=%d confirm_batch=%d bytes_per_msg=%zu secs=%.4f "
         "msgs_per_s=%.1f\n",
         n, batch, total_bytes / n, dt, n / dt);
  amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(c, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(c);
  return 0;
}

/* ---------------- 1b: consume ---------------- */
static int cmd_consume(int n, int prefetch) {
  amqp_connection_state_t c = connect_broker();
  open_chan(c, 1);
  amqp_queue_declare_ok_t *d = amqp_queue_declare(
      c, 1, amqp_cstring_bytes(RAW_Q), 1, 0, 0, 0, amqp_empty_table);
  check_rpc(amqp_get_rpc_reply(c), "queue.declare passive");
  if ((int)d->message_count < n) {
    fprintf(stderr, "queue has only %u msgs\n", d->message_count);
    return 1;
  }
  amqp_basic_qos(c, 1, 0, prefetch, 0);
  check_rpc(amqp_get_rpc_reply(c), "qos");
  double t0 = now();
  amqp_basic_consume(c, 1, amqp_cstring_bytes(RAW_Q), amqp_empty_bytes, 0, 0, 0,
                     amqp_empty_table);
  check_rpc(amqp_get_rpc_reply(c), "consume");
  int got = 0;
  while (got < n) {
    amqp_envelope_t e;
    amqp_maybe_release_buffers(c);
    amqp_rpc_reply_t r = amqp_consume_message(c, &e, NULL, 0);
    check_rpc(r, "consume_message");
    if (amqp_basic_ack(c, 1, e.delivery_tag, 0) != AMQP_STATUS_OK) die("ack");
    amqp_destroy_envelope(&e);
    got++;
  }
  double dt = now() - t0;
  printf("RESULT consume n=%d prefetch=%d secs=%.4f msgs_per_s=%.1f\n", n,
         prefetch, dt, n / dt);
  /* channel.close is synchronous -> broker has processed all acks */
  amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(c, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(c);
  return 0;
}

/* ---------------- 1c: pipeline ---------------- */
struct shared {
  atomic_int delivered_acked;
  atomic_int stop;
  atomic_int ready;
  double t_done; /* monotonic time the last delivery task was acked */
  atomic_long tasks_done;
};

struct pending {
  uint64_t seq;
  amqp_channel_t ch;
  uint64_t dtag;
  int done;
};

static sqlite3 *open_db(const char *path) {
  sqlite3 *db;
  if (sqlite3_open(path, &db) != SQLITE_OK) die("sqlite open");
  sqlite3_busy_timeout(db, 10000);
  const char *sync = getenv("SQLITE_SYNC") ? getenv("SQLITE_SYNC") : "NORMAL";
  char sql[128];
  snprintf(sql, sizeof sql, "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;",
           sync);
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "sqlite: %s\n", err);
    die("pragma");
  }
  return db;
}

static const char *UPSERT_SQL =
    "INSERT INTO parcels(parcel_id, state, stage_seq, updated_at, retries) "
    "VALUES(?1, ?2, ?3, ?4, 0) ON CONFLICT(parcel_id) DO UPDATE SET "
    "state=excluded.state, stage_seq=excluded.stage_seq, "
    "updated_at=excluded.updated_at, "
    "retries=parcels.retries+excluded.retries";

static void worker(int id, int prefetch, const char *dbpath, struct shared *sh,
                   int parcels) {
  sqlite3 *db = open_db(dbpath);
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, UPSERT_SQL, -1, &st, NULL) != SQLITE_OK)
    die("prepare");
  amqp_connection_state_t c = connect_broker();
  const amqp_channel_t PUB = 5;
  for (int i = 0; i < 4; i++) {
    amqp_channel_t ch = i + 1;
    open_chan(c, ch);
    amqp_basic_qos(c, ch, 0, prefetch, 0);
    check_rpc(amqp_get_rpc_reply(c), "qos");
    amqp_basic_consume(c, ch, amqp_cstring_bytes(QNAME[i]), amqp_empty_bytes, 0,
                       0, 0, amqp_empty_table);
    check_rpc(amqp_get_rpc_reply(c), "consume");
  }
  open_chan(c, PUB);
  amqp_confirm_select(c, PUB);
  check_rpc(amqp_get_rpc_reply(c), "confirm.select");
  atomic_fetch_add(&sh->ready, 1);

  amqp_basic_properties_t props = persistent_props();
  /* ring buffer of deliveries awaiting publish confirm (bounded by 3*prefetch) */
  size_t cap = 8 * (size_t)prefetch + 64;
  struct pending *pend = calloc(cap, sizeof *pend);
  uint64_t seq = 0, lo = 1; /* lo = lowest publish seq not yet confirmed */
  char body[512];
  long tasks = 0;

  while (!atomic_load(&sh->stop)) {
    amqp_envelope_t e;
    struct timeval tv = {0, 50000};
    amqp_maybe_release_buffers(c);
    amqp_rpc_reply_t r = amqp_consume_message(c, &e, &tv, 0);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
      int stage = e.channel - 1;
      /* parse parcel id from body */
      const char *b = e.message.body.bytes;
      const char *k = memmem(b, e.message.body.len, "\"parcel_id\":\"P", 14);
      if (!k) die("bad body");
      int parcel = atoi(k + 14);
      char pid[16];
      snprintf(pid, sizeof pid, "P%07d", parcel);
      sqlite3_bind_text(st, 1, pid, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 2, STATES[stage], -1, SQLITE_STATIC);
      sqlite3_bind_int(st, 3, stage + 1);
      sqlite3_bind_double(st, 4, wallclock());
      int rc = sqlite3_step(st);
      if (rc != SQLITE_DONE) {
        fprintf(stderr, "sqlite step rc=%d %s\n", rc, sqlite3_errmsg(db));
        die("upsert");
      }
      sqlite3_reset(st);
      tasks++;
      if (stage < 3) {
        size_t len = make_body(body, sizeof body, parcel, stage + 1);
        amqp_bytes_t bb = {len, body};
        if (amqp_basic_publish(c, PUB, amqp_empty_bytes,
                               amqp_cstring_bytes(QNAME[stage + 1]), 0, 0,
                               &props, bb) != AMQP_STATUS_OK)
          die("publish next");
        seq++;
        if (seq - lo >= cap) die("pending overflow");
        pend[seq % cap] = (struct pending){seq, e.channel, e.delivery_tag, 0};
      } else {
        if (amqp_basic_ack(c, e.channel, e.delivery_tag, 0) != AMQP_STATUS_OK)
          die("ack");
        int v = atomic_fetch_add(&sh->delivered_acked, 1) + 1;
        if (v == parcels) sh->t_done = now();
      }
      amqp_destroy_envelope(&e);
    } else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
               r.library_error == AMQP_STATUS_TIMEOUT) {
      continue;
    } else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
               r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
      amqp_frame_t f;
      if (amqp_simple_wait_frame(c, &f) != AMQP_STATUS_OK) die("wait frame");
      if (f.frame_type == AMQP_FRAME_METHOD && f.channel == PUB &&
          f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
        /* Confirms for messages routed to different queues may arrive out of
           order, so a non-multiple confirm only covers its own seq. */
        amqp_basic_ack_t *a = f.payload.method.decoded;
        uint64_t t = a->delivery_tag;
        uint64_t from = a->multiple ? lo : t;
        for (uint64_t s = from; s <= t; s++) {
          struct pending *p = &pend[s % cap];
          if (p->seq != s || p->done) continue;
          if (amqp_basic_ack(c, p->ch, p->dtag, 0) != AMQP_STATUS_OK)
            die("ack");
          p->done = 1;
        }
        while (lo <= seq && pend[lo % cap].seq == lo && pend[lo % cap].done) lo++;
      } else if (f.frame_type == AMQP_FRAME_METHOD &&
                 f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
        die("nack");
      } else if (f.frame_type == AMQP_FRAME_METHOD) {
        fprintf(stderr, "worker %d: unexpected method 0x%08x ch %d\n", id,
                f.payload.method.id, f.channel);
        die("unexpected");
      }
    } else {
      check_rpc(r, "consume_message");
    }
  }
  atomic_fetch_add(&sh->tasks_done, tasks);
  sqlite3_finalize(st);
  sqlite3_close(db);
  /* leave connection close to exit; graceful close is fine too */
  amqp_connection_close(c, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(c);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  fprintf(stderr, "worker %d pid %d tasks=%ld maxrss_kb=%ld utime=%.2f stime=%.2f\n",
          id, getpid(), tasks, ru.ru_maxrss,
          ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
          ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
  exit(0);
}

static int cmd_pipeline(int parcels, int nworkers, int prefetch,
                        const char *dbpath) {
  for (int i = 0; i < 4; i++)
    snprintf(QNAME[i], sizeof QNAME[i], "bench.raw.%s", STAGES[i]);
  /* fresh DB */
  char p2[512];
  unlink(dbpath);
  snprintf(p2, sizeof p2, "%s-wal", dbpath);
  unlink(p2);
  snprintf(p2, sizeof p2, "%s-shm", dbpath);
  unlink(p2);
  sqlite3 *db = open_db(dbpath);
  if (sqlite3_exec(db,
                   "CREATE TABLE parcels(parcel_id TEXT PRIMARY KEY, state TEXT "
                   "NOT NULL, stage_seq INTEGER NOT NULL, updated_at REAL, "
                   "retries INTEGER NOT NULL DEFAULT 0)",
                   NULL, NULL, NULL) != SQLITE_OK)
    die("create table");

  amqp_connection_state_t c = connect_broker();
  open_chan(c, 1);
  for (int i = 0; i < 4; i++) declare_q(c, 1, QNAME[i], 1);
  amqp_confirm_select(c, 1);
  check_rpc(amqp_get_rpc_reply(c), "confirm.select");

  struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  memset(sh, 0, sizeof *sh);
  pid_t pids[64];
  for (int w = 0; w < nworkers; w++) {
    pid_t p = fork();
    if (p == 0) worker(w, prefetch, dbpath, sh, parcels);
    pids[w] = p;
  }
  while (atomic_load(&sh->ready) < nworkers) usleep(1000);

  amqp_basic_properties_t props = persistent_props();
  char body[512];
  uint64_t seq = 0, confirmed = 0;
  double t0 = now();
  for (int i = 0; i < parcels; i++) {
    size_t len = make_body(body, sizeof body, i, 0);
    amqp_bytes_t b = {len, body};
    if (amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(QNAME[0]),
                           0, 0, &props, b) != AMQP_STATUS_OK)
      die("publish");
    seq++;
    if (seq % 100 == 0) confirmed = wait_confirms(c, 1, confirmed, seq);
  }
  confirmed = wait_confirms(c, 1, confirmed, seq);
  double t_enq = now() - t0;
  while (atomic_load(&sh->delivered_acked) < parcels) {
    usleep(500);
    if (now() - t0 > 300) die("pipeline timeout");
  }
  double dt = sh->t_done - t0;
  atomic_store(&sh->stop, 1);
  double peak_rss_kb = 0;
  for (int w = 0; w < nworkers; w++) {
    int status;
    waitpid(pids[w], &status, 0);
  }
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  peak_rss_kb = ru.ru_maxrss; /* max over waited-for children */

  /* verify */
  sqlite3_stmt *q;
  sqlite3_prepare_v2(db,
                     "SELECT (SELECT count(*) FROM parcels WHERE "
                     "state='delivered'), (SELECT count(*) FROM parcels)",
                     -1, &q, NULL);
  sqlite3_step(q);
  int delivered = sqlite3_column_int(q, 0), total = sqlite3_column_int(q, 1);
  sqlite3_finalize(q);
  sqlite3_close(db);
  /* queues must be empty */
  int leftover = 0;
  for (int i = 0; i < 4; i++) {
    amqp_queue_declare_ok_t *d = amqp_queue_declare(
        c, 1, amqp_cstring_bytes(QNAME[i]), 1, 0, 0, 0, amqp_empty_table);
    check_rpc(amqp_get_rpc_reply(c), "passive declare");
    leftover += d->message_count;
  }
  printf("RESULT pipeline parcels=%d workers=%d prefetch=%d sqlite_sync=%s "
         "secs=%.4f parcels_per_s=%.1f tasks_per_s=%.1f enqueue_secs=%.4f "
         "db_delivered=%d db_rows=%d leftover_msgs=%d worker_peak_rss_kb=%.0f "
         "tasks_processed=%ld worker_cpu_s=%.2f\n",
         parcels, nworkers, prefetch,
         getenv("SQLITE_SYNC") ? getenv("SQLITE_SYNC") : "NORMAL", dt,
         parcels / dt, 4 * parcels / dt, t_enq, delivered, total, leftover,
         peak_rss_kb, atomic_load(&sh->tasks_done),
         ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
             ru.ru_stime.tv_usec / 1e6);
  amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(c, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(c);
  return (delivered == parcels && total == parcels) ? 0 : 2;
}

static int cmd_cleanup(void) {
  amqp_connection_state_t c = connect_broker();
  open_chan(c, 1);
  const char *qs[] = {RAW_Q, "bench.raw.collection", "bench.raw.packaging",
                      "bench.raw.inspection", "bench.raw.delivery"};
  for (int i = 0; i < 5; i++) {
    amqp_queue_delete(c, 1, amqp_cstring_bytes(qs[i]), 0, 0);
    check_rpc(amqp_get_rpc_reply(c), "queue.delete");
  }
  amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(c, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(c);
  printf("deleted bench.raw.* queues\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) goto usage;
  if (!strcmp(argv[1], "publish") && argc == 4)
    return cmd_publish(atoi(argv[2]), atoi(argv[3]));
  if (!strcmp(argv[1], "consume") && argc == 4)
    return cmd_consume(atoi(argv[2]), atoi(argv[3]));
  if (!strcmp(argv[1], "pipeline") && argc == 6)
    return cmd_pipeline(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), argv[5]);
  if (!strcmp(argv[1], "cleanup")) return cmd_cleanup();
usage:
  fprintf(stderr,
          "usage: %s publish N BATCH | consume N PREFETCH | pipeline PARCELS "
          "WORKERS PREFETCH DB | cleanup\n",
          argv[0]);
  return 1;
}
