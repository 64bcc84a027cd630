//go:build linux

package native

import (
	"os"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	backendtest.Cleanup()
	os.Exit(code)
}
