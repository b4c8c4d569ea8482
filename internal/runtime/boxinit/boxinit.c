/*
 * boxinit: the tiny program Boxyard bind-mounts read-only into every gVisor
 * box at /.boxyard/init. It has four modes.
 *
 *   boxinit                 PID 1 of the box. It reaps zombies (orphans are
 *                           reparented to PID 1), forwards SIGTERM/SIGINT to
 *                           every other process and then exits, and spawns
 *                           commands for `boxinit exec` (below). Its own stdio
 *                           goes to /dev/null so no process in the box can
 *                           write to a host file through /proc/1/fd. It also
 *                           runs the box's OOM guard (see oom_guard below).
 *   boxinit exec CMD...     Runs CMD in a new process group, relays its stdio
 *                           through in-box pipes, and waits for it. It passes
 *                           SIGTERM/SIGINT/SIGHUP on to that group, and on
 *                           SIGUSR1 SIGKILLs the whole group, so the host can
 *                           end a timed-out exec and everything it started
 *                           with one signal to this process. It exits with CMD's status (128+signal
 *                           when CMD was killed). CMD is started by PID 1,
 *                           asked over an abstract unix socket, because
 *                           runsc (0.0~20240729) ends every process descended
 *                           from a `runsc exec` when it restores a checkpoint,
 *                           while descendants of init survive. PID 1 starts
 *                           the command with the caller's own uid and gid
 *                           (SO_PEERCRED), so the socket grants nothing the
 *                           caller does not already have.
 *   sudo [OPTIONS] CMD...   (boxinit bind-mounted over the image's /usr/bin/sudo)
 *                           Asks PID 1 to run CMD as root. runsc sets
 *                           no_new_privs on every process of a box, so the
 *                           real setuid sudo can never gain privileges; PID 1
 *                           (root) grants what the image's sudoers grant
 *                           without a password: a rule "USER|%GROUP|ALL
 *                           ALL=(ALL[:ALL]) NOPASSWD: ALL" in /etc/sudoers or
 *                           the files in /etc/sudoers.d (root-owned, not group/other
 *                           writable). Anything else is refused, never
 *                           widened. The command gets the caller's own stdio
 *                           and a sudo-style environment; signals to this
 *                           process are passed on to it through PID 1. On a
 *                           terminal (stdin and stdout) the command gets a
 *                           terminal of its own instead, as its controlling
 *                           one (sudo's use_pty), and this process relays
 *                           between the two (see sudo_relay).
 *   boxinit pty ROWS COLS CMD...
 *                           Like exec, for a terminal session: PID 1 opens a
 *                           pseudo-terminal inside the box, starts CMD on it
 *                           (new session, controlling tty, the caller's ids)
 *                           and hands the master side to this process, which
 *                           relays it to its own stdio. Its stdin is framed
 *                           (see run_pty) so the host can send window sizes.
 *                           CMD is init's child, so when a restore ends this
 *                           relay the session sees a hang-up, as on a dropped
 *                           SSH connection: nohup'd and detached jobs live on.
 *   (exec and pty)          Both give the command the box's secrets as
 *                           environment variables: NAME=value for each file
 *                           /run/boxyard/secrets/NAME the caller can read
 *                           (see secrets_env). They are read here, inside the
 *                           box, so a value never travels on the argv or the
 *                           environment of a host process. The node's own
 *                           commands (its secret scripts, the repository
 *                           checkout) opt out with BOXYARD_NO_SECRETS_ENV=1
 *                           (the runtime's ExecOptions.noSecretsEnv).
 *   (PID 1's exec port)     With BOXYARD_EXEC_TOKEN in its environment (the
 *                           driver's, never a command's), PID 1 also listens
 *                           on port 1019 of the box (every address). The host
 *                           reaches it at the box's address over the node's
 *                           bridge (whose rules keep other boxes and non-root
 *                           host users out), or through `runsc port-forward
 *                           --stream`; neither makes a process in the box. A
 *                           request there carries the
 *                           token and the command, PID 1 starts the command on
 *                           in-box pipes and relays them over the connection
 *                           (see pending_read). So an exec costs the box one new
 *                           address space (the command) instead of two (a
 *                           `runsc exec` of `boxinit exec`, then the command).
 *                           Any box process can connect; only the token (wiped
 *                           from /proc/1/environ) lets it ask for anything.
 *   boxinit login           Replaces itself with the calling user's login shell
 *                           from /etc/passwd (argv[0] prefixed with '-').
 *   boxinit relay PORT      Connects to 127.0.0.1:PORT inside the box and
 *                           copies stdin to the connection and the connection
 *                           to stdout until both sides end. The SSH gateway's
 *                           port forwarding uses it: servers such as VS Code's
 *                           listen on the box's own loopback, which only a
 *                           process inside the box can reach.
 *
 * It is compiled statically (gcc -static -Os) so it runs on any image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <dirent.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <termios.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

static void on_signal(int sig) { (void)sig; }

extern char **environ;

/* The abstract socket PID 1 listens on (leading NUL: no file in the box). */
static const char init_socket[] = "\0boxyard-init";

static socklen_t init_addr(struct sockaddr_un *addr) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  memcpy(addr->sun_path, init_socket, sizeof init_socket - 1);
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + sizeof init_socket - 1);
}

#define MAX_JOBS 4096
#define MAX_REQUEST 262144
static struct {
  pid_t pid;
  int conn;
  int as_root; /* started for sudo: its requester may signal it over conn */
} jobs[MAX_JOBS];

/* Answers to a sudo request in place of a pid (see run_sudo). */
#define SUDO_NO_RULE (-2)
#define SUDO_PASSWORD (-3)

/* Copies src into dst (capacity cap, cap > 0), cut short if need be, NUL-terminated. */
static void copy_str(char *dst, size_t cap, const char *src) {
  size_t l = strlen(src);
  if (l >= cap) l = cap - 1;
  memcpy(dst, src, l);
  dst[l] = '\0';
}

/* Whether s is an environment variable name as secrets have them. */
static int env_name_ok(const char *s) {
  if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_')) return 0;
  size_t n = 0;
  for (; *s != '\0'; s++, n++)
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
  return n <= 128;
}

/* How much of a request to PID 1 the secrets may take together (it holds at most MAX_REQUEST). */
#define SECRETS_ENV_BUDGET (128 * 1024)

/*
 * Sets NAME=value in this process's environment for each regular file NAME
 * in /run/boxyard/secrets that the caller can read (the box user's, or
 * root's), as the command it starts will see them. A value with a NUL byte
 * cannot be an environment variable and stays a file only, as do values
 * beyond SECRETS_ENV_BUDGET together. The buffer a value passes through is
 * wiped after use.
 */
static void secrets_env(void) {
  DIR *d = opendir("/run/boxyard/secrets");
  if (d == NULL) return;
  size_t used = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!env_name_ok(e->d_name)) continue; /* also ".", ".." and ".NAME.new" being written */
    int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 &&
        used + (size_t)st.st_size + strlen(e->d_name) + 2 <= SECRETS_ENV_BUDGET) {
      size_t cap = (size_t)st.st_size + 1;
      char *buf = malloc(cap);
      size_t len = 0;
      if (buf != NULL) {
        for (;;) {
          ssize_t n = read(fd, buf + len, cap - 1 - len);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) break;
          len += (size_t)n;
          if (len == cap - 1) break;
        }
        buf[len] = '\0';
        if (memchr(buf, '\0', len) == NULL && setenv(e->d_name, buf, 1) == 0) used += len + strlen(e->d_name) + 2;
        explicit_bzero(buf, cap);
        free(buf);
      }
    }
    close(fd);
  }
  closedir(d);
}

/* Splits a colon-separated line in place into at most `max` fields; returns how many. */
static int split_fields(char *line, char **fields, int max) {
  int n = 0;
  fields[n++] = line;
  for (char *p = line; *p != '\0' && n < max; p++) {
    if (*p == ':') {
      *p = '\0';
      fields[n++] = p + 1;
    }
  }
  return n;
}

/* Looks up a /etc/passwd entry by uid; fills name (and home, shell) or returns -1. */
static int passwd_by_uid(uid_t uid, char *name, size_t name_cap, char *home, size_t home_cap, char *shell,
                         size_t shell_cap) {
  FILE *f = fopen("/etc/passwd", "r");
  if (f == NULL) return -1;
  char line[1024];
  int found = -1;
  while (fgets(line, sizeof line, f) != NULL) {
    char *fields[7];
    int n = split_fields(line, fields, 7);
    if (n < 7 || (uid_t)strtoul(fields[2], NULL, 10) != uid || fields[2][0] == '\0') continue;
    fields[6][strcspn(fields[6], "\r\n")] = '\0';
    copy_str(name, name_cap, fields[0]);
    if (home != NULL) copy_str(home, home_cap, fields[5]);
    if (shell != NULL) copy_str(shell, shell_cap, fields[6][0] == '/' ? fields[6] : "/bin/sh");
    found = 0;
    break;
  }
  fclose(f);
  return found;
}

/* Whether user `name` (primary gid `gid`) belongs to group `group` per /etc/group. */
static int in_group(const char *name, gid_t gid, const char *group) {
  FILE *f = fopen("/etc/group", "r");
  if (f == NULL) return 0;
  char line[4096];
  int yes = 0;
  while (!yes && fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    char *fields[4];
    int n = split_fields(line, fields, 4);
    if (n < 4 || strcmp(fields[0], group) != 0) continue;
    if (fields[2][0] != '\0' && (gid_t)strtoul(fields[2], NULL, 10) == gid) yes = 1;
    for (char *m = strtok(fields[3], ","); m != NULL && !yes; m = strtok(NULL, ",")) yes = strcmp(m, name) == 0;
  }
  fclose(f);
  return yes;
}

/* Whether the user spec of a sudoers rule (a comma list of names, %groups or ALL) names the caller. */
static int sudoers_names(char *users, const char *name, gid_t gid) {
  for (char *save = NULL, *u = strtok_r(users, ",", &save); u != NULL; u = strtok_r(NULL, ",", &save)) {
    if (strcmp(u, "ALL") == 0 || strcmp(u, name) == 0) return 1;
    if (u[0] == '%' && in_group(name, gid, u + 1)) return 1;
  }
  return 0;
}

/*
 * One sudoers file: 2 when a rule grants the caller everything without a
 * password, 1 when a rule names the caller but wants a password, else 0.
 * Only the plain "WHO ALL=(ALL[:ALL]) [NOPASSWD:] ALL" form counts; aliases,
 * Defaults, includes and narrower rules are ignored, so nothing is granted
 * that the file does not grant.
 */
static int sudoers_file(const char *path, const char *name, gid_t gid) {
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return 0;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0) {
    close(fd);
    return 0;
  }
  FILE *f = fdopen(fd, "r");
  if (f == NULL) {
    close(fd);
    return 0;
  }
  int best = 0;
  char line[2048];
  while (fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "#\r\n")] = '\0';
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    size_t ul = strcspn(p, " \t");
    if (ul == 0 || p[ul] == '\0') continue;
    p[ul] = '\0';
    char *users = p;
    if (strcmp(users, "Defaults") == 0 || strstr(users, "_Alias") != NULL) continue;
    /* The rest without blanks: ALL=(ALL:ALL)NOPASSWD:ALL */
    char rest[1024];
    size_t rl = 0;
    for (char *q = p + ul + 1; *q != '\0' && rl + 1 < sizeof rest; q++)
      if (*q != ' ' && *q != '\t') rest[rl++] = *q;
    rest[rl] = '\0';
    if (strncmp(rest, "ALL=", 4) != 0) continue;
    char *r = rest + 4;
    if (*r == '(') {
      if (strncmp(r, "(ALL)", 5) == 0 || strncmp(r, "(root)", 6) == 0) {
        r = strchr(r, ')') + 1;
      } else if (strncmp(r, "(ALL:ALL)", 9) == 0 || strncmp(r, "(root:ALL)", 10) == 0 ||
                 strncmp(r, "(ALL:root)", 10) == 0 || strncmp(r, "(root:root)", 11) == 0) {
        r = strchr(r, ')') + 1;
      } else {
        continue;
      }
    }
    int nopasswd = 0;
    for (;;) {
      if (strncmp(r, "NOPASSWD:", 9) == 0) {
        nopasswd = 1;
        r += 9;
      } else if (strncmp(r, "SETENV:", 7) == 0) {
        r += 7;
      } else if (strncmp(r, "PASSWD:", 7) == 0) {
        nopasswd = 0;
        r += 7;
      } else {
        break;
      }
    }
    if (strcmp(r, "ALL") != 0 || !sudoers_names(users, name, gid)) continue;
    int v = nopasswd ? 2 : 1;
    if (v > best) best = v;
  }
  fclose(f);
  return best;
}

/* What the image's sudoers grant uid/gid: 0 (granted), SUDO_PASSWORD or SUDO_NO_RULE. */
static int sudo_verdict(uid_t uid, gid_t gid) {
  if (uid == 0) return 0;
  char name[256];
  if (passwd_by_uid(uid, name, sizeof name, NULL, 0, NULL, 0) < 0) return SUDO_NO_RULE;
  int best = sudoers_file("/etc/sudoers", name, gid);
  struct stat dst;
  DIR *d = opendir("/etc/sudoers.d");
  if (d != NULL && fstat(dirfd(d), &dst) == 0 && dst.st_uid == 0 && (dst.st_mode & 022) == 0) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      /* sudo's includedir skips names with a dot or ending in '~'. */
      size_t l = strlen(e->d_name);
      if (l == 0 || strchr(e->d_name, '.') != NULL || e->d_name[l - 1] == '~') continue;
      char path[512];
      snprintf(path, sizeof path, "/etc/sudoers.d/%s", e->d_name);
      int v = sudoers_file(path, name, gid);
      if (v > best) best = v;
    }
  }
  if (d != NULL) closedir(d);
  return best == 2 ? 0 : best == 1 ? SUDO_PASSWORD : SUDO_NO_RULE;
}

/* Reads one spawn request from `conn` and starts it; answers the pid. */
/* What PID 1's child needs to become the command (serve_request). */
struct spawn_req {
  char **argv;
  char **envp;
  const char *cwd;
  const int *fds; /* stdin, stdout, stderr for the command */
  int tty;        /* the new terminal (pty modes), else -1 */
  int root_pty;
  uid_t uid;
  gid_t gid;
};

/* The child's own stack: it shares PID 1's memory (CLONE_VM) while PID 1 waits (CLONE_VFORK). */
static char spawn_stack[128 * 1024] __attribute__((aligned(16)));

/* Writes "boxinit exec: NAME: MESSAGE" to fd 2 without stdio (the child must not touch PID 1's buffers). */
static void spawn_error(const char *name, int err) {
  const char *parts[] = {"boxinit exec: ", name, ": ", strerror(err), "\n"};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    if (write(2, parts[i], strlen(parts[i])) < 0) return;
}

/*
 * The child of a CLONE_VM|CLONE_VFORK clone: it runs on PID 1's memory, so it
 * changes no global (not environ, not stdio) and allocates nothing; only
 * system calls on its own process, then execve. The PATH search is execvp's
 * (the request's PATH, else /bin:/usr/bin), with execvp's errors.
 */
/* execve, and as execvp does, a file without a known header (ENOEXEC) run by /bin/sh; errno as execve's. */
static void spawn_execve(const char *path, const struct spawn_req *r) {
  execve(path, r->argv, r->envp);
  if (errno != ENOEXEC) return;
  int argc = 0;
  while (r->argv[argc] != NULL) argc++;
  char *sh[argc + 2];
  sh[0] = "sh";
  sh[1] = (char *)path;
  for (int i = 1; i <= argc; i++) sh[i + 1] = r->argv[i];
  execve("/bin/sh", sh, r->envp);
  errno = ENOEXEC;
}

static int spawn_child(void *arg) {
  const struct spawn_req *r = arg;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* The signal table is the child's own copy (no CLONE_SIGHAND). PID 1
   * ignores SIGPIPE; an ignored signal stays ignored across exec, and a
   * writer whose reader died would then spin on EPIPE. */
  signal(SIGCHLD, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  setsid();
  /* The terminal becomes the new session's controlling one. */
  if (r->tty >= 0 && ioctl(r->tty, TIOCSCTTY, 0) < 0) _exit(126);
  /* Raw system calls: glibc's wrappers may coordinate with other threads through shared memory. */
  if (syscall(SYS_setgroups, 0, NULL) < 0 && r->uid != 0) _exit(126);
  if (syscall(SYS_setgid, r->gid) < 0 || syscall(SYS_setuid, r->uid) < 0) _exit(126);
  /* sudo on a terminal: the new terminal only where the caller had one
   * (`sudo cmd 2>/dev/null` keeps its redirection). */
  for (int i = 0; i < 3; i++) dup2(r->tty >= 0 && (!r->root_pty || isatty(r->fds[i])) ? r->tty : r->fds[i], i);
  if (r->tty > 2) close(r->tty);
  if (chdir(r->cwd) < 0 && chdir("/") < 0) _exit(126);
  const char *file = r->argv[0];
  if (strchr(file, '/') != NULL) {
    spawn_execve(file, r);
    int err = errno;
    spawn_error(file, err);
    _exit(err == ENOENT ? 127 : 126);
  }
  const char *path = "/bin:/usr/bin";
  for (char **e = r->envp; *e != NULL; e++)
    if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
  int err = ENOENT, denied = 0;
  char full[4096];
  for (const char *p = path;;) {
    const char *end = strchr(p, ':');
    size_t dl = end == NULL ? strlen(p) : (size_t)(end - p);
    size_t fl = strlen(file);
    if (dl + fl + 2 <= sizeof full) {
      /* An empty entry is the current directory, as for execvp. */
      size_t n = 0;
      if (dl > 0) {
        memcpy(full, p, dl);
        n = dl;
        full[n++] = '/';
      }
      memcpy(full + n, file, fl + 1);
      spawn_execve(full, r);
      if (errno == EACCES)
        denied = 1;
      else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV && errno != ETIMEDOUT)
        err = errno; /* execvp stops at other errors; so does this */
      if (err != ENOENT) break;
    }
    if (end == NULL) break;
    p = end + 1;
  }
  if (denied && err == ENOENT) err = EACCES;
  spawn_error(file, err);
  _exit(err == ENOENT ? 127 : 126);
}

static void serve_request(int conn) {
  struct timeval tv = {2, 0};
  setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  static char buf[MAX_REQUEST];
  size_t len = 0;
  int fds[4] = {-1, -1, -1, -1};
  int got_fds = 0;
  /* The request ends with an empty string: two NULs in a row. */
  while (len < sizeof buf) {
    char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    struct iovec iov = {buf + len, sizeof buf - len};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
    if (n <= 0) break;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && !got_fds &&
          c->cmsg_len == CMSG_LEN(sizeof(int) * 4)) {
        memcpy(fds, CMSG_DATA(c), sizeof fds);
        got_fds = 1;
      }
    }
    len += (size_t)n;
    if (len >= 2 && buf[len - 1] == '\0' && buf[len - 2] == '\0') break;
  }
  if (!got_fds || len < 2 || buf[len - 1] != '\0' || buf[len - 2] != '\0') goto fail;
  /* Who asks: the owner of a memfd the caller created and passed writable.
   * Nobody can hold a writable descriptor of another user's memfd unless that
   * user handed it over, so the command runs with exactly the caller's ids.
   * (SO_PEERCRED is not used: under this runsc it reports root.) */
  struct stat idst;
  if (fstat(fds[3], &idst) < 0 || !S_ISREG(idst.st_mode) || fcntl(fds[3], F_GET_SEALS) < 0 ||
      (fcntl(fds[3], F_GETFL) & O_ACCMODE) != O_RDWR)
    goto fail;
  struct {
    uid_t uid;
    gid_t gid;
  } cred = {idst.st_uid, idst.st_gid};
  /* Layout: mode ("self" or "root"), cwd, argc, argv..., env..., "" */
  static char *all[8192];
  int nstr = 0;
  for (size_t i = 0; i < len - 1 && nstr < 8190;) {
    all[nstr++] = buf + i;
    i += strlen(buf + i) + 1;
  }
  if (nstr < 4) goto fail;
  int as_root = strcmp(all[0], "root") == 0;
  /* "pty:ROWS:COLS": start the command on a new pseudo-terminal;
   * "rootpty:ROWS:COLS": the same as root (sudo on a terminal). */
  int want_pty = 0, root_pty = 0;
  struct winsize ws = {24, 80, 0, 0};
  const char *pty_size = strncmp(all[0], "pty:", 4) == 0       ? all[0] + 4
                         : strncmp(all[0], "rootpty:", 8) == 0 ? all[0] + 8
                                                               : NULL;
  if (pty_size != NULL) {
    unsigned rows = 0, cols = 0;
    if (sscanf(pty_size, "%u:%u", &rows, &cols) != 2 || rows < 1 || rows > 1000 || cols < 1 || cols > 1000)
      goto fail;
    if (pty_size == all[0] + 8) as_root = root_pty = 1;
    ws.ws_row = (unsigned short)rows;
    ws.ws_col = (unsigned short)cols;
    want_pty = 1;
  } else if (!as_root && strcmp(all[0], "self") != 0) {
    goto fail;
  }
  char **strs = all + 1;
  nstr--;
  if (as_root) {
    int verdict = sudo_verdict(cred.uid, cred.gid);
    if (verdict != 0) {
      int32_t no = verdict;
      if (write(conn, &no, sizeof no) < 0) {
      }
      goto fail;
    }
    cred.uid = 0;
    cred.gid = 0;
  }
  int argc = atoi(strs[1]);
  if (argc < 1 || argc > 4000 || 2 + argc > nstr) goto fail;
  static char *argv[4001];
  for (int i = 0; i < argc; i++) argv[i] = strs[2 + i];
  argv[argc] = NULL;
  char **envp = strs + 2 + argc;
  strs[nstr] = NULL;
  int slot = -1;
  for (int i = 0; i < MAX_JOBS; i++)
    if (jobs[i].pid == 0) {
      slot = i;
      break;
    }
  if (slot < 0) goto fail;
  int master = -1, slave = -1;
  char slave_name[128] = "";
  if (want_pty) {
    master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
        ptsname_r(master, slave_name, sizeof slave_name) != 0) {
      if (master >= 0) close(master);
      goto fail;
    }
    ioctl(master, TIOCSWINSZ, &ws);
    /* The session's user owns its terminal, as after a login. */
    if (chown(slave_name, cred.uid, cred.gid) < 0) {
    }
    chmod(slave_name, 0620);
    /* Opened here, before the master is handed over: a master whose slave
     * nobody holds reads as hung up. */
    slave = open(slave_name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) {
      close(master);
      goto fail;
    }
  }
  struct spawn_req req = {
      .argv = argv,
      .envp = envp,
      .cwd = strs[0],
      .fds = fds,
      .tty = want_pty ? slave : -1,
      .root_pty = root_pty,
      .uid = cred.uid,
      .gid = cred.gid,
  };
  /* CLONE_VM|CLONE_VFORK (what posix_spawn does): the child borrows PID 1's
   * memory until it execs, so no copy of PID 1's address space is made. In
   * gVisor every new address space costs the box CPU (a host stub process),
   * which under a quarter-CPU quota was one to two 100 ms periods per exec. */
  pid_t pid = clone(spawn_child, spawn_stack + sizeof spawn_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &req);
  if (pid < 0) {
    if (master >= 0) close(master);
    if (slave >= 0) close(slave);
    goto fail;
  }
  for (int i = 0; i < 4; i++) close(fds[i]);
  if (slave >= 0) close(slave);
  jobs[slot].pid = pid;
  jobs[slot].conn = conn;
  jobs[slot].as_root = as_root;
  int32_t p = pid;
  if (master < 0) {
    if (write(conn, &p, sizeof p) != (ssize_t)sizeof p) {
    }
    return;
  }
  /* The pid, with the terminal's master side attached; init keeps no copy,
   * so when the requester goes the session gets a hang-up. */
  char mbuf[CMSG_SPACE(sizeof(int))];
  memset(mbuf, 0, sizeof mbuf);
  struct iovec piov = {&p, sizeof p};
  struct msghdr pm;
  memset(&pm, 0, sizeof pm);
  pm.msg_iov = &piov;
  pm.msg_iovlen = 1;
  pm.msg_control = mbuf;
  pm.msg_controllen = sizeof mbuf;
  struct cmsghdr *mc = CMSG_FIRSTHDR(&pm);
  mc->cmsg_level = SOL_SOCKET;
  mc->cmsg_type = SCM_RIGHTS;
  mc->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(mc), &master, sizeof(int));
  if (sendmsg(conn, &pm, MSG_NOSIGNAL) < 0) kill(-pid, SIGHUP);
  close(master);
  return;
fail:
  for (int i = 0; i < 4; i++)
    if (fds[i] >= 0) close(fds[i]);
  close(conn);
}

static int relay_reaped(pid_t pid, int status);

static void reap(void) {
  int st;
  pid_t p;
  while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
    if (relay_reaped(p, st)) continue;
    for (int i = 0; i < MAX_JOBS; i++) {
      if (jobs[i].pid != p) continue;
      int32_t v = st;
      if (jobs[i].conn >= 0) {
        if (write(jobs[i].conn, &v, sizeof v) < 0) {
        }
        close(jobs[i].conn);
      }
      jobs[i].pid = 0;
      jobs[i].conn = -1;
      break;
    }
  }
}

/*
 * OOM guard. gVisor has no OOM killer of its own: when the box's host memory
 * cgroup reaches its limit the host kernel picks a victim among the sandbox's
 * host processes, and when that is the sentry the whole box dies. So PID 1
 * watches the box's memory and SIGKILLs the largest process (by RSS, other
 * than itself) while there is still a reserve, like earlyoom.
 *
 * What it watches: the box's own host cgroup, which the driver bind-mounts
 * read-only at /.boxyard/memory.usage_in_bytes and /.boxyard/memory.stat.
 * The sentry's own heap (which grows with every process the box has run,
 * about 100 KiB each on runsc 0.0~20240729, and is never returned) counts
 * against the limit but does not show in the box's /proc/meminfo, so
 * MemAvailable alone would act too late in a busy box. Reclaimable host page
 * cache (box file I/O through the gofer) is subtracted. Without those files
 * (a box booted by an older driver) it falls back to /proc/meminfo, whose
 * MemTotal is the cgroup limit under gVisor.
 *
 * The check costs one small read; it runs more often as memory fills up
 * (every 10-500 ms, so that even a fast allocator cannot cross the reserve
 * between two looks). Each kill is logged as one line in
 * /run/boxyard/oom.log and /var/log/boxyard/oom.log; the node reads the
 * second from the box's upper dir and reports the count.
 */
#define MIB (1024ull * 1024ull)
#define GUARD_USAGE "/.boxyard/memory.usage_in_bytes"
#define GUARD_STAT "/.boxyard/memory.stat"
#define GUARD_LOG "/run/boxyard/oom.log"
#define GUARD_HOST_LOG_DIR "/var/log/boxyard"
#define GUARD_HOST_LOG GUARD_HOST_LOG_DIR "/oom.log"
/* The fastest growth the schedule allows for, bytes per millisecond (about
 * 1 GiB/s; one allocating thread manages about 300 MiB/s under gVisor). */
#define GUARD_RATE (1 * MIB)
#define GUARD_MIN_MS 10
#define GUARD_MAX_MS 500
/* After a kill: wait for the victim's memory to come back before another. */
#define GUARD_SETTLE_MS 1000

static struct {
  int64_t next_ms;         /* when to look next */
  int64_t settle_until_ms; /* the last victim's memory should be back by then */
  pid_t last_victim;
  int64_t scan_ms;         /* the last look for a victim that found none */
  uint64_t scan_used;      /* and the memory used then */
  int64_t quiet_until_ms;  /* no "nothing to kill" line before then */
} guard;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads a whole small file into buf (NUL-terminated); returns its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = 0;
  while (len < cap - 1) {
    ssize_t n = read(fd, buf + len, cap - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  close(fd);
  buf[len] = '\0';
  return (ssize_t)len;
}

/* The number after "key" at the start of a line of `text`, times `unit`. */
static int field_u64(const char *text, const char *key, uint64_t unit, uint64_t *out) {
  size_t klen = strlen(key);
  for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    if (strncmp(p, key, klen) != 0 || (p[klen] != ' ' && p[klen] != ':' && p[klen] != '\t')) continue;
    const char *v = p + klen + 1;
    while (*v == ' ' || *v == '\t') v++;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v) return -1;
    *out = (uint64_t)n * unit;
    return 0;
  }
  return -1;
}

/*
 * The box's memory: used (what cannot be reclaimed) and its limit. `quick`
 * allows a cheaper upper bound of used (the cgroup's raw usage, page cache
 * included). Returns -1 when nothing can be read.
 */
static int guard_sample(int quick, uint64_t *used, uint64_t *limit) {
  static char buf[8192];
  static uint64_t cg_limit;
  /* Kept open (a pread costs a sixth of an open, read and close); reopened
   * after an error, e.g. once a restore left a stale descriptor. */
  static int usage_fd = -1;
  if (usage_fd < 0) usage_fd = open(GUARD_USAGE, O_RDONLY | O_CLOEXEC);
  ssize_t n = usage_fd >= 0 ? pread(usage_fd, buf, sizeof buf - 1, 0) : -1;
  if (n <= 0 && usage_fd >= 0) {
    close(usage_fd);
    usage_fd = -1;
  }
  if (n > 0) {
    buf[n] = '\0';
    uint64_t usage = strtoull(buf, NULL, 10);
    if (cg_limit == 0 || !quick) {
      uint64_t lim = 0, inactive = 0, active = 0;
      if (read_small(GUARD_STAT, buf, sizeof buf) <= 0 ||
          field_u64(buf, "hierarchical_memory_limit", 1, &lim) < 0)
        goto meminfo;
      field_u64(buf, "total_inactive_file", 1, &inactive);
      field_u64(buf, "total_active_file", 1, &active);
      cg_limit = lim;
      usage = usage > inactive + active ? usage - inactive - active : 0;
    }
    /* No limit on the cgroup (a huge number): fall back to what the box sees. */
    if (cg_limit >= (1ull << 60)) goto meminfo;
    *used = usage;
    *limit = cg_limit;
    return 0;
  }
meminfo:
  if (read_small("/proc/meminfo", buf, sizeof buf) <= 0) return -1;
  uint64_t total = 0, avail = 0;
  if (field_u64(buf, "MemTotal", 1024, &total) < 0 || field_u64(buf, "MemAvailable", 1024, &avail) < 0)
    return -1;
  *used = total > avail ? total - avail : 0;
  *limit = total;
  return 0;
}

/* The memory the guard keeps free: a sixteenth of the limit, 32-256 MiB. */
static uint64_t guard_reserve(uint64_t limit) {
  uint64_t r = limit / 16;
  if (r < 32 * MIB) r = 32 * MIB;
  if (r > 256 * MIB) r = 256 * MIB;
  return r;
}

/* Appends "<UTC time> oom-guard: <msg>\n" to the guard's log. */
static void guard_log(const char *msg) {
  char line[320], when[32] = "";
  time_t wall = time(NULL);
  struct tm tm;
  if (gmtime_r(&wall, &tm) != NULL) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  snprintf(line, sizeof line, "%s oom-guard: %s\n", when, msg);
  /* /run/boxyard (tmpfs) for people in the box; the copy on the root
   * filesystem lands in the box's upper dir, where the node reads it to
   * report OOM kills. */
  mkdir("/var", 0755);
  mkdir("/var/log", 0755);
  mkdir(GUARD_HOST_LOG_DIR, 0755);
  const char *logs[] = {GUARD_LOG, GUARD_HOST_LOG};
  for (size_t i = 0; i < sizeof logs / sizeof logs[0]; i++) {
    int fd = open(logs[i], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) continue;
    struct stat st;
    /* Keep the logs small (/run/boxyard is 16 MiB). */
    if (fstat(fd, &st) == 0 && st.st_size > 256 * 1024 && ftruncate(fd, 0) < 0) {
    }
    if (write(fd, line, strlen(line)) < 0) {
    }
    close(fd);
  }
}

/* The process to kill: the largest RSS (weighted by oom_score_adj like the kernel), never PID 1. */
static pid_t guard_victim(uint64_t limit, uint64_t *rss_out, char *comm, size_t comm_cap, uid_t *uid_out) {
  DIR *d = opendir("/proc");
  if (d == NULL) return -1;
  long page = sysconf(_SC_PAGESIZE);
  pid_t best = -1;
  int64_t best_score = 0;
  uint64_t best_rss = 0;
  struct dirent *e;
  char path[64], buf[512];
  while ((e = readdir(d)) != NULL) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 1 || pid == getpid()) continue;
    snprintf(path, sizeof path, "/proc/%ld/statm", pid);
    if (read_small(path, buf, sizeof buf) <= 0) continue;
    unsigned long long size = 0, resident = 0;
    if (sscanf(buf, "%llu %llu", &size, &resident) != 2 || resident == 0) continue;
    uint64_t rss = (uint64_t)resident * (uint64_t)page;
    long adj = 0;
    snprintf(path, sizeof path, "/proc/%ld/oom_score_adj", pid);
    if (read_small(path, buf, sizeof buf) > 0) adj = strtol(buf, NULL, 10);
    if (adj <= -1000) continue;
    int64_t score = (int64_t)rss + (int64_t)adj * (int64_t)(limit / 1000);
    if (best < 0 || score > best_score) {
      best = (pid_t)pid;
      best_score = score;
      best_rss = rss;
    }
  }
  closedir(d);
  if (best < 0) return -1;
  *rss_out = best_rss;
  snprintf(path, sizeof path, "/proc/%d/comm", (int)best);
  if (read_small(path, comm, comm_cap) <= 0) snprintf(comm, comm_cap, "?");
  comm[strcspn(comm, "\n")] = '\0';
  *uid_out = (uid_t)-1;
  snprintf(path, sizeof path, "/proc/%d/status", (int)best);
  static char status[4096];
  if (read_small(path, status, sizeof status) > 0) {
    uint64_t uid;
    if (field_u64(status, "Uid", 1, &uid) == 0) *uid_out = (uid_t)uid;
  }
  return best;
}

/* One look at memory (when due); kills the largest process below the reserve. */
static void oom_guard(void) {
  int64_t now = now_ms();
  if (now < guard.next_ms) return;
  uint64_t used, limit;
  if (guard_sample(1, &used, &limit) < 0) {
    guard.next_ms = now + 1000;
    return;
  }
  uint64_t reserve = guard_reserve(limit);
  if (used + reserve > limit && guard_sample(0, &used, &limit) < 0) used = 0;
  reserve = guard_reserve(limit);
  uint64_t floor = limit > reserve ? limit - reserve : 0;
  if (used <= floor) {
    int64_t wait = (int64_t)((floor - used) / GUARD_RATE);
    if (wait < GUARD_MIN_MS) wait = GUARD_MIN_MS;
    if (wait > GUARD_MAX_MS) wait = GUARD_MAX_MS;
    guard.next_ms = now + wait;
    return;
  }
  guard.next_ms = now + GUARD_MIN_MS;
  /* The last victim is still releasing its memory: give it a moment. */
  if (now < guard.settle_until_ms && guard.last_victim > 0 && kill(guard.last_victim, 0) == 0) return;
  /* Nothing was worth killing a moment ago and memory has hardly grown
   * since: spare the /proc scan (it reads two files per process). */
  uint64_t min_rss = limit / 64 < 4 * MIB ? 4 * MIB : (limit / 64 > 64 * MIB ? 64 * MIB : limit / 64);
  if (now < guard.scan_ms + 1000 && used < guard.scan_used + min_rss / 2) return;
  uint64_t rss = 0;
  char comm[64], msg[256];
  uid_t uid;
  pid_t victim = guard_victim(limit, &rss, comm, sizeof comm, &uid);
  /* Killing small processes would not help: the memory is in tmpfs or in
   * the sandbox itself. Leave it to the tmpfs caps and the host's limit. */
  if (victim < 0 || rss < min_rss) {
    guard.scan_ms = now;
    guard.scan_used = used;
    /* (Right after a kill the memory may simply not be back yet.) */
    if (now >= guard.settle_until_ms && now >= guard.quiet_until_ms) {
      snprintf(msg, sizeof msg, "low memory (%llu of %llu MiB used) but no process large enough to kill",
               (unsigned long long)(used / MIB), (unsigned long long)(limit / MIB));
      guard_log(msg);
      guard.quiet_until_ms = now + 60000;
    }
    return;
  }
  /* The same process again: the first SIGKILL has not ended it yet (a system
   * call the sandbox cannot interrupt). Signalled again, logged once. */
  static char last_comm[64] = "";
  int again = victim == guard.last_victim && strcmp(comm, last_comm) == 0;
  if (kill(victim, SIGKILL) < 0) return;
  guard.last_victim = victim;
  guard.settle_until_ms = now + GUARD_SETTLE_MS;
  guard.scan_ms = 0;
  if (again) return;
  copy_str(last_comm, sizeof last_comm, comm);
  snprintf(msg, sizeof msg, "killed pid %d (%s) uid %d rss %llu MiB; box used %llu of %llu MiB", (int)victim,
           comm, (int)uid, (unsigned long long)(rss / MIB), (unsigned long long)(used / MIB),
           (unsigned long long)(limit / MIB));
  guard_log(msg);
}

/*
 * PID 1's exec port (see the top). Wire format, both ways, after the request:
 * frames of a kind byte, a 4-byte big-endian length and that many bytes.
 *   host -> box:  'i' stdin bytes, 'e' end of stdin, 'k' SIGKILL the command's group,
 *                 'a' a 4-byte big-endian count of box -> host bytes the host has taken
 *   box -> host:  '1' stdout bytes, '2' stderr bytes, 'x' the wait status (4 bytes, big-endian)
 * Flow control: at most RELAY_WINDOW bytes (frames whole) go out before the
 * host acknowledges them. runsc 0.0~20240729's port-forward proxy panics the
 * whole sentry when its write to the host socket is short ("io.Writer.Write
 * succeeded with incomplete write: 16384 != 16389"), which a full host socket
 * buffer or a read of more than 16 KiB at once causes; with the window it
 * never holds more than 16 KiB for the host.
 * The request: "BXE1", the token, a 4-byte big-endian length, then NUL-ended
 * strings: uid, gid, cwd, "1" to add the box's secrets to the environment
 * (else "0"), argc, argv..., env..., and an empty string.
 * A connection that closes before the 'x' frame leaves the command running
 * (init's child, as after `runsc exec`'s wrapper ended); only 'k' kills it.
 */
#define EXEC_PORT 1019
#define MAX_RELAYS 64
#define RELAY_BUF 16384
#define RELAY_WINDOW 16384
#define RELAY_STDIN_MAX (64u << 20)
/* Requests being read: a request arrives in pieces at the box's pace (a box under a small CPU
 * quota on a busy node may take seconds), so it is read as it comes, beside everything else the
 * loop serves; REQUEST_MS bounds a connection that never completes one. */
#define MAX_PENDING 16
#define REQUEST_MS 30000
#define EXITED_MS 60000
static char exec_token[129];
static size_t exec_token_len;

static struct relay {
  pid_t pid; /* 0: free slot */
  int conn, in_w, out_r, err_r;
  int exited, status;
  int status_queued;       /* the 'x' frame is in `out` (after the command exited) */
  int64_t exited_deadline; /* the host must take the rest by then (relay_after_exit) */
  unsigned char hdr[9];
  size_t hdr_got;
  uint32_t window; /* bytes that may go out before the host's next 'a' */
  uint32_t body_rem;
  char kind;
  char *in; /* stdin the command has not read yet: grows, so the host's acks behind it are always read */
  size_t in_cap, in_len, in_off;
  int in_eof; /* the host's 'e' came: close the command's stdin once the queue is written */
  int closing; /* status sent, command gone: the connection waits for the host's close (see relay_after_exit) */
  int64_t closing_deadline;
  char out[5 + RELAY_BUF];
  size_t out_len, out_off;
} relays[MAX_RELAYS];

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static struct pending {
  int conn; /* -1: free */
  int64_t deadline;
  unsigned char head[4 + 128 + 4];
  size_t head_got;
  char *body; /* malloc'd once the head checked out; wiped when freed */
  uint32_t body_len, body_got;
} pendings[MAX_PENDING];

static void pending_free(struct pending *p) {
  if (p->conn >= 0) close(p->conn);
  p->conn = -1;
  if (p->body != NULL) {
    explicit_bzero(p->body, p->body_len);
    free(p->body);
  }
  p->body = NULL;
  p->head_got = 0;
  p->body_len = p->body_got = 0;
}

/* Whether uid/gid may read a file of this mode and owner (root may read any). */
static int may_read(const struct stat *st, uid_t uid, gid_t gid) {
  if (uid == 0) return 1;
  if (st->st_uid == uid) return (st->st_mode & S_IRUSR) != 0;
  if (st->st_gid == gid) return (st->st_mode & S_IRGRP) != 0;
  return (st->st_mode & S_IROTH) != 0;
}

/*
 * envp plus NAME=value for each secret file uid/gid may read, as secrets_env
 * gives an exec (a secret replaces a variable of the same name). Returns a
 * malloc'd array (the request's strings, then malloc'd secret strings), or
 * NULL.
 */
static char **env_with_secrets(char **envp, int own, uid_t uid, gid_t gid) {
  int cap = own + 256;
  char **env = calloc((size_t)cap + 1, sizeof *env);
  if (env == NULL) return NULL;
  for (int i = 0; i < own; i++) env[i] = envp[i];
  int n = own;
  DIR *d = opendir("/run/boxyard/secrets");
  if (d == NULL) return env;
  size_t used = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < cap) {
    if (!env_name_ok(e->d_name)) continue;
    int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    struct stat st;
    size_t nl = strlen(e->d_name);
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && may_read(&st, uid, gid) && st.st_size >= 0 &&
        used + (size_t)st.st_size + nl + 2 <= SECRETS_ENV_BUDGET) {
      size_t cap_v = nl + 1 + (size_t)st.st_size + 1;
      char *kv = malloc(cap_v);
      if (kv != NULL) {
        memcpy(kv, e->d_name, nl);
        kv[nl] = '=';
        size_t len = 0;
        for (;;) {
          ssize_t r = read(fd, kv + nl + 1 + len, (size_t)st.st_size - len);
          if (r < 0 && errno == EINTR) continue;
          if (r <= 0) break;
          len += (size_t)r;
          if (len == (size_t)st.st_size) break;
        }
        kv[nl + 1 + len] = '\0';
        if (memchr(kv + nl + 1, '\0', len) != NULL) {
          explicit_bzero(kv, cap_v);
          free(kv);
        } else {
          /* The secret wins over a variable of the same name, as setenv(…, 1) does for an exec. */
          for (int i = 0; i < own; i++)
            if (env[i] != NULL && strncmp(env[i], kv, nl + 1) == 0) env[i] = "";
          env[n++] = kv;
          used += len + nl + 2;
        }
      }
    }
    close(fd);
  }
  closedir(d);
  /* Drop the emptied entries (an empty string is no variable). */
  int k = 0;
  for (int i = 0; i < n; i++)
    if (i >= own || env[i][0] != '\0') env[k++] = env[i];
  for (int i = k; i <= n; i++) env[i] = NULL;
  return env;
}

/* A whole request from the exec port (its token checked): the command started on in-box pipes, or the connection closed. */
static void start_request(int conn, char *buf, uint32_t len) {
  int slot = -1;
  for (int i = 0; i < MAX_RELAYS; i++)
    if (relays[i].pid == 0 && !relays[i].closing) {
      slot = i;
      break;
    }
  if (slot < 0 || len < 2 || buf[len - 1] != '\0' || buf[len - 2] != '\0') {
    close(conn);
    return;
  }
  static char *strs[8192];
  int nstr = 0;
  for (size_t i = 0; i < len - 1 && nstr < 8190;) {
    strs[nstr++] = buf + i;
    i += strlen(buf + i) + 1;
  }
  if (nstr < 6) {
    close(conn);
    return;
  }
  strs[nstr] = NULL;
  long uid = atol(strs[0]), gid = atol(strs[1]);
  int with_secrets = strcmp(strs[3], "1") == 0;
  int argc = atoi(strs[4]);
  if (uid < 0 || gid < 0 || argc < 1 || argc > 4000 || 5 + argc > nstr) {
    close(conn);
    return;
  }
  static char *argv[4001];
  for (int i = 0; i < argc; i++) argv[i] = strs[5 + i];
  argv[argc] = NULL;
  char **own = strs + 5 + argc;
  int n_own = nstr - 5 - argc;
  char **envp = with_secrets ? env_with_secrets(own, n_own, (uid_t)uid, (gid_t)gid) : own;
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  pid_t pid = -1;
  if (envp != NULL && pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0) {
    int fds[3] = {in[0], out[1], err[1]};
    struct spawn_req req = {
        .argv = argv,
        .envp = envp,
        .cwd = strs[2],
        .fds = fds,
        .tty = -1,
        .root_pty = 0,
        .uid = (uid_t)uid,
        .gid = (gid_t)gid,
    };
    pid = clone(spawn_child, spawn_stack + sizeof spawn_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &req);
  }
  if (with_secrets && envp != NULL) {
    for (int i = 0; envp[i] != NULL; i++) {
      /* Only the secret strings were allocated here: they follow the request's own. */
      int mine = 1;
      for (int k = 0; k < n_own; k++)
        if (envp[i] == own[k]) mine = 0;
      if (mine) {
        explicit_bzero(envp[i], strlen(envp[i]));
        free(envp[i]);
      }
    }
    free(envp);
  }
  if (in[0] >= 0) close(in[0]);
  if (out[1] >= 0) close(out[1]);
  if (err[1] >= 0) close(err[1]);
  if (pid < 0) {
    unsigned char x[9] = {'x', 0, 0, 0, 4};
    put_be32(x + 5, 126u << 8);
    if (send(conn, x, sizeof x, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
    }
    if (in[1] >= 0) close(in[1]);
    if (out[0] >= 0) close(out[0]);
    if (err[0] >= 0) close(err[0]);
    close(conn);
    return;
  }
  struct relay *r = &relays[slot];
  memset(r, 0, sizeof *r);
  r->pid = pid;
  r->conn = conn;
  r->in_w = in[1];
  r->out_r = out[0];
  r->err_r = err[0];
  r->window = RELAY_WINDOW;
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
}

static void relay_close(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* Frees a relay's pipes and stdin queue (wiped: it may hold a secret) and its slot; the connection is the caller's. */
static void relay_release(struct relay *r) {
  relay_close(&r->in_w);
  relay_close(&r->out_r);
  relay_close(&r->err_r);
  if (r->in != NULL) explicit_bzero(r->in, r->in_cap);
  free(r->in);
  r->in = NULL;
  r->in_cap = r->in_len = r->in_off = 0;
  r->pid = 0;
}

/*
 * The host went away (or broke the protocol; a checkpoint ends connections in
 * flight too): stop relaying. The command is left alone, as when `runsc exec`'s
 * wrapper ended: it is init's child and lives on (its next write to the closed
 * pipes gets SIGPIPE). Only the host's 'k' kills it. The slot is free at once.
 */
static void relay_drop(struct relay *r) {
  relay_close(&r->conn);
  relay_release(r);
}

/*
 * After the command exited: what is in its pipes now (not waiting for
 * background processes that hold them), then its status; never blocks (the
 * loop calls it again when the host acknowledges or its socket has room).
 * The host closes first (it does on 'x'): closing here first would make
 * runsc's proxy close the host socket while the host may still write its
 * acknowledgements (EPIPE there drops the unread status), and a close with
 * those unread would be a reset. So once the status is out the connection
 * stays, read and discarded by the loop, until the host's end or a minute.
 */
static void relay_after_exit(struct relay *r) {
  relay_close(&r->in_w);
  while (r->conn >= 0) {
    if (r->out_len > 0) {
      ssize_t n = send(r->conn, r->out + r->out_off, r->out_len - r->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        r->out_off += (size_t)n;
        if (r->out_off == r->out_len) r->out_len = r->out_off = 0;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      relay_drop(r);
      return;
    }
    if (r->status_queued) {
      r->closing = 1;
      r->closing_deadline = now_ms() + 60000;
      relay_release(r);
      return;
    }
    int *fd = r->out_r >= 0 ? &r->out_r : r->err_r >= 0 ? &r->err_r : NULL;
    if (fd != NULL) {
      if (r->window < RELAY_WINDOW / 2) return;
      size_t room = r->window - 5 < RELAY_BUF ? r->window - 5 : RELAY_BUF;
      ssize_t n = read(*fd, r->out + 5, room);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        relay_close(fd); /* its end, or nothing more now */
        continue;
      }
      r->out[0] = fd == &r->out_r ? '1' : '2';
      put_be32((unsigned char *)r->out + 1, (uint32_t)n);
      r->out_len = 5 + (size_t)n;
      r->out_off = 0;
      r->window -= (uint32_t)r->out_len;
      continue;
    }
    if (r->window < 9) return;
    r->out[0] = 'x';
    put_be32((unsigned char *)r->out + 1, 4);
    put_be32((unsigned char *)r->out + 5, (uint32_t)r->status);
    r->out_len = 9;
    r->out_off = 0;
    r->window -= 9;
    r->status_queued = 1;
  }
}

/* Whether pid was a relayed command (its status is sent by relay_after_exit). */
static int relay_reaped(pid_t pid, int status) {
  for (int i = 0; i < MAX_RELAYS; i++)
    if (relays[i].pid == pid && !relays[i].exited) {
      relays[i].exited = 1;
      relays[i].status = status;
      relays[i].exited_deadline = now_ms() + EXITED_MS;
      relay_after_exit(&relays[i]);
      return 1;
    }
  return 0;
}

/* Roles of a relay's poll entries. */
enum { R_CONN_IN, R_CONN_OUT, R_IN_W, R_OUT_R, R_ERR_R };

static void relay_poll(struct pollfd *fds, nfds_t *nfds, int *who, int *role) {
  for (int i = 0; i < MAX_RELAYS; i++) {
    struct relay *r = &relays[i];
    if (r->closing && now_ms() > r->closing_deadline) {
      relay_close(&r->conn);
      r->closing = 0;
    }
    if (r->closing) {
      who[*nfds] = i;
      role[*nfds] = R_CONN_IN;
      fds[(*nfds)++] = (struct pollfd){r->conn, POLLIN, 0};
      continue;
    }
    if (r->pid == 0 || r->conn < 0) continue;
    if (r->exited && now_ms() > r->exited_deadline) {
      relay_drop(r); /* the host took nothing for a minute */
      continue;
    }
    short conn_ev = POLLIN;
    if (r->out_len > 0) conn_ev |= POLLOUT;
    who[*nfds] = i;
    role[*nfds] = R_CONN_IN;
    fds[(*nfds)++] = (struct pollfd){r->conn, conn_ev, 0};
    if (r->in_len > 0 && r->in_w >= 0) {
      who[*nfds] = i;
      role[*nfds] = R_IN_W;
      fds[(*nfds)++] = (struct pollfd){r->in_w, POLLOUT, 0};
    }
    if (!r->exited && r->out_len == 0 && r->window >= RELAY_WINDOW / 2) {
      if (r->out_r >= 0) {
        who[*nfds] = i;
        role[*nfds] = R_OUT_R;
        fds[(*nfds)++] = (struct pollfd){r->out_r, POLLIN, 0};
      }
      if (r->err_r >= 0) {
        who[*nfds] = i;
        role[*nfds] = R_ERR_R;
        fds[(*nfds)++] = (struct pollfd){r->err_r, POLLIN, 0};
      }
    }
  }
}

/* Room for `more` stdin bytes after what is queued; 0 when the queue would pass RELAY_STDIN_MAX. */
static int relay_in_room(struct relay *r, size_t more) {
  if (r->in_off > 0) {
    memmove(r->in, r->in + r->in_off, r->in_len - r->in_off);
    r->in_len -= r->in_off;
    r->in_off = 0;
  }
  if (r->in_len + more <= r->in_cap) return 1;
  size_t cap = r->in_cap < RELAY_BUF ? RELAY_BUF : r->in_cap;
  while (cap < r->in_len + more) cap *= 2;
  if (cap > RELAY_STDIN_MAX) return 0;
  /* Not realloc: stdin may be a secret's value (the node writes secrets this way), and no copy is left behind. */
  char *grown = malloc(cap);
  if (grown == NULL) return 0;
  if (r->in != NULL) {
    memcpy(grown, r->in, r->in_len);
    explicit_bzero(r->in, r->in_cap);
    free(r->in);
  }
  r->in = grown;
  r->in_cap = cap;
  return 1;
}

/* Reads what the host has sent; 0 when the connection must be dropped. */
static int relay_read_conn(struct relay *r) {
  for (;;) {
    if (r->body_rem > 0) {
      size_t want = r->body_rem < RELAY_BUF ? r->body_rem : RELAY_BUF;
      char sink[512];
      char *to = sink;
      if (r->in_w >= 0) {
        if (!relay_in_room(r, want)) return 0;
        to = r->in + r->in_len;
      } else if (want > sizeof sink) {
        want = sizeof sink; /* the command closed its stdin: dropped */
      }
      ssize_t n = read(r->conn, to, want);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 1;
      if (n <= 0) return 0;
      r->body_rem -= (uint32_t)n;
      if (r->in_w >= 0) r->in_len += (size_t)n;
      continue;
    }
    /* An 'a' frame is read whole (9 bytes), any other header as 5. */
    size_t need = r->hdr_got > 0 && r->hdr[0] == 'a' ? 9 : 5;
    ssize_t n = read(r->conn, r->hdr + r->hdr_got, need - r->hdr_got);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 1;
    if (n <= 0) return 0;
    r->hdr_got += (size_t)n;
    if (r->hdr_got < 5 || r->hdr_got < (r->hdr[0] == 'a' ? 9u : 5u)) continue;
    r->hdr_got = 0;
    uint32_t len = get_be32(r->hdr + 1);
    switch (r->hdr[0]) {
      case 'a':
        if (len != 4) return 0;
        r->window += get_be32(r->hdr + 5);
        if (r->window > RELAY_WINDOW) return 0; /* more acknowledged than was sent */
        break;
      case 'i':
        r->body_rem = len;
        break;
      case 'e':
        if (len != 0) return 0;
        r->in_eof = 1;
        if (r->in_len == r->in_off) relay_close(&r->in_w);
        break;
      case 'k':
        if (len != 0) return 0;
        if (r->pid > 0 && !r->exited) kill(-r->pid, SIGKILL);
        break;
      default:
        return 0;
    }
  }
  return 1;
}

static void relay_events(struct pollfd *fds, nfds_t from, nfds_t nfds, const int *who, const int *role) {
  for (nfds_t k = from; k < nfds; k++) {
    if (!fds[k].revents) continue;
    struct relay *r = &relays[who[k]];
    if (r->closing) {
      char sink[512];
      ssize_t n = recv(r->conn, sink, sizeof sink, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        relay_close(&r->conn);
        r->closing = 0;
      }
      continue;
    }
    if (r->pid == 0 || r->conn < 0) continue;
    switch (role[k]) {
      case R_CONN_IN:
      case R_CONN_OUT:
        if ((fds[k].revents & POLLOUT) && r->out_len > 0) {
          ssize_t n = send(r->conn, r->out + r->out_off, r->out_len - r->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
          if (n > 0) {
            r->out_off += (size_t)n;
            if (r->out_off == r->out_len) r->out_len = r->out_off = 0;
          } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            relay_drop(r);
            break;
          }
        }
        if (r->conn < 0) break;
        if ((fds[k].revents & POLLERR) || ((fds[k].revents & (POLLIN | POLLHUP)) && !relay_read_conn(r)))
          relay_drop(r);
        else if (r->exited)
          relay_after_exit(r);
        break;
      case R_IN_W: {
        ssize_t n = write(r->in_w, r->in + r->in_off, r->in_len - r->in_off);
        if (n > 0) {
          r->in_off += (size_t)n;
          if (r->in_off == r->in_len) {
            r->in_len = r->in_off = 0;
            if (r->in_eof) relay_close(&r->in_w);
          }
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          /* The command closed its stdin: what the host sends next is dropped. */
          relay_close(&r->in_w);
          r->in_len = r->in_off = 0;
        }
        break;
      }
      case R_OUT_R:
      case R_ERR_R: {
        if (r->out_len > 0 || r->window < RELAY_WINDOW / 2) break;
        int *fd = role[k] == R_OUT_R ? &r->out_r : &r->err_r;
        if (*fd < 0) break;
        size_t room = r->window - 5 < RELAY_BUF ? r->window - 5 : RELAY_BUF;
        ssize_t n = read(*fd, r->out + 5, room);
        if (n > 0) {
          r->out[0] = role[k] == R_OUT_R ? '1' : '2';
          put_be32((unsigned char *)r->out + 1, (uint32_t)n);
          r->out_len = 5 + (size_t)n;
          r->out_off = 0;
          r->window -= (uint32_t)r->out_len;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          relay_close(fd);
        }
        break;
      }
    }
  }
}

/* A connection on the exec port: its request is read as it arrives (pending_read). When all
 * slots are taken the oldest connection goes (a process in the box holding connections open
 * cannot keep the host out). */
static void port_accept(int conn) {
  struct pending *slot = NULL;
  for (int i = 0; i < MAX_PENDING; i++) {
    struct pending *p = &pendings[i];
    if (p->conn < 0) {
      slot = p;
      break;
    }
    if (slot == NULL || p->deadline < slot->deadline) slot = p;
  }
  pending_free(slot);
  slot->conn = conn;
  slot->deadline = now_ms() + REQUEST_MS;
}

/* Reads what has come of a pending request; a whole one (token checked) starts its command. */
static void pending_read(struct pending *p) {
  size_t head_len = 4 + exec_token_len + 4;
  for (;;) {
    if (p->head_got < head_len) {
      ssize_t n = recv(p->conn, p->head + p->head_got, head_len - p->head_got, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      if (n <= 0) {
        pending_free(p);
        return;
      }
      p->head_got += (size_t)n;
      if (p->head_got < head_len) continue;
      unsigned char diff = 0;
      for (size_t i = 0; i < exec_token_len; i++) diff |= (unsigned char)(p->head[4 + i] ^ (unsigned char)exec_token[i]);
      uint32_t len = get_be32(p->head + 4 + exec_token_len);
      if (memcmp(p->head, "BXE1", 4) != 0 || diff != 0 || len < 2 || len > MAX_REQUEST ||
          (p->body = malloc(len)) == NULL) {
        pending_free(p);
        return;
      }
      p->body_len = len;
      continue;
    }
    /* Exactly the request: the frames behind it stay in the socket for the relay. */
    ssize_t n = recv(p->conn, p->body + p->body_got, p->body_len - p->body_got, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      pending_free(p);
      return;
    }
    p->body_got += (uint32_t)n;
    if (p->body_got < p->body_len) continue;
    int conn = p->conn;
    p->conn = -1;
    start_request(conn, p->body, p->body_len);
    pending_free(p);
    return;
  }
}

/* The exec port's listener, when the driver gave a token; -1 without. */
static int exec_port_listen(void) {
  const char *t = getenv("BOXYARD_EXEC_TOKEN");
  if (t == NULL) return -1;
  size_t n = strlen(t);
  if (n >= 32 && n < sizeof exec_token) {
    memcpy(exec_token, t, n);
    exec_token_len = n;
  }
  /* Wiped where /proc/1/environ reads it, then dropped. */
  explicit_bzero((char *)t, n);
  unsetenv("BOXYARD_EXEC_TOKEN");
  if (exec_token_len == 0) return -1;
  for (int i = 0; i < MAX_PENDING; i++) pendings[i].conn = -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(EXEC_PORT);
  /* Every address: loopback for runsc's port-forward, the box's own for the host's direct
   * connection. Only the token lets a connection ask for anything. */
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int run_init(void) {
  int fd = open("/dev/null", O_RDWR);
  if (fd >= 0) {
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2) close(fd);
  }
  signal(SIGPIPE, SIG_IGN);
  /* Real handlers are needed: signals whose action is SIG_DFL are dropped for
   * a namespace's init even while blocked. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGCHLD, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr;
  socklen_t alen = init_addr(&addr);
  if (lfd >= 0 && (bind(lfd, (struct sockaddr *)&addr, alen) < 0 || listen(lfd, 128) < 0)) {
    close(lfd);
    lfd = -1;
  }
  int pfd = exec_port_listen();
  static struct pollfd fds[3 + MAX_JOBS + 4 * MAX_RELAYS + MAX_PENDING];
  static int fd_job[3 + MAX_JOBS + 4 * MAX_RELAYS + MAX_PENDING];
  static int fd_role[3 + MAX_JOBS + 4 * MAX_RELAYS + MAX_PENDING];
  for (;;) {
    oom_guard();
    int64_t wait = guard.next_ms - now_ms();
    fds[0] = (struct pollfd){sfd, POLLIN, 0};
    fds[1] = (struct pollfd){lfd, POLLIN, 0};
    fds[2] = (struct pollfd){pfd, POLLIN, 0};
    nfds_t nfds = 3;
    /* A sudo job's requester passes signals on as one byte each. */
    for (int i = 0; i < MAX_JOBS; i++)
      if (jobs[i].pid > 0 && jobs[i].as_root && jobs[i].conn >= 0) {
        fd_job[nfds] = i;
        fds[nfds++] = (struct pollfd){jobs[i].conn, POLLIN, 0};
      }
    nfds_t relays_from = nfds;
    relay_poll(fds, &nfds, fd_job, fd_role);
    nfds_t pending_from = nfds;
    int64_t now = now_ms();
    for (int i = 0; i < MAX_PENDING; i++) {
      if (pendings[i].conn < 0) continue;
      if (now > pendings[i].deadline) {
        pending_free(&pendings[i]);
        continue;
      }
      fd_job[nfds] = i;
      fds[nfds++] = (struct pollfd){pendings[i].conn, POLLIN, 0};
    }
    if (poll(fds, nfds, wait < 0 ? 0 : (int)wait) <= 0) continue;
    relay_events(fds, relays_from, pending_from, fd_job, fd_role);
    for (nfds_t k = pending_from; k < nfds; k++)
      if (fds[k].revents && pendings[fd_job[k]].conn == fds[k].fd) pending_read(&pendings[fd_job[k]]);
    for (nfds_t k = 3; k < relays_from; k++) {
      if (!fds[k].revents) continue;
      int j = fd_job[k];
      unsigned char sig = 0;
      ssize_t r = read(jobs[j].conn, &sig, 1);
      if (r == 1) {
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT || sig == SIGUSR1 ||
            sig == SIGUSR2 || sig == SIGWINCH || sig == SIGKILL || sig == SIGCONT)
          kill(-jobs[j].pid, sig);
      } else if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
        /* The requester is gone (sudo killed): hang up on its command, as a
         * closing terminal would. */
        kill(-jobs[j].pid, SIGHUP);
        close(jobs[j].conn);
        jobs[j].conn = -1;
      }
    }
    if (fds[0].revents) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si) continue;
      int sig = (int)si.ssi_signo;
      if (sig == SIGCHLD) {
        reap();
      } else if (sig == SIGTERM || sig == SIGINT) {
        kill(-1, sig);
        /* Give the processes up to two seconds to exit, reaping as they go;
         * when PID 1 exits the sandbox kills whatever is left. */
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += 2;
        for (;;) {
          pid_t p = waitpid(-1, NULL, WNOHANG);
          if (p < 0 && errno == ECHILD) break;
          struct timespec now;
          clock_gettime(CLOCK_MONOTONIC, &now);
          if (now.tv_sec > deadline.tv_sec ||
              (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))
            break;
          if (p <= 0) {
            struct timespec tick = {0, 20 * 1000 * 1000};
            nanosleep(&tick, NULL);
          }
        }
        return 0;
      }
    }
    if (lfd >= 0 && fds[1].revents) {
      int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
      if (conn >= 0) serve_request(conn);
    }
    if (pfd >= 0 && fds[2].revents) {
      int conn = accept4(pfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (conn >= 0) port_accept(conn);
    }
  }
}

static volatile sig_atomic_t child_pgid = 0;
static int wake_pipe[2] = {-1, -1};

/* SIGTERM, SIGINT and SIGHUP are passed on to the command's process group;
 * SIGUSR1 means "end it all now" and becomes SIGKILL for the group (a signal
 * the host can send, since SIGKILL to this process could not be relayed). */
static void kill_group(int sig) {
  if (child_pgid > 0) kill(-child_pgid, sig == SIGUSR1 ? SIGKILL : sig);
}

static void on_child(int sig) {
  (void)sig;
  int saved = errno;
  if (write(wake_pipe[1], "c", 1) < 0) {
  }
  errno = saved;
}

/* Copies what is available from `from` to `to`; returns 0 at EOF, 1 otherwise. */
static int pump(int from, int to) {
  char buf[16384];
  for (;;) {
    ssize_t n = read(from, buf, sizeof buf);
    if (n == 0) return 0;
    if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 1 : 0;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(to, buf + off, (size_t)(n - off));
      if (w < 0) {
        if (errno == EINTR) continue;
        break; /* the host side went away: drop the output */
      }
      off += w;
    }
  }
}

/*
 * Asks PID 1 to start argv with the given stdio, in cwd with envp, as the
 * caller (mode "self") or as root (mode "root", for sudo); returns its pid,
 * -1 on failure, or PID 1's refusal (SUDO_NO_RULE, SUDO_PASSWORD).
 */
static pid_t spawn_via_init_ex(int conn, int child_fds[3], char **argv, const char *mode, const char *cwd_in,
                               char **envp, int *master_out);

static pid_t spawn_via_init(int conn, int child_fds[3], char **argv, const char *mode, const char *cwd_in,
                            char **envp) {
  return spawn_via_init_ex(conn, child_fds, argv, mode, cwd_in, envp, NULL);
}

/* The same; with mode "pty:ROWS:COLS" the terminal's master side comes back in *master_out. */
static pid_t spawn_via_init_ex(int conn, int child_fds[3], char **argv, const char *mode, const char *cwd_in,
                               char **envp, int *master_out) {
  int fds[4] = {child_fds[0], child_fds[1], child_fds[2], -1};
  fds[3] = memfd_create("boxyard-id", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fds[3] < 0) return -1;
  static char buf[MAX_REQUEST];
  size_t len = 0;
  char cwd[4096];
  if (cwd_in != NULL)
    snprintf(cwd, sizeof cwd, "%s", cwd_in);
  else if (getcwd(cwd, sizeof cwd) == NULL)
    strcpy(cwd, "/");
  int argc = 0;
  while (argv[argc] != NULL) argc++;
  char argcs[16];
  snprintf(argcs, sizeof argcs, "%d", argc);
#define ADD(str)                                      \
  do {                                                \
    size_t l_ = strlen(str) + 1;                      \
    if (len + l_ + 1 > sizeof buf) return -1;         \
    memcpy(buf + len, (str), l_);                     \
    len += l_;                                        \
  } while (0)
  ADD(mode);
  ADD(cwd);
  ADD(argcs);
  for (int i = 0; i < argc; i++) ADD(argv[i]);
  for (char **e = envp; *e != NULL; e++)
    if (**e != '\0') ADD(*e);
#undef ADD
  buf[len++] = '\0';
  char cbuf[CMSG_SPACE(sizeof(int) * 4)];
  memset(cbuf, 0, sizeof cbuf);
  struct iovec iov = {buf, len};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * 4);
  memcpy(CMSG_DATA(c), fds, sizeof(int) * 4);
  size_t sent = 0;
  while (sent < len) {
    ssize_t n = sent == 0 ? sendmsg(conn, &msg, MSG_NOSIGNAL) : send(conn, buf + sent, len - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      close(fds[3]);
      return -1;
    }
    sent += (size_t)n;
  }
  close(fds[3]);
  int32_t pid = -1;
  size_t got = 0;
  while (got < sizeof pid) {
    char rbuf[CMSG_SPACE(sizeof(int))];
    struct iovec riov = {(char *)&pid + got, sizeof pid - got};
    struct msghdr rm;
    memset(&rm, 0, sizeof rm);
    rm.msg_iov = &riov;
    rm.msg_iovlen = 1;
    rm.msg_control = rbuf;
    rm.msg_controllen = sizeof rbuf;
    ssize_t n = recvmsg(conn, &rm, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    for (struct cmsghdr *rc = CMSG_FIRSTHDR(&rm); rc != NULL; rc = CMSG_NXTHDR(&rm, rc)) {
      if (rc->cmsg_level != SOL_SOCKET || rc->cmsg_type != SCM_RIGHTS || rc->cmsg_len != CMSG_LEN(sizeof(int)))
        continue;
      int fd;
      memcpy(&fd, CMSG_DATA(rc), sizeof fd);
      if (master_out != NULL && *master_out < 0)
        *master_out = fd;
      else
        close(fd);
    }
    got += (size_t)n;
  }
  return pid > 0 ? pid : (pid == SUDO_NO_RULE || pid == SUDO_PASSWORD) ? pid : -1;
}

static pid_t spawn_local(int fds[3], char **argv) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  setpgid(0, 0);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  dup2(fds[0], 0);
  dup2(fds[1], 1);
  dup2(fds[2], 2);
  execvp(argv[0], argv);
  fprintf(stderr, "boxinit exec: %s: %s\n", argv[0], strerror(errno));
  _exit(errno == ENOENT ? 127 : 126);
}

/*
 * `exec` mode. The command does not get the host's stdio: it gets pipes
 * created inside the sandbox, and this process relays between them and the
 * host descriptors. So once the command exits (and this process with it) no
 * process in the box holds a host file descriptor, even if the command left
 * background processes behind: the host side sees EOF at once, and the box
 * can still be checkpointed (host descriptors held by box processes cannot
 * be restored). The command itself is started by PID 1 (see the top).
 */
static int run_exec(int argc, char **argv) {
  if (argc < 1) {
    fprintf(stderr, "boxinit exec: missing command\n");
    return 127;
  }
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
      pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
    perror("boxinit exec: pipe");
    return 126;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = kill_group;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = on_child;
  sa.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  int child_fds[3] = {in[0], out[1], err[1]};
  int conn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr;
  socklen_t alen = init_addr(&addr);
  pid_t pid = -1;
  if (conn >= 0 && connect(conn, (struct sockaddr *)&addr, alen) == 0) pid = spawn_via_init(conn, child_fds, argv, "self", NULL, environ);
  int via_init = pid > 0;
  if (!via_init) {
    if (conn >= 0) close(conn);
    conn = -1;
    pid = spawn_local(child_fds, argv);
    if (pid < 0) {
      perror("boxinit exec: fork");
      return 126;
    }
    setpgid(pid, pid);
  }
  child_pgid = pid;
  close(in[0]);
  close(out[1]);
  close(err[1]);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  int stdin_open = 1, out_open = 1, err_open = 1;
  char inbuf[16384];
  size_t in_len = 0, in_off = 0;
  int status = -1;
  int32_t st_buf = 0;
  size_t st_got = 0;
  for (;;) {
    if (!via_init) {
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        status = st;
        break;
      }
    }
    struct pollfd fds[5];
    int n = 0;
    fds[n++] = (struct pollfd){via_init ? conn : wake_pipe[0], POLLIN, 0};
    int out_i = -1, err_i = -1, in_i = -1;
    if (out_open) {
      out_i = n;
      fds[n++] = (struct pollfd){out[0], POLLIN, 0};
    }
    if (err_open) {
      err_i = n;
      fds[n++] = (struct pollfd){err[0], POLLIN, 0};
    }
    if (stdin_open && in_len == 0) {
      in_i = n;
      fds[n++] = (struct pollfd){0, POLLIN, 0};
    } else if (in_len > 0) {
      in_i = n;
      fds[n++] = (struct pollfd){in[1], POLLOUT, 0};
    }
    if (poll(fds, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents) {
      if (via_init) {
        ssize_t r = read(conn, (char *)&st_buf + st_got, sizeof st_buf - st_got);
        if (r > 0) st_got += (size_t)r;
        if (st_got == sizeof st_buf) {
          status = st_buf;
          break;
        }
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) break; /* init went away */
      } else {
        char drain[64];
        while (read(wake_pipe[0], drain, sizeof drain) > 0) {
        }
      }
    }
    if (out_i >= 0 && fds[out_i].revents) out_open = pump(out[0], 1);
    if (err_i >= 0 && fds[err_i].revents) err_open = pump(err[0], 2);
    if (in_i >= 0 && fds[in_i].revents) {
      if (in_len == 0) {
        ssize_t got = read(0, inbuf, sizeof inbuf);
        if (got <= 0 && !(got < 0 && (errno == EINTR || errno == EAGAIN))) {
          stdin_open = 0;
          close(in[1]);
        } else if (got > 0) {
          in_len = (size_t)got;
          in_off = 0;
        }
      }
      if (in_len > 0) {
        ssize_t w = write(in[1], inbuf + in_off, in_len - in_off);
        if (w > 0) {
          in_off += (size_t)w;
          if (in_off == in_len) in_len = 0;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
          in_len = 0;
          stdin_open = 0;
          close(in[1]);
        }
      }
    }
  }
  /* The command has exited: pass on what it wrote, without waiting for
   * background processes that may still hold the pipes. */
  if (out_open) pump(out[0], 1);
  if (err_open) pump(err[0], 2);
  if (status < 0) return 126;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 126;
}

/* Writes all of buf to fd (blocking); -1 when fd is gone. */
static int write_all(int fd, const char *buf, size_t len) {
  for (size_t off = 0; off < len;) {
    ssize_t w = write(fd, buf + off, len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd p = {fd, POLLOUT, 0};
        poll(&p, 1, 100);
        continue;
      }
      return -1;
    }
    off += (size_t)w;
  }
  return 0;
}

/*
 * `pty` mode (see the top). stdin carries frames of one type byte, a 4-byte
 * big-endian length and the payload: 'd' is input for the terminal, 'w' a
 * window size (rows, cols: big-endian 16-bit each). stdout gets what the
 * terminal shows. The exit status is the command's, as for exec.
 */
static int run_pty(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[2], "--") == 0) {
    argv[2] = argv[1];
    argv[1] = argv[0];
    argv++;
    argc--;
  }
  unsigned rows = 0, cols = 0;
  if (argc < 3 || sscanf(argv[0], "%u", &rows) != 1 || sscanf(argv[1], "%u", &cols) != 1) {
    fprintf(stderr, "boxinit pty: usage: boxinit pty ROWS COLS CMD...\n");
    return 127;
  }
  char mode[64];
  snprintf(mode, sizeof mode, "pty:%u:%u", rows, cols);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = kill_group;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  int conn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr;
  socklen_t alen = init_addr(&addr);
  int master = -1;
  int stdio[3] = {0, 1, 2};
  pid_t pid = -1;
  if (conn >= 0 && connect(conn, (struct sockaddr *)&addr, alen) == 0)
    pid = spawn_via_init_ex(conn, stdio, argv + 2, mode, NULL, environ, &master);
  if (pid <= 0 || master < 0) {
    fprintf(stderr, "boxinit pty: the box's init could not start a terminal session\n");
    return 126;
  }
  child_pgid = pid;
  fcntl(master, F_SETFL, O_NONBLOCK);
  static char in[65536 + 5];
  size_t in_len = 0;
  static char pending[65536];
  size_t pend_len = 0, pend_off = 0;
  int stdin_open = 1, master_open = 1;
  int32_t st_buf = 0;
  size_t st_got = 0;
  int status = -1;
  int64_t drain_until = 0;
  while (status < 0 || master_open) {
    struct pollfd fds[3];
    nfds_t n = 0;
    int c_i = -1, m_i = -1, i_i = -1;
    if (status < 0) {
      c_i = (int)n;
      fds[n++] = (struct pollfd){conn, POLLIN, 0};
    }
    if (master_open) {
      m_i = (int)n;
      fds[n++] = (struct pollfd){master, (short)(POLLIN | (pend_len > pend_off ? POLLOUT : 0)), 0};
    }
    if (stdin_open && pend_len == pend_off) {
      i_i = (int)n;
      fds[n++] = (struct pollfd){0, POLLIN, 0};
    }
    /* After the command's status only what it already wrote is left to pass
     * on: until the terminal is quiet for 100 ms (background jobs that keep
     * writing get at most two seconds). */
    if (status >= 0 && now_ms() > drain_until) break;
    int r = poll(fds, n, status >= 0 ? 100 : -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (r == 0) break;
    if (c_i >= 0 && fds[c_i].revents) {
      ssize_t k = read(conn, (char *)&st_buf + st_got, sizeof st_buf - st_got);
      if (k > 0) st_got += (size_t)k;
      if (st_got == sizeof st_buf) status = st_buf;
      else if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN)) status = 0x100 * 126; /* init went away */
      if (status >= 0) drain_until = now_ms() + 2000;
    }
    if (m_i >= 0 && (fds[m_i].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[16384];
      ssize_t k = read(master, buf, sizeof buf);
      if (k > 0) {
        if (write_all(1, buf, (size_t)k) < 0) master_open = 0;
      } else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
        master_open = 0; /* EIO: every holder of the terminal's slave side has gone */
      }
    }
    if (m_i >= 0 && master_open && (fds[m_i].revents & POLLOUT) && pend_len > pend_off) {
      ssize_t w = write(master, pending + pend_off, pend_len - pend_off);
      if (w > 0) pend_off += (size_t)w;
      if (pend_off == pend_len) pend_off = pend_len = 0;
    }
    if (i_i >= 0 && fds[i_i].revents) {
      ssize_t k = read(0, in + in_len, sizeof in - in_len);
      if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN)) {
        stdin_open = 0; /* the host stopped sending; the session goes on until the command ends */
      } else if (k > 0) {
        in_len += (size_t)k;
        /* Whole frames out of the buffer. */
        size_t off = 0;
        while (in_len - off >= 5) {
          unsigned char *h = (unsigned char *)in + off;
          uint32_t flen = ((uint32_t)h[1] << 24) | ((uint32_t)h[2] << 16) | ((uint32_t)h[3] << 8) | h[4];
          if (flen > 65536) {
            fprintf(stderr, "boxinit pty: bad frame\n");
            stdin_open = 0;
            in_len = off = 0;
            break;
          }
          if (in_len - off < 5 + flen) break;
          if (h[0] == 'd' && flen > 0) {
            if (pend_len + flen > sizeof pending) {
              /* Only when the terminal stalls with a full buffer: wait for room. */
              if (write_all(master, pending + pend_off, pend_len - pend_off) < 0) master_open = 0;
              pend_off = pend_len = 0;
            }
            memcpy(pending + pend_len, h + 5, flen);
            pend_len += flen;
          } else if (h[0] == 'w' && flen == 4) {
            struct winsize ws = {(unsigned short)((h[5] << 8) | h[6]), (unsigned short)((h[7] << 8) | h[8]), 0, 0};
            if (ws.ws_row > 0 && ws.ws_col > 0) ioctl(master, TIOCSWINSZ, &ws);
          }
          off += 5 + flen;
        }
        if (off > 0) {
          memmove(in, in + off, in_len - off);
          in_len -= off;
        }
      }
    }
  }
  close(master);
  if (status < 0) return 126;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 126;
}

static int sudo_conn = -1;

/* Passes a signal to the sudo command through PID 1 (one byte on the request's connection). */
static void sudo_forward(int sig) {
  unsigned char b = (unsigned char)sig;
  int saved = errno;
  if (sudo_conn >= 0 && send(sudo_conn, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
  }
  errno = saved;
}

static volatile sig_atomic_t sudo_winch = 0;
static void on_winch(int sig) {
  (void)sig;
  sudo_winch = 1;
}

/*
 * sudo on a terminal: the command runs on a terminal PID 1 opened for it
 * (its controlling terminal: job control, line editing, ^C as SIGINT from
 * its own line discipline), whose master side is `master`. This process
 * puts the caller's terminal in raw mode, gives the new one the caller's
 * modes and size (and every later size, on SIGWINCH), and copies keys in
 * and output out until PID 1 reports the command's status on `conn`.
 * Returns that status as an exit code.
 */
static int sudo_relay(int conn, int master) {
  struct termios saved, raw;
  int have_modes = tcgetattr(0, &saved) == 0;
  if (have_modes) {
    tcsetattr(master, TCSANOW, &saved);
    raw = saved;
    cfmakeraw(&raw);
    tcsetattr(0, TCSADRAIN, &raw);
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_winch;
  sigaction(SIGWINCH, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  fcntl(master, F_SETFL, O_NONBLOCK);
  int32_t st_buf = 0;
  size_t st_got = 0;
  int status = -1, master_open = 1, stdin_open = 1;
  int64_t drain_until = 0;
  while (status < 0 || master_open) {
    if (sudo_winch) {
      sudo_winch = 0;
      struct winsize w;
      if (ioctl(0, TIOCGWINSZ, &w) == 0 && w.ws_row > 0 && w.ws_col > 0) ioctl(master, TIOCSWINSZ, &w);
    }
    /* After the status, pass on only what the terminal still has (as run_pty). */
    if (status >= 0 && now_ms() > drain_until) break;
    struct pollfd fds[3];
    nfds_t n = 0;
    int c_i = -1, m_i = -1, i_i = -1;
    if (status < 0) {
      c_i = (int)n;
      fds[n++] = (struct pollfd){conn, POLLIN, 0};
    }
    if (master_open) {
      m_i = (int)n;
      fds[n++] = (struct pollfd){master, POLLIN, 0};
    }
    if (stdin_open && master_open) {
      i_i = (int)n;
      fds[n++] = (struct pollfd){0, POLLIN, 0};
    }
    int r = poll(fds, n, status >= 0 ? 100 : -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (r == 0) break;
    if (c_i >= 0 && fds[c_i].revents) {
      ssize_t k = read(conn, (char *)&st_buf + st_got, sizeof st_buf - st_got);
      if (k > 0) st_got += (size_t)k;
      if (st_got == sizeof st_buf)
        status = st_buf;
      else if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN))
        status = 0x100 * 126; /* init went away */
      if (status >= 0) drain_until = now_ms() + 2000;
    }
    if (m_i >= 0 && (fds[m_i].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[16384];
      ssize_t k = read(master, buf, sizeof buf);
      if (k > 0) {
        if (write_all(1, buf, (size_t)k) < 0) master_open = 0;
      } else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
        master_open = 0; /* EIO: the command and everything it left on the terminal are gone */
      }
    }
    if (i_i >= 0 && fds[i_i].revents) {
      char buf[4096];
      ssize_t k = read(0, buf, sizeof buf);
      if (k > 0) {
        if (write_all(master, buf, (size_t)k) < 0) master_open = 0;
      } else if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
        stdin_open = 0;
      }
    }
  }
  if (have_modes) tcsetattr(0, TCSADRAIN, &saved);
  close(master);
  if (status < 0) return 126;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 126;
}

static int sudo_usage(FILE *to, int status) {
  fprintf(to,
          "usage: sudo [-EHnS] [-u root] COMMAND [ARG...]\n"
          "       sudo -i | -s [COMMAND [ARG...]]\n"
          "       sudo -l | -v | -k | -V | -h\n"
          "Runs COMMAND as root in this Boxyard box, as /etc/sudoers and /etc/sudoers.d allow\n"
          "without a password (NOPASSWD rules). Only root can be the target user.\n");
  return status;
}

/* Appends "key=value" to env (capacity cap), replacing an earlier entry with the same key. */
static void env_set(char **env, int *n, int cap, const char *key, const char *value) {
  size_t kl = strlen(key);
  char *entry = malloc(kl + strlen(value) + 2);
  if (entry == NULL) return;
  sprintf(entry, "%s=%s", key, value);
  for (int i = 0; i < *n; i++)
    if (strncmp(env[i], key, kl) == 0 && env[i][kl] == '=') {
      env[i] = entry;
      return;
    }
  if (*n < cap - 1) env[(*n)++] = entry;
  env[*n] = NULL;
}

/* `sudo`: see the top of this file. */
static int run_sudo(int argc, char **argv) {
  int keep_env = 0, login = 0, shell = 0, list = 0, validate = 0, forget = 0;
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (a[0] != '-' || a[1] == '\0') break;
    if (a[1] == '-') {
      if (strcmp(a, "--preserve-env") == 0) keep_env = 1;
      else if (strcmp(a, "--login") == 0) login = 1;
      else if (strcmp(a, "--shell") == 0) shell = 1;
      else if (strcmp(a, "--list") == 0) list = 1;
      else if (strcmp(a, "--validate") == 0) validate = 1;
      else if (strcmp(a, "--reset-timestamp") == 0 || strcmp(a, "--remove-timestamp") == 0) forget = 1;
      else if (strcmp(a, "--non-interactive") == 0 || strcmp(a, "--set-home") == 0 || strcmp(a, "--stdin") == 0) {
      } else if (strcmp(a, "--help") == 0) return sudo_usage(stdout, 0);
      else if (strcmp(a, "--version") == 0) {
        printf("Sudo version 1.9 (Boxyard: runs commands as root through the box's init)\n");
        return 0;
      } else if (strncmp(a, "--user=", 7) == 0) {
        if (strcmp(a + 7, "root") != 0 && strcmp(a + 7, "#0") != 0) {
          fprintf(stderr, "sudo: only root can be the target user in a Boxyard box (not %s)\n", a + 7);
          return 1;
        }
      } else {
        fprintf(stderr, "sudo: unknown option %s\n", a);
        return sudo_usage(stderr, 1);
      }
      continue;
    }
    for (const char *p = a + 1; *p != '\0'; p++) {
      switch (*p) {
        case 'E': keep_env = 1; break;
        case 'i': login = 1; break;
        case 's': shell = 1; break;
        case 'l': list = 1; break;
        case 'v': validate = 1; break;
        case 'k': case 'K': forget = 1; break;
        case 'n': case 'H': case 'S': case 'b': break;
        case 'h': return sudo_usage(stdout, 0);
        case 'V':
          printf("Sudo version 1.9 (Boxyard: runs commands as root through the box's init)\n");
          return 0;
        case 'u': {
          const char *user = p[1] != '\0' ? p + 1 : (i + 1 < argc ? argv[++i] : NULL);
          if (user == NULL) {
            fprintf(stderr, "sudo: option requires an argument -- 'u'\n");
            return sudo_usage(stderr, 1);
          }
          if (strcmp(user, "root") != 0 && strcmp(user, "#0") != 0) {
            fprintf(stderr, "sudo: only root can be the target user in a Boxyard box (not %s)\n", user);
            return 1;
          }
          if (p[1] != '\0') p += strlen(p) - 1; /* the rest of this argument was the user */
          break;
        }
        default:
          fprintf(stderr, "sudo: invalid option -- '%c'\n", *p);
          return sudo_usage(stderr, 1);
      }
    }
  }
  char **cmd = argv + i;
  int ncmd = argc - i;
  if (forget && ncmd == 0 && !login && !shell && !list && !validate) return 0;
  char caller[256] = "unknown", root_home[512] = "/root", root_shell[512] = "/bin/sh";
  passwd_by_uid(getuid(), caller, sizeof caller, NULL, 0, NULL, 0);
  passwd_by_uid(0, (char[256]){0}, 256, root_home, sizeof root_home, root_shell, sizeof root_shell);
  static char *run[4100];
  int nrun = 0;
  static char joined[65536];
  size_t jl = 0;
  for (int k = 0; k < ncmd && jl < sizeof joined - 2; k++)
    jl += (size_t)snprintf(joined + jl, sizeof joined - jl, "%s%s", k ? " " : "", cmd[k]);
  if (list || validate) {
    run[nrun++] = "true";
  } else if (login || shell) {
    const char *sh = shell && !login && getenv("SHELL") ? getenv("SHELL") : root_shell;
    run[nrun++] = (char *)sh;
    if (login) run[nrun++] = "-l";
    if (ncmd > 0) {
      run[nrun++] = "-c";
      run[nrun++] = joined;
    }
  } else if (ncmd == 0) {
    return sudo_usage(stderr, 1);
  } else {
    if (ncmd > 4000) {
      fprintf(stderr, "sudo: too many arguments\n");
      return 1;
    }
    for (int k = 0; k < ncmd; k++) run[nrun++] = cmd[k];
  }
  run[nrun] = NULL;
  /* The environment: sudo's env_reset (a few variables kept, HOME and the
   * like set for root), or the caller's with -E; the SUDO_* variables always. */
  static char *env[4096];
  int nenv = 0;
  env[0] = NULL;
  if (keep_env) {
    for (char **e = environ; *e != NULL && nenv < 4000; e++) env[nenv++] = *e;
    env[nenv] = NULL;
  } else {
    static const char *keep[] = {"TERM", "COLORTERM", "LANG", "LANGUAGE", "DISPLAY", "TZ", NULL};
    for (char **e = environ; *e != NULL && nenv < 4000; e++) {
      int ok = strncmp(*e, "LC_", 3) == 0;
      for (int k = 0; keep[k] != NULL && !ok; k++)
        ok = strncmp(*e, keep[k], strlen(keep[k])) == 0 && (*e)[strlen(keep[k])] == '=';
      if (ok) env[nenv++] = *e;
    }
    env[nenv] = NULL;
    env_set(env, &nenv, 4096, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    env_set(env, &nenv, 4096, "HOME", root_home);
    env_set(env, &nenv, 4096, "SHELL", root_shell);
    env_set(env, &nenv, 4096, "USER", "root");
    env_set(env, &nenv, 4096, "LOGNAME", "root");
  }
  char num[32];
  env_set(env, &nenv, 4096, "SUDO_USER", caller);
  snprintf(num, sizeof num, "%u", (unsigned)getuid());
  env_set(env, &nenv, 4096, "SUDO_UID", num);
  snprintf(num, sizeof num, "%u", (unsigned)getgid());
  env_set(env, &nenv, 4096, "SUDO_GID", num);
  env_set(env, &nenv, 4096, "SUDO_COMMAND", ncmd > 0 ? joined : run[0]);

  int conn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr;
  socklen_t alen = init_addr(&addr);
  if (conn < 0 || connect(conn, (struct sockaddr *)&addr, alen) != 0) {
    fprintf(stderr, "sudo: cannot reach the box's init (%s); is this a Boxyard box?\n", strerror(errno));
    return 1;
  }
  int stdio[3] = {0, 1, 2};
  /* On a terminal the command gets its own (see sudo_relay). */
  struct winsize ws;
  /* Only in the terminal's foreground (`sudo cmd &` keeps the caller's stdio:
   * a background process that changed the terminal's modes would be stopped). */
  int on_tty = isatty(0) && isatty(1) && tcgetpgrp(0) == getpgrp() && ioctl(0, TIOCGWINSZ, &ws) == 0 &&
               ws.ws_row > 0 && ws.ws_col > 0 && ws.ws_row <= 1000 && ws.ws_col <= 1000;
  char mode[64] = "root";
  if (on_tty) snprintf(mode, sizeof mode, "rootpty:%u:%u", ws.ws_row, ws.ws_col);
  int master = -1;
  pid_t pid = spawn_via_init_ex(conn, stdio, run, mode, login ? root_home : NULL, env, on_tty ? &master : NULL);
  if (pid == SUDO_PASSWORD) {
    fprintf(stderr,
            "sudo: a password is required: %s's sudoers rule has no NOPASSWD, and a Boxyard box has no "
            "passwords (add NOPASSWD to the rule in the template's image)\n",
            caller);
    return 1;
  }
  if (pid == SUDO_NO_RULE) {
    fprintf(stderr, "sudo: %s is not in the sudoers file (no NOPASSWD rule for %s in /etc/sudoers or /etc/sudoers.d)\n",
            caller, caller);
    return 1;
  }
  if (pid < 0 || (on_tty && master < 0)) {
    fprintf(stderr, "sudo: the box's init could not start the command\n");
    return 1;
  }
  if (list) {
    printf("User %s may run the following commands on this box:\n    (ALL : ALL) NOPASSWD: ALL\n", caller);
  }
  sudo_conn = conn;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = sudo_forward;
  int relayed[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
  for (size_t k = 0; k < sizeof relayed / sizeof relayed[0]; k++) sigaction(relayed[k], &sa, NULL);
  if (on_tty) return sudo_relay(conn, master);
  int32_t status = 0;
  size_t got = 0;
  while (got < sizeof status) {
    ssize_t n = read(conn, (char *)&status + got, sizeof status - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 126;
    got += (size_t)n;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 126;
}

static int run_login(void) {
  static char found[512] = "/bin/sh";
  char name[256];
  passwd_by_uid(getuid(), name, sizeof name, NULL, 0, found, sizeof found);
  const char *shell = found;
  const char *base = strrchr(shell, '/');
  base = base == NULL ? shell : base + 1;
  char argv0[520];
  snprintf(argv0, sizeof argv0, "-%s", base);
  execl(shell, argv0, (char *)NULL);
  fprintf(stderr, "boxinit login: %s: %s\n", shell, strerror(errno));
  return 127;
}

/* One blocking read from `from`, written whole to `to`; 0 at end of input, -1 on error. */
static int relay_pump(int from, int to) {
  char buf[32768];
  ssize_t n = read(from, buf, sizeof buf);
  if (n == 0) return 0;
  if (n < 0) return errno == EINTR || errno == EAGAIN ? 1 : -1;
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(to, buf + off, (size_t)(n - off));
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    off += w;
  }
  return 1;
}

static int run_relay(const char *port_arg) {
  char *end = NULL;
  long port = strtol(port_arg, &end, 10);
  if (end == port_arg || *end != '\0' || port < 1 || port > 65535) {
    fprintf(stderr, "boxinit relay: bad port '%s'\n", port_arg);
    return 2;
  }
  int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    perror("boxinit relay: socket");
    return 1;
  }
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0) {
    fprintf(stderr, "boxinit relay: connect to 127.0.0.1:%ld: %s\n", port, strerror(errno));
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  int in_open = 1, sock_open = 1;
  while (sock_open) {
    struct pollfd fds[2] = {{.fd = sock, .events = POLLIN}, {.fd = in_open ? 0 : -1, .events = POLLIN}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      int r = relay_pump(sock, 1);
      if (r <= 0) sock_open = 0;
    }
    if (in_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      int r = relay_pump(0, sock);
      if (r <= 0) {
        in_open = 0;
        shutdown(sock, SHUT_WR);
      }
    }
  }
  close(sock);
  return 0;
}

int main(int argc, char **argv) {
  const char *base = strrchr(argv[0], '/');
  base = base == NULL ? argv[0] : base + 1;
  if (strcmp(base, "sudo") == 0) return run_sudo(argc, argv);
  if (argc == 3 && strcmp(argv[1], "relay") == 0) return run_relay(argv[2]);
  if (argc >= 2 && (strcmp(argv[1], "exec") == 0 || strcmp(argv[1], "pty") == 0)) {
    if (getenv("BOXYARD_NO_SECRETS_ENV") == NULL) secrets_env();
    unsetenv("BOXYARD_NO_SECRETS_ENV");
  }
  if (argc >= 2 && strcmp(argv[1], "exec") == 0) {
    int skip = (argc >= 3 && strcmp(argv[2], "--") == 0) ? 3 : 2;
    return run_exec(argc - skip, argv + skip);
  }
  if (argc >= 2 && strcmp(argv[1], "login") == 0) return run_login();
  if (argc >= 2 && strcmp(argv[1], "pty") == 0) return run_pty(argc - 2, argv + 2);
  return run_init();
}
