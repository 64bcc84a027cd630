// Package seccomp builds and installs the system call filter that a native
// bottle's agent runs under.
//
// The helper that starts the agent calls [Install] just before it execs the
// agent's command, after the bottle's namespaces exist. The filter allows
// every system call by default and denies the ones that reach kernel surface
// a coding agent has no use for. A denied call returns an errno rather than
// killing the caller, so programs see an ordinary failure. [Rules] lists
// the rules, each with its reason; [Policy] is the same filter in the form
// the go-seccomp-bpf library assembles.
//
// Denied with EPERM:
//
//	mount table    mount umount2 pivot_root move_mount open_tree open_tree_attr
//	               fsopen fsconfig fsmount fspick mount_setattr chroot
//	namespaces     setns; unshare and clone with any CLONE_NEW* flag
//	other procs    ptrace process_vm_readv process_vm_writev kcmp pidfd_getfd
//	keyrings       keyctl add_key request_key (not namespaced)
//	kernel code    bpf perf_event_open kexec_load kexec_file_load init_module
//	               finit_module delete_module
//	host admin     reboot swapon swapoff syslog acct quotactl quotactl_fd
//	               settimeofday clock_settime adjtimex clock_adjtime
//	               sethostname setdomainname
//	file handles   open_by_handle_at name_to_handle_at
//	exploit aids   userfaultfd; personality other than PER_LINUX or a query
//	io_uring       io_uring_setup io_uring_enter io_uring_register
//	sockets        socket and socketpair outside AF_UNIX, AF_INET, AF_INET6
//	               and AF_NETLINK; netlink other than NETLINK_ROUTE; socket
//	               of AF_UNIX (socketpair stays allowed)
//	set-id files   chmod fchmod fchmodat fchmodat2 with S_ISUID or S_ISGID;
//	               open openat creat with O_CREAT or O_TMPFILE and either bit;
//	               mknod mknodat of a set-id file
//	device nodes   mknod mknodat of a block or character device (FIFOs and
//	               sockets stay allowed)
//
// Denied with ENOSYS: clone3, whose flags sit in memory the filter cannot
// read, and openat2, whose flags and mode do too. glibc then falls back to
// clone, and callers of openat2 to openat, whose arguments the filter reads.
//
// Set-id files and devices are denied wherever the agent writes, since the
// host sees the workspace: a set-user-ID file the agent made there would
// run with its owner's euid for any local user. mkdir needs no rule: the
// kernel drops both bits from its mode. File capabilities (the
// security.capability attribute) need CAP_SETFCAP, which the agent never
// holds; the escape suite checks it.
//
// A Unix socket reaches any host daemon whose pathname socket the bottle
// sees in the host folders it binds (a 0666 socket under /var/lib is
// anyone's), and an abstract one any listener of the bottle's network
// namespace; the relay to the sidecar runs in the init, outside the filter.
// Programs that talk over one (tmux, ssh-agent, gpg-agent, D-Bus, syslog)
// fail inside the bottle; pipes and socketpair, which shells and child
// stdio use, work.
//
// AF_NETLINK with NETLINK_ROUTE stays allowed: getifaddrs needs it, and
// without it Node's os.networkInterfaces throws (dev servers call it on
// start) and Python's socket.if_nameindex fails. glibc's getaddrinfo would
// cope, since AI_ADDRCONFIG assumes both IPv4 and IPv6 when netlink fails.
// Reading links and addresses needs no privilege; changing them needs
// CAP_NET_ADMIN over the bottle's network namespace, which the agent must not
// hold. Other netlink families (netfilter, xfrm, audit, sock_diag, uevent) are
// denied.
//
// Only amd64 and arm64 are supported. System calls made through another ABI
// of the same kernel (i386 int 0x80 on amd64, arm32 compat on arm64) kill the
// process: the library's own check sends them to the default action, which
// here is allow, so [Install] puts its own architecture check first. x32
// calls on amd64 get ENOSYS from the library.
//
// This package must never weaken a filter already in place: seccomp filters
// stack, and [Install] only adds one.
package seccomp
