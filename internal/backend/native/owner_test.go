package native

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestOwnerAlive(t *testing.T) {
	if !ownerAlive(os.Getpid()) {
		t.Fatal("ownerAlive(self) = false")
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Until Wait reaps it, the ended child is a zombie: not alive.
	deadline := time.Now().Add(5 * time.Second)
	for ownerAlive(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("ownerAlive of a zombie stayed true")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = cmd.Wait()
	if ownerAlive(0) || ownerAlive(-1) {
		t.Fatal("ownerAlive of no pid = true")
	}
}
