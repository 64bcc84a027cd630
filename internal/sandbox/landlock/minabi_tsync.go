//go:build landlocktsync

package landlock

// minABI is the lowest kernel ABI go-landlock enforces in a landlocktsync
// build: without libpsx it needs ABI 8's LANDLOCK_RESTRICT_SELF_TSYNC to
// reach every thread, and does nothing on older kernels.
const minABI = 8
