/* cli/pilot.c: pilot mode — parties that launch themselves (issue 7).
 *
 *   rendezvous:   ompi-server --no-daemonize -r URI         (reachable by everyone)
 *   coordinator:  mpirun -n 1 --ompi-server file:URI fedmeta coordinator \
 *                   --key coord.key --keyring ring.txt [--federation F] [every train setting]
 *   each party:   mpirun -n M --ompi-server file:URI fedmeta join \
 *                   --key acme.key --keyring ring.txt --host beauty,toys [--data DIR] [--out DIR]
 *
 * Each party's first rank opens an MPI port (MPI_Open_port) and publishes it
 * in ompi-server's name service as "F:NAME" (NAME: the name in its key file),
 * then its whole job waits in MPI_Comm_accept. The coordinator looks up the
 * names of its keyring (MPI_Lookup_name) and dials the parties it finds, one
 * at a time (MPI_Comm_connect). It dials, not the parties, because Open MPI
 * 4.1 mixes up concurrent connects to one port (two parties connecting at
 * once hung); dialing serialises them.
 *
 * After each connect, before anything else, the coordinator and the party's
 * first rank hold the admission dialogue (proto JoinOffer/JoinRequest/
 * JoinAnswer, docs/PROTOCOL.md):
 *
 *   coordinator -> party  the job id, the settings, a fresh 32-byte challenge,
 *                         the federation's platform names in index order
 *   party -> coordinator  its name and signing key, the platforms it hosts,
 *                         its rank count, and an Ed25519 signature over
 *                         (job, challenge, ranks, platforms)
 *   coordinator -> party  admitted, or refused with the reason
 *
 * A party is admitted when its key is in the coordinator's keyring under the
 * name it gives, the signature verifies, and its platforms exist and have no
 * other host. An admitted party's job merges into the job communicator
 * (MPI_Intercomm_merge) and takes part in the connects still to come; a
 * refused one is disconnected and exits with the reason; the others go on.
 * When every platform has its party, the communicator is put in a fixed order
 * (the coordinator, then the parties by their first platform: arrival order
 * changes nothing), the coordinator sends every rank the platform -> rank
 * map, and the ordinary training job runs on it (train_job): the sealed
 * handshake pinned to the keyring (which also authenticates the coordinator
 * to the parties), the rounds, the outputs. Same code, same meta-model as
 * `fedmeta train`.
 *
 * Parties take every setting from the coordinator except their own: --data,
 * --key, --keyring, --out, --verbose, --host, --federation, --join-timeout. */
#include <errno.h>
#include <mpi.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/config.h"
#include "common/fileio.h"
#include "common/keys.h"
#include "common/le.h"
#include "common/seal.h"
#include "common/source.h"
#include "common/wire.h"
#include "fedmeta.pb-c.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };
enum { TAG_OFFER = 31, TAG_REQUEST = 32, TAG_ANSWER = 33 };
#define JOIN_DOMAIN "fedmeta-join-v1"
#define CHALLENGE_BYTES 32
#define ADMIT_SECONDS 60.0      /* a connected party must answer within this */
#define PILOT_MSG_MAX (1u << 20)
#define MAX_PARTY_RANKS 4096
#define MAX_COMMS 4100          /* job communicators a rank holds (one per admitted party) */

/* ---- watchdog: MPI_Comm_accept / _connect cannot time out ---------------- */

static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static int wd_done;
static char wd_who[32], wd_state[768];
static double wd_until;

static void wd_status(const char *fmt, ...) {
  pthread_mutex_lock(&wd_mu);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(wd_state, sizeof wd_state, fmt, ap);
  va_end(ap);
  pthread_mutex_unlock(&wd_mu);
}

static void *watchdog(void *arg) {
  (void)arg;
  for (;;) {
    wire_sleep(0.25);
    pthread_mutex_lock(&wd_mu);
    int done = wd_done;
    char state[sizeof wd_state];
    memcpy(state, wd_state, sizeof state);
    pthread_mutex_unlock(&wd_mu);
    if (done) return NULL;
    if (wire_now() >= wd_until) {
      fprintf(stderr, "fedmeta %s: gave up at the --join-timeout: %s\n", wd_who, state);
      fflush(stderr);
      _exit(EXIT_RUNTIME);
    }
  }
}

static void wd_start(const char *who, double seconds) {
  snprintf(wd_who, sizeof wd_who, "%s", who);
  wd_until = wire_now() + seconds;
  pthread_t t;
  if (pthread_create(&t, NULL, watchdog, NULL) == 0) pthread_detach(t);
}

static void wd_stop(void) {
  pthread_mutex_lock(&wd_mu);
  wd_done = 1;
  pthread_mutex_unlock(&wd_mu);
}

/* ---- messages over the intercommunicator (rank 0 <-> remote rank 0) ------ */

/* Probed first, not matched: a message over the size limit stays queued, unread. */
static int ic_recv(MPI_Comm inter, int tag, uint8_t **buf, size_t *len, double deadline, fm_err *err) {
  MPI_Status st;
  if (wire_wait(inter, 0, tag, deadline - wire_now(), NULL, &st)) return fm_fail(err, "nothing within the time allowed");
  int n = 0;
  MPI_Get_count(&st, MPI_BYTE, &n);
  if (n < 0 || (unsigned)n > PILOT_MSG_MAX) return fm_fail(err, "a message of %d bytes (at most %u)", n, PILOT_MSG_MAX);
  *buf = malloc((size_t)n + 1);
  if (!*buf) return fm_fail(err, "out of memory");
  MPI_Recv(*buf, n, MPI_BYTE, 0, tag, inter, MPI_STATUS_IGNORE);
  *len = (size_t)n;
  return 0;
}

static int ic_send(MPI_Comm inter, int tag, const ProtobufCMessage *m, fm_err *err) {
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *b = malloc(n ? n : 1);
  if (!b) return fm_fail(err, "out of memory");
  protobuf_c_message_pack(m, b);
  int rc = MPI_Send(b, (int)n, MPI_BYTE, 0, tag, inter);
  free(b);
  return rc == MPI_SUCCESS ? 0 : fm_fail(err, "MPI_Send failed (code %d)", rc);
}

/* The bytes a party signs: job | challenge | ranks | n | hosted[n] (little-endian). */
static uint8_t *join_signed(uint64_t job, const uint8_t *challenge, uint32_t ranks, const uint32_t *hosted, size_t n,
                            size_t *len) {
  *len = 8 + CHALLENGE_BYTES + 4 + 4 + 4 * n;
  uint8_t *b = malloc(*len), *p = b;
  if (!b) return NULL;
  le_put64(p, job), p += 8;
  memcpy(p, challenge, CHALLENGE_BYTES), p += CHALLENGE_BYTES;
  le_put32(p, ranks), p += 4;
  le_put32(p, (uint32_t)n), p += 4;
  for (size_t i = 0; i < n; i++) le_put32(p + 4 * i, hosted[i]);
  return b;
}

static void hex8(char *out, const uint8_t *pk) {
  for (int i = 0; i < 8; i++) snprintf(out + 2 * i, 3, "%02x", pk[i]);
}

/* The settings as "key = value" lines (malloc'd). */
static char *settings_text(const fm_config *c) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return NULL;
  config_write(c, CFG_TRAIN, 0, f);
  fclose(f);
  return text;
}

/* ---- the coordinator's side ---------------------------------------------- */

typedef struct party {
  char name[KEYS_NAME_MAX + 1];
  uint32_t ranks;
  uint32_t *hosted; /* ascending */
  uint32_t n_hosted;
} party_t;

typedef struct coordpilot {
  const fm_config *c;
  uint64_t job;
  char *settings;
  source_t src;
  keys_keyring_t kr;
  int *owner;       /* (np) party index hosting each platform, -1 none yet */
  uint32_t unclaimed;
  party_t *party;
  uint32_t n_party;
  char self[KEYS_NAME_MAX + 1];        /* the coordinator's own name in the keyring */
  char (*refused)[MPI_MAX_PORT_NAME + 1]; /* ports of parties refused: not dialled again */
  size_t n_refused;
} coordpilot_t;

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Checks a JoinRequest; fills *pt on success. Returns 0 admitted, -1 with the reason. */
static int check_request(coordpilot_t *cp, const Fedmeta__JoinRequest *rq, const uint8_t *challenge, party_t *pt,
                         fm_err *why) {
  if (rq->sign_pk.len != SEAL_SIGN_PKBYTES || rq->signature.len != SEAL_SIGBYTES)
    return fm_fail(why, "a malformed JoinRequest (key or signature of the wrong size)");
  const keys_entry_t *e = keys_keyring_find_sign(&cp->kr, rq->sign_pk.data);
  if (!e) {
    char h[17];
    hex8(h, rq->sign_pk.data);
    return fm_fail(why, "its signing key (%s...) is not in the keyring %s", h, cp->c->keyring);
  }
  if (strcmp(e->name, rq->name))
    return fm_fail(why, "it calls itself '%.64s' but its key is '%s''s in the keyring", rq->name, e->name);
  size_t n = rq->n_hosted, len;
  uint8_t *msg = join_signed(cp->job, challenge, rq->ranks, rq->hosted, n, &len);
  fm_err ignore = {{0}};
  int bad = !msg || seal_verify(rq->signature.data, rq->sign_pk.data, JOIN_DOMAIN, msg, len, &ignore) != 0;
  free(msg);
  if (bad) return fm_fail(why, "its signature over the challenge does not verify");
  for (uint32_t i = 0; i < cp->n_party; i++)
    if (!strcmp(cp->party[i].name, e->name)) return fm_fail(why, "a party named '%s' has already joined", e->name);
  if (rq->ranks < 1 || rq->ranks > MAX_PARTY_RANKS)
    return fm_fail(why, "%u MPI ranks (1..%d allowed)", rq->ranks, MAX_PARTY_RANKS);
  if (n == 0) return fm_fail(why, "it hosts no platform");
  for (size_t i = 0; i < n; i++) {
    uint32_t p = rq->hosted[i];
    if (p >= cp->src.n_platforms) return fm_fail(why, "platform index %u does not exist (%u platforms)", p, cp->src.n_platforms);
    if (cp->owner[p] >= 0)
      return fm_fail(why, "platform %s is already hosted by party '%s'", cp->src.names[p], cp->party[cp->owner[p]].name);
    for (size_t j = 0; j < i; j++)
      if (rq->hosted[j] == p) return fm_fail(why, "platform %s listed twice", cp->src.names[p]);
  }
  memset(pt, 0, sizeof *pt);
  snprintf(pt->name, sizeof pt->name, "%s", e->name);
  pt->ranks = rq->ranks;
  pt->n_hosted = (uint32_t)n;
  pt->hosted = malloc(sizeof(uint32_t) * n);
  if (!pt->hosted) return fm_fail(why, "out of memory");
  memcpy(pt->hosted, rq->hosted, sizeof(uint32_t) * n);
  qsort(pt->hosted, n, sizeof(uint32_t), cmp_u32);
  return 0;
}

/* The admission dialogue with a connected party; 1 admitted, 0 refused. */
static int admit(coordpilot_t *cp, MPI_Comm inter, const char *port) {
  uint8_t challenge[CHALLENGE_BYTES];
  randombytes_buf(challenge, sizeof challenge);
  Fedmeta__JoinOffer of = FEDMETA__JOIN_OFFER__INIT;
  of.job = cp->job;
  of.config = cp->settings;
  of.challenge.data = challenge;
  of.challenge.len = sizeof challenge;
  char **names = malloc(sizeof(char *) * (cp->src.n_platforms ? cp->src.n_platforms : 1));
  fm_err err = {{0}}, why = {{0}};
  if (!names) {
    fprintf(stderr, "fedmeta coordinator: out of memory\n");
    return 0;
  }
  for (uint32_t p = 0; p < cp->src.n_platforms; p++) names[p] = cp->src.names[p];
  of.platforms = names;
  of.n_platforms = cp->src.n_platforms;
  int sent = ic_send(inter, TAG_OFFER, &of.base, &err);
  free(names);
  uint8_t *buf = NULL;
  size_t len = 0;
  Fedmeta__JoinRequest *rq = NULL;
  party_t pt;
  int ok = 0;
  if (sent || ic_recv(inter, TAG_REQUEST, &buf, &len, wire_now() + ADMIT_SECONDS, &err)) {
    fm_fail(&why, "no JoinRequest (%s)", err.msg);
  } else if (!(rq = fedmeta__join_request__unpack(NULL, len, buf))) {
    fm_fail(&why, "a JoinRequest that does not parse");
  } else if (rq->name[0] && !strncmp(rq->name, "withdraw:", 9)) {
    fm_fail(&why, "the party withdrew: %.400s", rq->name + 9);
  } else if (check_request(cp, rq, challenge, &pt, &why) == 0) {
    ok = 1;
  }
  Fedmeta__JoinAnswer an = FEDMETA__JOIN_ANSWER__INIT;
  an.admitted = ok;
  an.reason = ok ? "" : why.msg;
  if (!sent) ic_send(inter, TAG_ANSWER, &an.base, &err);
  if (ok) {
    party_t *np = realloc(cp->party, sizeof *np * (cp->n_party + 1));
    if (!np) {
      free(pt.hosted);
      ok = 0;
    } else {
      cp->party = np;
      for (uint32_t i = 0; i < pt.n_hosted; i++) cp->owner[pt.hosted[i]] = (int)cp->n_party;
      cp->unclaimed -= pt.n_hosted;
      cp->party[cp->n_party++] = pt;
      printf("fedmeta coordinator: party %s admitted (%u rank%s):", pt.name, pt.ranks, pt.ranks == 1 ? "" : "s");
      for (uint32_t i = 0; i < pt.n_hosted; i++) printf("%s %s", i ? "," : "", cp->src.names[pt.hosted[i]]);
      printf("; %u platform%s still without a party\n", cp->unclaimed, cp->unclaimed == 1 ? "" : "s");
      fflush(stdout);
    }
  } else {
    fprintf(stderr, "fedmeta coordinator: a party was refused: %s\n", why.msg);
    fflush(stderr);
    void *more = realloc(cp->refused, sizeof *cp->refused * (cp->n_refused + 1));
    if (more) {
      cp->refused = more;
      snprintf(cp->refused[cp->n_refused++], sizeof *cp->refused, "%s", port);
    }
  }
  if (rq) fedmeta__join_request__free_unpacked(rq, NULL);
  free(buf);
  return ok;
}

/* Which platforms still lack a party (for the watchdog's message). */
static void coord_status(const coordpilot_t *cp) {
  char list[600];
  size_t off = 0;
  list[0] = 0;
  for (uint32_t p = 0; p < cp->src.n_platforms && off < sizeof list - 80; p++)
    if (cp->owner[p] < 0) off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "", cp->src.names[p]);
  wd_status("%u part%s joined; %u platform%s still without a party: %s", cp->n_party, cp->n_party == 1 ? "y" : "ies",
            cp->unclaimed, cp->unclaimed == 1 ? "" : "s", list);
}

/* ---- shared: the accepts, the order, the map ----------------------------- */

typedef struct comms {
  MPI_Comm c[MAX_COMMS];
  int n;
} comms_t;

/* MPI_Bcast that sleeps while it waits (the coordinator may look for
 * parties for minutes; the ranks already admitted must not spin meanwhile). */
static void polite_bcast(int *v, MPI_Comm comm) {
  MPI_Request rq;
  MPI_Ibcast(v, 1, MPI_INT, 0, comm, &rq);
  double pause = 50e-6;
  for (;;) {
    int done = 0;
    MPI_Test(&rq, &done, MPI_STATUS_IGNORE);
    if (done) return;
    wire_sleep(pause);
    if (pause < 20e-3) pause *= 2;
  }
}

/* The service name of party `name` in ompi-server's name service. */
static void service_name(char *out, size_t cap, const char *federation, const char *name) {
  snprintf(out, cap, "%s:%s", federation, name);
}

/* The coordinator: the next party of the keyring that has published a port
 * (not one refused before). Waits (the watchdog ends a wait too long). */
static void find_party(coordpilot_t *cp, char *port) {
  for (;;) {
    for (size_t i = 0; i < cp->kr.n; i++) {
      const char *name = cp->kr.e[i].name;
      int joined = !strcmp(name, cp->self);
      for (uint32_t k = 0; k < cp->n_party && !joined; k++) joined = !strcmp(cp->party[k].name, name);
      if (joined) continue;
      char svc[KEYS_NAME_MAX + 80];
      service_name(svc, sizeof svc, cp->c->federation, name);
      if (MPI_Lookup_name(svc, MPI_INFO_NULL, port) != MPI_SUCCESS) continue;
      int seen = 0;
      for (size_t k = 0; k < cp->n_refused && !seen; k++) seen = !strcmp(cp->refused[k], port);
      if (!seen) return;
    }
    wire_sleep(0.25);
  }
}

/* Every rank of *comm (rank 0: the coordinator, which decides) takes part in
 * the connects until the coordinator says every platform has its party. */
static void dial_loop(MPI_Comm *comm, comms_t *held, coordpilot_t *cp) {
  char port[MPI_MAX_PORT_NAME + 1] = {0};
  for (;;) {
    int go = cp ? cp->unclaimed > 0 : 0;
    if (cp) {
      coord_status(cp);
      if (go) find_party(cp, port);
    }
    polite_bcast(&go, *comm);
    if (!go) return;
    MPI_Comm inter, merged;
    MPI_Comm_connect(port, MPI_INFO_NULL, 0, *comm, &inter);
    int ok = cp ? admit(cp, inter, port) : 0;
    MPI_Bcast(&ok, 1, MPI_INT, 0, *comm);
    if (!ok) {
      MPI_Comm_disconnect(&inter);
      continue;
    }
    MPI_Intercomm_merge(inter, 0, &merged);
    MPI_Comm_free(&inter);
    held->c[held->n++] = merged;
    *comm = merged;
  }
}

/* The job communicator in a fixed order: key 0 for the coordinator, else
 * 1 + first platform x MAX_PARTY_RANKS + the rank within the party's job. */
static MPI_Comm ordered(MPI_Comm comm, comms_t *held, int key) {
  MPI_Comm out;
  MPI_Comm_split(comm, 0, key, &out);
  held->c[held->n++] = out;
  return out;
}

/* Frees the communicators. Not MPI_Comm_disconnect: in Open MPI 4.1 its
 * fence hangs once any party was refused earlier (the fence waits for the
 * refused job too); MPI_Finalize then ends each job by itself. */
static void release(comms_t *held) {
  while (held->n > 0) MPI_Comm_free(&held->c[--held->n]);
}

/* ---- fedmeta coordinator ------------------------------------------------- */

int cmd_coordinator(int argc, char **argv) {
  int rank = 0, size = 1;
  fm_config c;
  int r = cli_mpi_start(&c, CFG_TRAIN | CFG_COORD, &argc, &argv, &rank, &size);
  if (r >= 0) return r;
  if (!c.data[0]) c.synthetic = 1;
  const char *usage = NULL;
  if (size != 1) usage = "runs as one process (mpirun -n 1); the parties bring their own ranks with fedmeta join";
  else if (!c.keyring[0]) usage = "--keyring FILE is required: it decides which parties may join (and --key, the coordinator's own)";
  else if (!strcmp(c.algo, "central")) usage = "--algo central pools every platform's data on one rank: not possible between companies";
  if (usage) {
    fprintf(stderr, "fedmeta coordinator: %s\n", usage);
    MPI_Finalize();
    return EXIT_USAGE;
  }
  coordpilot_t cp;
  memset(&cp, 0, sizeof cp);
  cp.c = &c;
  cp.job = train_job_id(&c);
  fm_err err = {{0}};
  int code = EXIT_RUNTIME;
  comms_t *held = calloc(1, sizeof *held);
  seal_identity_t id;
  memset(&id, 0, sizeof id);
  if (!held || seal_init(&err) || keys_read_keyring(&cp.kr, c.keyring, &err) ||
      keys_read_secret(&id, cp.self, sizeof cp.self, c.key, &err) || source_open(&cp.src, &c, &err)) {
    fprintf(stderr, "fedmeta coordinator: %s\n", held ? err.msg : "out of memory");
    goto done;
  }
  seal_identity_free(&id);
  cp.settings = settings_text(&c);
  cp.owner = malloc(sizeof(int) * cp.src.n_platforms);
  if (!cp.settings || !cp.owner) {
    fprintf(stderr, "fedmeta coordinator: out of memory\n");
    goto done;
  }
  for (uint32_t p = 0; p < cp.src.n_platforms; p++) cp.owner[p] = -1;
  cp.unclaimed = cp.src.n_platforms;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN); /* a name not (yet) published */
  printf("fedmeta coordinator: job %016llx, %u platforms; looking for the parties of %s's keyring as '%s:NAME'\n",
         (unsigned long long)cp.job, cp.src.n_platforms, c.keyring, c.federation);
  fflush(stdout);
  wd_start("coordinator", c.join_timeout);
  MPI_Comm comm = MPI_COMM_WORLD;
  dial_loop(&comm, held, &cp);

  /* the fixed order, and the platform -> rank map it implies */
  MPI_Comm job = ordered(comm, held, 0);
  int jsize = 1;
  MPI_Comm_size(job, &jsize);
  uint32_t *order = malloc(sizeof(uint32_t) * (cp.n_party ? cp.n_party : 1));
  int *hosts = malloc(sizeof(int) * cp.src.n_platforms);
  int bad = !order || !hosts;
  for (uint32_t i = 0; !bad && i < cp.n_party; i++) order[i] = i;
  for (uint32_t i = 1; !bad && i < cp.n_party; i++) /* parties by their first platform */
    for (uint32_t j = i; j > 0 && cp.party[order[j - 1]].hosted[0] > cp.party[order[j]].hosted[0]; j--) {
      uint32_t t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  int base = 1;
  for (uint32_t k = 0; !bad && k < cp.n_party; k++) {
    const party_t *pt = &cp.party[order[k]];
    for (uint32_t i = 0; i < pt->n_hosted; i++) hosts[pt->hosted[i]] = base + (int)(i % pt->ranks);
    base += (int)pt->ranks;
  }
  if (!bad && base != jsize) {
    fprintf(stderr, "fedmeta coordinator: the parties said they bring %d ranks but %d joined\n", base - 1, jsize - 1);
    bad = 1;
  }
  int np = (int)cp.src.n_platforms;
  MPI_Bcast(&bad, 1, MPI_INT, 0, job);
  if (!bad) {
    MPI_Bcast(&np, 1, MPI_INT, 0, job);
    MPI_Bcast(hosts, np, MPI_INT, 0, job);
    wd_stop();
    code = train_job(&c, job, hosts);
  }
  free(order);
  free(hosts);
  release(held);
done:
  free(cp.refused);
  for (uint32_t i = 0; i < cp.n_party; i++) free(cp.party[i].hosted);
  free(cp.party);
  free(cp.owner);
  free(cp.settings);
  keys_keyring_free(&cp.kr);
  source_close(&cp.src);
  free(held);
  MPI_Finalize();
  return code;
}

/* ---- fedmeta join -------------------------------------------------------- */

/* The party's settings: the coordinator's, then its own (see the header). */
static int party_settings(fm_config *c, const fm_config *own, const char *text, fm_err *err) {
  config_defaults(c);
  if (config_parse_text(c, CFG_TRAIN, text, "the coordinator's settings", err)) return -1;
  if (own->data[0]) {
    snprintf(c->data, sizeof c->data, "%s", own->data);
    c->synthetic = 0;
  } else if (c->data[0] && !c->synthetic) {
    return fm_fail(err, "the coordinator trains on prepared data (its --data %s): give --data DIR, your copy with your platforms' shards", c->data);
  }
  snprintf(c->key, sizeof c->key, "%s", own->key);
  snprintf(c->keyring, sizeof c->keyring, "%s", own->keyring);
  snprintf(c->out, sizeof c->out, "%s", own->out);
  if (c->resume[0]) snprintf(c->resume, sizeof c->resume, "%s", own->out); /* its platforms' state is in its own folder */
  c->verbose = own->verbose;
  return config_check(c, CFG_TRAIN, err);
}

/* Splits "a,b,c" into indices of src's platforms. */
static int host_list(const source_t *src, const char *list, uint32_t **out, uint32_t *n, fm_err *err) {
  *n = 0;
  *out = malloc(sizeof(uint32_t) * (src->n_platforms ? src->n_platforms : 1));
  if (!*out) return fm_fail(err, "out of memory");
  char buf[sizeof ((fm_config *)0)->host];
  snprintf(buf, sizeof buf, "%s", list);
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ') t++;
    int p = source_find(src, t);
    if (p < 0) return fm_fail(err, "--host: no platform '%s' in the federation", t);
    for (uint32_t i = 0; i < *n; i++)
      if ((*out)[i] == (uint32_t)p) return fm_fail(err, "--host: '%s' given twice", t);
    if (*n >= src->n_platforms) break;
    (*out)[(*n)++] = (uint32_t)p;
  }
  if (!*n) return fm_fail(err, "--host: no platform named");
  qsort(*out, *n, sizeof(uint32_t), cmp_u32);
  return 0;
}

/* The first rank's half of the admission. Returns 1 admitted, 0 refused
 * (reason in err), -1 a local failure (reason in err; the coordinator is told). */
static int ask(MPI_Comm inter, const fm_config *own, int ranks, double deadline, char **settings, uint32_t **hosted,
               uint32_t *n_hosted, fm_err *err) {
  uint8_t *buf = NULL;
  size_t len = 0;
  Fedmeta__JoinOffer *of = NULL;
  fm_config c;
  source_t src;
  memset(&src, 0, sizeof src);
  seal_identity_t id;
  memset(&id, 0, sizeof id);
  char name[KEYS_NAME_MAX + 1] = {0}, withdraw[600];
  int rc = -1, local = 0;
  if (ic_recv(inter, TAG_OFFER, &buf, &len, deadline, err)) {
    fm_wrap(err, "no offer from the coordinator");
    goto out; /* nothing to answer to */
  }
  if (!(of = fedmeta__join_offer__unpack(NULL, len, buf)) || of->challenge.len != CHALLENGE_BYTES) {
    fm_fail(err, "the coordinator's offer does not parse");
    goto out;
  }
  local = 1; /* from here on the coordinator waits for our answer */
  if (party_settings(&c, own, of->config, err) || seal_init(err) ||
      keys_read_secret(&id, name, sizeof name, own->key, err) || source_open(&src, &c, err))
    goto tell;
  if (src.n_platforms != of->n_platforms) {
    fm_fail(err, "the federation has %zu platforms, your data %u: not the same federation", of->n_platforms, src.n_platforms);
    goto tell;
  }
  for (uint32_t p = 0; p < src.n_platforms; p++)
    if (strcmp(src.names[p], of->platforms[p])) {
      fm_fail(err, "platform %u is '%s' in the federation but '%s' in your data", p, of->platforms[p], src.names[p]);
      goto tell;
    }
  if (train_job_id(&c) != of->job) {
    fm_fail(err, "the settings give job %016llx, the coordinator says %016llx", (unsigned long long)train_job_id(&c),
            (unsigned long long)of->job);
    goto tell;
  }
  if (host_list(&src, own->host, hosted, n_hosted, err)) goto tell;
  size_t mlen;
  uint8_t *msg = join_signed(of->job, of->challenge.data, (uint32_t)ranks, *hosted, *n_hosted, &mlen);
  uint8_t sig[SEAL_SIGBYTES];
  if (!msg || seal_sign(sig, &id, JOIN_DOMAIN, msg, mlen, err)) {
    free(msg);
    goto tell;
  }
  free(msg);
  Fedmeta__JoinRequest rq = FEDMETA__JOIN_REQUEST__INIT;
  rq.name = name;
  rq.sign_pk.data = id.sign_pk;
  rq.sign_pk.len = SEAL_SIGN_PKBYTES;
  rq.signature.data = sig;
  rq.signature.len = sizeof sig;
  rq.hosted = *hosted;
  rq.n_hosted = *n_hosted;
  rq.ranks = (uint32_t)ranks;
  local = 0;
  if (ic_send(inter, TAG_REQUEST, &rq.base, err)) goto out;
  free(buf);
  buf = NULL;
  if (ic_recv(inter, TAG_ANSWER, &buf, &len, wire_now() + ADMIT_SECONDS, err)) {
    fm_wrap(err, "no answer from the coordinator");
    goto out;
  }
  Fedmeta__JoinAnswer *an = fedmeta__join_answer__unpack(NULL, len, buf);
  if (!an) {
    fm_fail(err, "the coordinator's answer does not parse");
    goto out;
  }
  if (an->admitted) {
    *settings = strdup(of->config);
    rc = *settings ? 1 : -1;
  } else {
    fm_fail(err, "refused by the coordinator: %.400s", an->reason);
    rc = 0;
  }
  fedmeta__join_answer__free_unpacked(an, NULL);
  goto out;
tell:
  if (local) { /* withdraw, so the coordinator goes on with the others */
    Fedmeta__JoinRequest wd = FEDMETA__JOIN_REQUEST__INIT;
    snprintf(withdraw, sizeof withdraw, "withdraw:%s", err->msg);
    wd.name = withdraw;
    fm_err e2 = {{0}};
    if (ic_send(inter, TAG_REQUEST, &wd.base, &e2) == 0) {
      free(buf);
      buf = NULL;
      ic_recv(inter, TAG_ANSWER, &buf, &len, wire_now() + ADMIT_SECONDS, &e2);
    }
  }
out:
  if (of) fedmeta__join_offer__free_unpacked(of, NULL);
  free(buf);
  seal_identity_free(&id);
  source_close(&src);
  return rc;
}

int cmd_join(int argc, char **argv) {
  int wrank = 0, wsize = 1;
  fm_config own;
  int r = cli_mpi_start(&own, CFG_JOIN, &argc, &argv, &wrank, &wsize);
  if (r >= 0) return r;
  const char *usage = NULL;
  if (!own.key[0] || !own.keyring[0]) usage = "--key (your secret key file) and --keyring (every party's public keys, the coordinator's among them) are required";
  else if (!own.host[0]) usage = "--host NAMES is required: the platforms you host, comma-separated";
  if (usage || wsize > MAX_PARTY_RANKS) {
    if (wrank == 0) fprintf(stderr, "fedmeta join: %s\n", usage ? usage : "too many ranks");
    MPI_Finalize();
    return EXIT_USAGE;
  }
  fm_err err = {{0}};
  /* the first rank opens a port and publishes it under this party's name */
  char port[MPI_MAX_PORT_NAME + 1] = {0}, name[KEYS_NAME_MAX + 1] = {0}, svc[KEYS_NAME_MAX + 80] = {0};
  int status = 1;
  if (wrank == 0) {
    seal_identity_t id;
    memset(&id, 0, sizeof id);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (seal_init(&err) || keys_read_secret(&id, name, sizeof name, own.key, &err)) {
      status = -1;
    } else if (MPI_Open_port(MPI_INFO_NULL, port) != MPI_SUCCESS) {
      fm_fail(&err, "MPI_Open_port failed");
      status = -1;
    } else {
      service_name(svc, sizeof svc, own.federation, name);
      if (MPI_Publish_name(svc, MPI_INFO_NULL, port) != MPI_SUCCESS) {
        fm_fail(&err, "cannot publish '%s': is mpirun given --ompi-server file:URI of the federation's ompi-server?", svc);
        MPI_Close_port(port);
        status = -1;
      }
    }
    seal_identity_free(&id);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
  }
  MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (status < 0) {
    if (wrank == 0) fprintf(stderr, "fedmeta join: %s\n", err.msg);
    MPI_Finalize();
    return EXIT_RUNTIME;
  }
  if (wrank == 0) {
    printf("fedmeta join: published as '%s'; waiting for the coordinator to dial\n", svc);
    fflush(stdout);
  }
  wd_start("join", own.join_timeout);
  wd_status("the coordinator never dialled '%s' (is '%s' in its keyring, and both given the same ompi-server?)", svc, name);
  MPI_Comm inter;
  MPI_Comm_accept(port, MPI_INFO_NULL, 0, MPI_COMM_WORLD, &inter);
  if (wrank == 0) {
    MPI_Unpublish_name(svc, MPI_INFO_NULL, port);
    MPI_Close_port(port);
  }
  double deadline = wire_now() + ADMIT_SECONDS;
  wd_status("connected, but the coordinator did not answer");
  char *settings = NULL;
  uint32_t *hosted = NULL, n_hosted = 0;
  if (wrank == 0) status = ask(inter, &own, wsize, deadline, &settings, &hosted, &n_hosted, &err);
  /* every rank of the party learns the outcome and the settings */
  int slen = settings ? (int)strlen(settings) + 1 : 0;
  MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Bcast(&slen, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (status == 1) {
    if (wrank != 0) settings = calloc((size_t)slen, 1);
    MPI_Bcast(settings, slen, MPI_CHAR, 0, MPI_COMM_WORLD);
    MPI_Bcast(&n_hosted, 1, MPI_UINT32_T, 0, MPI_COMM_WORLD);
    if (wrank != 0) hosted = malloc(sizeof(uint32_t) * n_hosted);
    MPI_Bcast(hosted, (int)n_hosted, MPI_UINT32_T, 0, MPI_COMM_WORLD);
  }
  if (status != 1) {
    if (wrank == 0) fprintf(stderr, "fedmeta join: %s\n", err.msg);
    MPI_Comm_disconnect(&inter);
    free(settings);
    free(hosted);
    MPI_Finalize();
    return EXIT_RUNTIME;
  }
  if (wrank == 0) {
    printf("fedmeta join: admitted; waiting for the other parties\n");
    fflush(stdout);
  }
  wd_status("admitted, but the other parties did not all join");
  comms_t *held = calloc(1, sizeof *held);
  MPI_Comm comm;
  MPI_Intercomm_merge(inter, 1, &comm);
  MPI_Comm_free(&inter);
  held->c[held->n++] = comm;
  dial_loop(&comm, held, NULL);
  MPI_Comm job = ordered(comm, held, 1 + (int)hosted[0] * MAX_PARTY_RANKS + wrank);

  int bad = 0, np = 0, code = EXIT_RUNTIME;
  MPI_Bcast(&bad, 1, MPI_INT, 0, job);
  int *hosts = NULL;
  fm_config c;
  if (!bad) {
    MPI_Bcast(&np, 1, MPI_INT, 0, job);
    hosts = malloc(sizeof(int) * (size_t)(np > 0 ? np : 1));
    MPI_Bcast(hosts, np, MPI_INT, 0, job);
    wd_stop();
    int jrank = 0;
    MPI_Comm_rank(job, &jrank);
    /* the map may give this rank only platforms of its own party */
    for (int p = 0; p < np && !bad; p++) {
      int mine = 0;
      for (uint32_t i = 0; i < n_hosted; i++) mine |= hosted[i] == (uint32_t)p;
      if (hosts[p] == jrank && !mine) {
        fprintf(stderr, "fedmeta join: the coordinator assigned platform %d, not ours, to this rank\n", p);
        bad = 1;
      }
    }
    if (!bad && party_settings(&c, &own, settings, &err)) {
      fprintf(stderr, "fedmeta join: %s\n", err.msg);
      bad = 1;
    }
    if (bad) { /* the job cannot go on without this rank: end it for everyone */
      fflush(stderr);
      MPI_Abort(job, EXIT_RUNTIME);
    }
    code = train_job(&c, job, hosts);
  }
  free(hosts);
  free(settings);
  free(hosted);
  release(held);
  MPI_Finalize();
  return code;
}
