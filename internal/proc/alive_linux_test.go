package proc

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestAlive(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Fatal("Alive(self) = false")
	}
	if !Alive(1) {
		t.Fatal("Alive(1) = false: EPERM must count as alive")
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Until Wait reaps it, the ended child is a zombie: not alive.
	deadline := time.Now().Add(5 * time.Second)
	for Alive(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("Alive of a zombie stayed true")
		}
		time.Sleep(5 * time.Millisecond)
	}
	pid := cmd.Process.Pid
	_ = cmd.Wait()
	if Alive(pid) {
		t.Fatal("Alive of a reaped process = true")
	}
	for _, pid := range []int{0, -1} {
		if Alive(pid) {
			t.Fatalf("Alive(%d) = true", pid)
		}
	}
}
