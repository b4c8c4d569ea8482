/*
 * boxyard spawner: starts short host commands for the server with
 * posix_spawn, so that the server's own large process never forks.
 *
 * Node's child_process forks the whole server (a few hundred MiB of page
 * tables) for every command; after each fork every page the server or its
 * garbage collector writes takes a copy-on-write fault and a TLB shootdown on
 * every CPU. In a 20-box burst on two cores a third of the server's CPU went
 * to that (perf, bench/README.md). posix_spawn here uses CLONE_VM|CLONE_VFORK:
 * no copy of anything.
 *
 * One spawner per server process, on a pipe pair (its stdin and stdout), many
 * commands at once. All integers are 32-bit little-endian.
 *   request:  len, id, flags, timeout_ms (-1: none), max_output, argc, envc,
 *             then NUL-ended strings: file, argv[argc], env[envc],
 *             [cwd if F_CWD], [output file if F_OUTFILE],
 *             then input_len and the input (stdin; /dev/null without F_INPUT).
 *             len counts everything after itself.
 *   reply:    len, id, kind (0 exited, 1 killed by a signal, 2 could not
 *             start), value (exit code, signal number, errno), truncated,
 *             out_len, err_len, stdout bytes, stderr bytes, then the errno's
 *             name and message (NUL-ended) for kind 2.
 * A reply comes once the command has exited and both its output pipes have
 * ended (as Node's 'close'). The input is wiped once written (a secret's value
 * may travel this way). The spawner exits when its stdin ends; commands still
 * running are left to run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define F_INPUT 1
#define F_DETACHED 2
#define F_OUTFILE 4
#define F_CWD 8
#define MAX_JOBS 256
#define MAX_REQUEST (256u << 20)

struct out {
  char *buf;
  size_t len, cap, seen;
};

static struct job {
  pid_t pid; /* 0: free */
  uint32_t id;
  int exited, status;
  int in_fd, out_fd, err_fd;
  char *in;
  size_t in_len, in_off;
  uint32_t max;
  int64_t deadline; /* -1: none */
  struct out out, err;
} jobs[MAX_JOBS];

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put32(char *p, uint32_t v) {
  p[0] = (char)v;
  p[1] = (char)(v >> 8);
  p[2] = (char)(v >> 16);
  p[3] = (char)(v >> 24);
}

static uint32_t get32(const char *p) {
  const unsigned char *u = (const unsigned char *)p;
  return (uint32_t)u[0] | ((uint32_t)u[1] << 8) | ((uint32_t)u[2] << 16) | ((uint32_t)u[3] << 24);
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(0); /* the server is gone */
    p += w;
    n -= (size_t)w;
  }
}

static void reply(uint32_t id, int kind, int value, int truncated, const struct out *o, const struct out *e) {
  const char *name = "", *msg = "";
  if (kind == 2) {
    name = strerrorname_np(value);
    if (name == NULL) name = "";
    msg = strerror(value);
  }
  size_t ol = o ? o->len : 0, el = e ? e->len : 0;
  size_t nl = kind == 2 ? strlen(name) + 1 + strlen(msg) + 1 : 0;
  char head[32];
  put32(head, (uint32_t)(24 + ol + el + nl));
  put32(head + 4, id);
  put32(head + 8, (uint32_t)kind);
  put32(head + 12, (uint32_t)value);
  put32(head + 16, (uint32_t)truncated);
  put32(head + 20, (uint32_t)ol);
  put32(head + 24, (uint32_t)el);
  write_all(1, head, 28);
  if (ol) write_all(1, o->buf, ol);
  if (el) write_all(1, e->buf, el);
  if (kind == 2) {
    write_all(1, name, strlen(name) + 1);
    write_all(1, msg, strlen(msg) + 1);
  }
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void wipe_input(struct job *j) {
  if (j->in != NULL) {
    explicit_bzero(j->in, j->in_len);
    free(j->in);
  }
  j->in = NULL;
  j->in_len = j->in_off = 0;
}

/* Reads what a pipe has: kept up to max, the rest counted and dropped; at its end (or an error) closed. */
static void drain(int *fd, struct out *o, uint32_t max) {
  char sink[65536];
  for (;;) {
    char *to = sink;
    size_t want = sizeof sink;
    if (o->len < max) {
      if (o->cap < max && o->len == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 65536;
        if (cap > max) cap = max;
        char *b = realloc(o->buf, cap);
        if (b == NULL) _exit(1);
        o->buf = b;
        o->cap = cap;
      }
      to = o->buf + o->len;
      want = o->cap - o->len;
    }
    ssize_t n = read(*fd, to, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      close_fd(fd);
      return;
    }
    if (to != sink) o->len += (size_t)n;
    o->seen += (size_t)n;
  }
}

static void finish_if_done(struct job *j) {
  if (!j->exited || j->out_fd >= 0 || j->err_fd >= 0) return;
  close_fd(&j->in_fd);
  wipe_input(j);
  int truncated = j->out.seen > j->max || j->err.seen > j->max;
  if (WIFSIGNALED(j->status))
    reply(j->id, 1, WTERMSIG(j->status), truncated, &j->out, &j->err);
  else
    reply(j->id, 0, WEXITSTATUS(j->status), truncated, &j->out, &j->err);
  free(j->out.buf);
  free(j->err.buf);
  memset(j, 0, sizeof *j);
  j->in_fd = j->out_fd = j->err_fd = -1;
}

/* Starts one request's command; a failure is answered at once. */
static void start(const char *req, uint32_t len) {
  if (len < 24) _exit(1);
  uint32_t id = get32(req), flags = get32(req + 4);
  int32_t timeout = (int32_t)get32(req + 8);
  uint32_t max = get32(req + 12), argc = get32(req + 16), envc = get32(req + 20);
  const char *p = req + 24, *end = req + len;
  size_t nstr = 1 + (size_t)argc + envc + ((flags & F_CWD) ? 1 : 0) + ((flags & F_OUTFILE) ? 1 : 0);
  if (argc > 1u << 20 || envc > 1u << 20) _exit(1);
  char **strs = calloc(nstr + 2, sizeof *strs);
  if (strs == NULL) _exit(1);
  for (size_t i = 0; i < nstr; i++) {
    const char *nul = memchr(p, '\0', (size_t)(end - p));
    if (nul == NULL) _exit(1);
    strs[i] = (char *)p;
    p = nul + 1;
  }
  if (end - p < 4) _exit(1);
  uint32_t in_len = get32(p);
  p += 4;
  if ((uint32_t)(end - p) != in_len) _exit(1);
  const char *file = strs[0];
  char **argv = calloc(argc + 1, sizeof *argv);
  char **envp = calloc(envc + 1, sizeof *envp);
  if (argv == NULL || envp == NULL) _exit(1);
  for (uint32_t i = 0; i < argc; i++) argv[i] = strs[1 + i];
  for (uint32_t i = 0; i < envc; i++) envp[i] = strs[1 + argc + i];
  size_t k = 1 + argc + envc;
  const char *cwd = (flags & F_CWD) ? strs[k++] : NULL;
  const char *outfile = (flags & F_OUTFILE) ? strs[k++] : NULL;

  struct job *j = NULL;
  for (int i = 0; i < MAX_JOBS; i++)
    if (jobs[i].pid == 0) {
      j = &jobs[i];
      break;
    }
  int err = 0;
  int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1}, filefd = -1;
  if (j == NULL) err = EAGAIN;
  if (!err && (flags & F_INPUT) && pipe2(in, O_CLOEXEC) < 0) err = errno;
  if (!err && outfile != NULL && (filefd = open(outfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
    err = errno;
  if (!err && outfile == NULL && (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)) err = errno;
  pid_t pid = 0;
  if (!err) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    if (flags & F_INPUT)
      posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    else
      posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, outfile ? filefd : out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, outfile ? filefd : errp[1], 2);
    if (cwd != NULL) posix_spawn_file_actions_addchdir_np(&fa, cwd);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    short sf = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (flags & F_DETACHED) sf |= POSIX_SPAWN_SETSID;
    posix_spawnattr_setflags(&at, sf);
    err = posix_spawnp(&pid, file, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
  }
  free(argv);
  free(envp);
  free(strs);
  if (in[0] >= 0) close(in[0]);
  if (out[1] >= 0) close(out[1]);
  if (errp[1] >= 0) close(errp[1]);
  if (filefd >= 0) close(filefd);
  if (err) {
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&errp[0]);
    reply(id, 2, err, 0, NULL, NULL);
    return;
  }
  memset(j, 0, sizeof *j);
  j->pid = pid;
  j->id = id;
  j->max = max;
  j->deadline = timeout < 0 ? -1 : now_ms() + timeout;
  j->in_fd = in[1];
  j->out_fd = out[0];
  j->err_fd = errp[0];
  if (j->in_fd >= 0) {
    fcntl(j->in_fd, F_SETFL, O_NONBLOCK);
    if (in_len > 0) {
      j->in = malloc(in_len);
      if (j->in == NULL) _exit(1);
      memcpy(j->in, p, in_len);
      j->in_len = in_len;
    } else {
      close_fd(&j->in_fd);
    }
  }
  if (j->out_fd >= 0) fcntl(j->out_fd, F_SETFL, O_NONBLOCK);
  if (j->err_fd >= 0) fcntl(j->err_fd, F_SETFL, O_NONBLOCK);
}

static void reap(void) {
  int st;
  pid_t p;
  while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
    for (int i = 0; i < MAX_JOBS; i++)
      if (jobs[i].pid == p && !jobs[i].exited) {
        jobs[i].exited = 1;
        jobs[i].status = st;
        /* What is in the pipes now, then the reply once they end. */
        if (jobs[i].out_fd >= 0) drain(&jobs[i].out_fd, &jobs[i].out, jobs[i].max);
        if (jobs[i].err_fd >= 0) drain(&jobs[i].err_fd, &jobs[i].err, jobs[i].max);
        finish_if_done(&jobs[i]);
        break;
      }
  }
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  for (int i = 0; i < MAX_JOBS; i++) jobs[i].in_fd = jobs[i].out_fd = jobs[i].err_fd = -1;
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return 1;
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  char *rbuf = NULL;
  size_t rlen = 0, rcap = 0;
  static struct pollfd fds[2 + 3 * MAX_JOBS];
  static int who[2 + 3 * MAX_JOBS];
  for (;;) {
    int64_t now = now_ms(), wait = -1;
    nfds_t n = 0;
    fds[n++] = (struct pollfd){0, POLLIN, 0};
    fds[n++] = (struct pollfd){sfd, POLLIN, 0};
    for (int i = 0; i < MAX_JOBS; i++) {
      struct job *j = &jobs[i];
      if (j->pid == 0) continue;
      if (j->deadline >= 0 && !j->exited) {
        if (now >= j->deadline) {
          kill(j->pid, SIGKILL);
          j->deadline = -1;
        } else if (wait < 0 || j->deadline - now < wait) {
          wait = j->deadline - now;
        }
      }
      if (j->in_fd >= 0) {
        who[n] = i;
        fds[n++] = (struct pollfd){j->in_fd, POLLOUT, 0};
      }
      if (j->out_fd >= 0) {
        who[n] = i;
        fds[n++] = (struct pollfd){j->out_fd, POLLIN, 0};
      }
      if (j->err_fd >= 0) {
        who[n] = i;
        fds[n++] = (struct pollfd){j->err_fd, POLLIN, 0};
      }
    }
    if (poll(fds, n, (int)wait) < 0 && errno != EINTR) return 1;
    for (nfds_t k = 2; k < n; k++) {
      if (!fds[k].revents) continue;
      struct job *j = &jobs[who[k]];
      if (fds[k].fd == j->in_fd) {
        ssize_t w = write(j->in_fd, j->in + j->in_off, j->in_len - j->in_off);
        if (w > 0) j->in_off += (size_t)w;
        /* All written, or the command closed its stdin (its status is the answer). */
        if (j->in_off == j->in_len || (w < 0 && errno != EAGAIN && errno != EINTR)) {
          close_fd(&j->in_fd);
          wipe_input(j);
        }
      } else if (fds[k].fd == j->out_fd) {
        drain(&j->out_fd, &j->out, j->max);
      } else if (fds[k].fd == j->err_fd) {
        drain(&j->err_fd, &j->err, j->max);
      }
      finish_if_done(j);
    }
    if (fds[1].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
      }
      reap();
    }
    if (fds[0].revents) {
      for (;;) {
        if (rcap - rlen < 65536) {
          rcap = rcap ? rcap * 2 : 1 << 20;
          rbuf = realloc(rbuf, rcap);
          if (rbuf == NULL) return 1;
        }
        ssize_t r = read(0, rbuf + rlen, rcap - rlen);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) break;
        if (r <= 0) return 0; /* the server is gone */
        rlen += (size_t)r;
      }
      size_t off = 0;
      while (rlen - off >= 4) {
        uint32_t len = get32(rbuf + off);
        if (len > MAX_REQUEST) return 1;
        if (rlen - off - 4 < len) break;
        start(rbuf + off + 4, len);
        /* The request may hold a secret (an input). */
        explicit_bzero(rbuf + off, 4 + (size_t)len);
        off += 4 + (size_t)len;
      }
      memmove(rbuf, rbuf + off, rlen - off);
      rlen -= off;
    }
  }
}
