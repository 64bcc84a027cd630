//go:build !linux

package cli

import "github.com/spf13/cobra"

// platformRoles returns no hidden role: the native backend is Linux's.
func platformRoles(*Env) []*cobra.Command { return nil }
