// Package landlock confines a native bottle's agent to writing its own
// folders, using the Linux Landlock LSM through go-landlock.
//
// The bottle's namespaces are the main boundary: the host root is mounted
// read-only and the secrets are hidden from the mount namespace. Landlock
// is the second lock on the same door. Once [Apply] has run, the calling
// process, all its threads and every process it starts:
//
//   - may read, list and execute anything they can see;
//   - may create, modify, rename and delete files only beneath
//     [Rules.Writable];
//   - may write, but not create or delete, [Rules.WritableFiles] and the
//     terminal and null-type devices a shell needs (see [Apply]);
//   - may not truncate, rename, link or remove anything else;
//   - from ABI 9, may connect to a Unix socket served from outside their
//     Landlock domain only beneath Rules.Writable, so a host daemon's
//     socket seen through the read-only root stays out of reach;
//   - may not mount, unmount or pivot_root anywhere, nor trace or read the
//     memory of a process outside their Landlock domain, such as the
//     bottle's init (Landlock denies those to every restricted process).
//
// Network and IPC are not restricted here. The bottle's network namespace
// holds only loopback, and its one way out is the sidecar's relay, so the
// namespace is the network boundary and Landlock's TCP port rules (ABI 4)
// would add nothing but breakage of local servers. Likewise the pid and
// net namespaces already keep signals and abstract Unix sockets inside
// the bottle, so Landlock's IPC scopes (ABI 6) are not used.
//
// Landlock cannot be undone: this package must never be used by a
// process that has work left to do outside the bottle. Call [Apply] in
// the exec helper, just before it execs the agent's command, and before
// installing a seccomp filter that might deny the landlock_* system calls.
package landlock
