package upstream

// SetTestHookBeforeClose sets what runs between a request's last write
// and the close of stdin, for the race tests; nil removes it.
func SetTestHookBeforeClose(f func()) { testHookBeforeClose = f }
