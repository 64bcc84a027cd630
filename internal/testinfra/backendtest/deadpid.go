package backendtest

import "os/exec"

// DeadPID returns the pid of a process that has come and gone: an owner
// that no longer lives, for orphan tests.
func DeadPID() (int, error) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		return 0, err
	}
	return cmd.Process.Pid, nil
}
