// The capability set of processes in a box: the usual container set, all of
// it sandbox-virtual under gVisor, so `sudo`, `chown` and package installs
// work as on any dev machine. Raw sockets and admin capabilities stay out.
// Init holds the same set (not runsc's three defaults) because it starts the
// commands of `boxinit exec` and must be able to switch to the caller's uid
// and gid (see boxinit.c); a process that switches to uid 1000 drops them all.

export const execCapabilities = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_MKNOD",
  "CAP_AUDIT_WRITE",
  "CAP_SETFCAP",
];
